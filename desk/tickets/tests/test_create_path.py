"""Ticket creation reads little per ticket (cached rules and policies, one assignment query) and
still sees every change to its configuration at once, and assigns exactly as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from desk.accounts.models import AssignmentStrategy, Availability, Role, StaffProfile
from desk.accounts.services import issue_token, revoke_token
from desk.core.testing import make_staff, request_type
from desk.sla.models import BusinessCalendar, SlaPolicy
from desk.tickets import routing, services
from desk.tickets.models import RoutingRule, SlaState, Status, Ticket


@pytest.fixture
def routed(support_team):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return support_team


def _ticket(by, customer, **kw):
    kw.setdefault("subject", "耳机左耳没有声音")
    kw.setdefault("description", "收到的蓝牙耳机左耳没有声音")
    kw.setdefault("request_type", request_type())
    return services.create_ticket(by=by, customer=customer, **kw)


def _give_open_tickets(user, team, customer, n):
    now = timezone.now()
    Ticket.objects.bulk_create(
        Ticket(subject=f"t{i}", request_type=request_type(), customer=customer, team=team, assignee=user,
               status=Status.OPEN, created_at=now, updated_at=now)
        for i in range(n)
    )  # fmt: skip


def test_api_create_runs_few_statements(client, agent, routed, customer, django_assert_max_num_queries):
    _, key = issue_token(agent, "tests", by=agent)
    body = {"subject": "耳机坏了", "description": "左耳没声音", "customer_id": customer.pk,
            "request_type": "product_quality", "tags": ["耳机"]}  # fmt: skip
    post = lambda: client.post(  # noqa: E731
        "/api/tickets", body, content_type="application/json", headers={"Authorization": f"Bearer {key}"}
    )
    assert post().status_code == 201  # warms the caches (grants, request types, rules, policies)
    # token, customer, candidates, BEGIN, ticket, tags (read, insert, set: 3), message, events, targets, COMMIT
    with django_assert_max_num_queries(13):
        response = post()
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["tags"] == ["耳机"]
    assert out["assignee"]["username"] == "agent"
    assert out["sla_state"] == Ticket.objects.get(pk=out["id"]).sla_state == SlaState.OK


def test_create_answers_what_the_schema_renders(client, agent, routed, customer):
    """The create answer skips ninja's validation of the body; it must be what validating it gives."""
    from config.api import api
    from desk.tickets.schemas import TicketOut

    _, key = issue_token(agent, "tests", by=agent)
    body = {"subject": "耳机坏了", "description": "左耳没声音", "customer_id": customer.pk,
            "request_type": "product_quality", "tags": ["耳机", "退货"], "priority": 3}  # fmt: skip
    response = client.post(
        "/api/tickets", body, content_type="application/json", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 201, response.content
    out = response.json()
    assert (out["team"]["code"], out["assignee"]["username"], out["tags"]) == (routed.code, "agent", ["耳机", "退货"])
    assert out["sla_due_at"] is not None
    validated = TicketOut.model_validate(out).model_dump()
    assert list(out) == list(validated)  # the schema's fields, in its order
    assert response.content == api.create_response(None, validated, status=201).content  # type: ignore[arg-type]
    assert response["Content-Type"] == api.get_content_type()
    StaffProfile.objects.filter(user=agent).update(availability=Availability.AWAY)  # nobody to assign
    response = client.post(
        "/api/tickets", body | {"tags": []}, content_type="application/json", headers={"Authorization": f"Bearer {key}"}
    )
    validated = TicketOut.model_validate(response.json()).model_dump()
    assert (validated["assignee"], validated["tags"]) == (None, [])
    assert response.content == api.create_response(None, validated, status=201).content  # type: ignore[arg-type]


def test_least_open_counts_past_the_default_limit(routed, customer):
    """Caps above the count's first limit: counts stay exact up to the largest cap in the team."""
    busy = make_staff("busy", Role.AGENT, team=routed, max_open_tickets=200)
    busier = make_staff("busier", Role.AGENT, team=routed, max_open_tickets=200)
    _give_open_tickets(busy, routed, customer, routing.DEFAULT_CAP_LIMIT + 10)
    _give_open_tickets(busier, routed, customer, routing.DEFAULT_CAP_LIMIT + 20)
    assert _ticket(busy, customer).assignee == busy  # 60 < 70, both over the first limit of 50
    counts = {p.username: p.open_count for p in routing._candidates(routed)}
    assert counts == {"busy": routing.DEFAULT_CAP_LIMIT + 11, "busier": routing.DEFAULT_CAP_LIMIT + 20}


def test_members_at_their_cap_get_nothing(routed, customer):
    full = make_staff("full", Role.AGENT, team=routed, max_open_tickets=3)
    _give_open_tickets(full, routed, customer, 3)
    assert _ticket(full, customer).assignee is None
    StaffProfile.objects.filter(user=full).update(max_open_tickets=4)
    assert _ticket(full, customer).assignee == full


def test_skills_strategy_prefers_the_skilled_then_least_open(routed, customer):
    from desk.accounts.models import Skill

    routed.assignment_strategy = AssignmentStrategy.SKILLS
    routed.save()
    skill = Skill.objects.create(code="audio", name="Audio")
    kind = request_type()
    kind.required_skill = skill
    kind.save()
    make_staff("plain", Role.AGENT, team=routed)
    skilled = make_staff("skilled", Role.AGENT, team=routed)
    skilled.staff.skills.add(skill)
    _give_open_tickets(skilled, routed, customer, 5)
    assert _ticket(skilled, customer, request_type=kind).assignee == skilled


def test_round_robin_pointer_moves_in_the_database(routed, customer):
    routed.assignment_strategy = AssignmentStrategy.ROUND_ROBIN
    routed.save()
    a = make_staff("a1", Role.AGENT, team=routed)
    b = make_staff("b1", Role.AGENT, team=routed)
    assert _ticket(a, customer).assignee == a
    routed.refresh_from_db()
    assert routed.last_assigned_id == a.pk
    routed.__class__.objects.filter(pk=routed.pk).update(last_assigned=b)  # another worker's turn
    assert _ticket(a, customer).assignee == a  # after b comes a again, not b twice


def test_away_agent_gets_nothing_at_once(routed, customer):
    agent = make_staff("a1", Role.AGENT, team=routed)
    assert _ticket(agent, customer).assignee == agent
    StaffProfile.objects.filter(user=agent).update(availability=Availability.AWAY)  # no signal: not cached
    assert _ticket(agent, customer).assignee is None


def test_rule_and_team_changes_route_the_next_ticket(routed, other_team, customer):
    agent = make_staff("a1", Role.AGENT, team=routed)
    assert _ticket(agent, customer).team == routed
    RoutingRule.objects.create(name="耳机", position=10, keywords="耳机", team=other_team)
    assert _ticket(agent, customer).team == other_team
    other_team.assignment_strategy = AssignmentStrategy.MANUAL
    other_team.save()
    make_staff("o1", Role.AGENT, team=other_team)
    assert _ticket(agent, customer).assignee is None
    RoutingRule.objects.filter(name="耳机").delete()
    assert _ticket(agent, customer).team == routed


def test_a_new_sla_policy_applies_to_the_next_ticket(routed, customer):
    agent = make_staff("a1", Role.AGENT, team=routed)
    before = _ticket(agent, customer)
    calendar = BusinessCalendar.objects.get(name="7×24")
    SlaPolicy.objects.create(name="加急", position=0, calendar=calendar, first_response_minutes=5,
                             accept_minutes=None, human_minutes=None, solution_minutes=None)  # fmt: skip
    after = _ticket(agent, customer)
    target = after.sla_targets.get()
    assert (target.metric, target.target_seconds) == ("first_response", 300)
    assert after.sla_due_at == after.created_at + timedelta(minutes=5)
    assert before.sla_targets.count() > 1
    SlaPolicy.objects.filter(name="加急").update(active=False)  # no signal...
    SlaPolicy.objects.get(name="加急").save()  # ...until saved
    assert _ticket(agent, customer).sla_targets.count() > 1


def test_revoked_token_stops_at_once(client, agent, routed, customer):
    token, key = issue_token(agent, "tests", by=agent)
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/request-types", headers=headers).status_code == 200
    revoke_token(token, by=agent)
    assert client.get("/api/request-types", headers=headers).status_code == 401


def test_token_of_a_user_without_profile_is_refused_by_role(client, routed, customer, django_user_model):
    from desk.accounts.models import ApiToken

    admin = django_user_model.objects.create_superuser("root", "root@shop.example", "x-pass-123")
    key = "dsk_" + "k" * 40
    ApiToken.objects.create(user=admin, name="t", prefix=key[:12], key_hash=ApiToken.hash_key(key))
    response = client.get("/api/request-types", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200  # a superuser without staff profile acts as admin
