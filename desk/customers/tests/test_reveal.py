"""Revealing one customer's masked contact details, with a reason: the service, the API and the page fragment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from desk.accounts.models import Role, RoleGrant
from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event
from desk.core.testing import make_customer, make_staff, request_type
from desk.customers.errors import RevealLimitReached
from desk.customers.services import _reveals_left, reveal_contact
from desk.tickets import services as ticket_services
from desk.tickets.models import RoutingRule

URL = "/api/customers"
SCRIPT = "<script>alert(1)</script>"
REASON = "联系客户处理丢件"


def _reveals(verb: str = "customer.pii_revealed") -> list[Event]:
    return list(Event.objects.filter(verb=verb).order_by("id"))


def _reveal_url(customer) -> str:
    return reverse("customers:reveal", args=[customer.pk])


# --- The service ---------------------------------------------------------------------------------
def test_agent_reveals_and_the_event_names_fields_and_reason_but_never_the_values(agent, customer):
    revealed = reveal_contact(customer, by=agent, reason=f"  {REASON} ", fields=["address", "phone"])

    assert (revealed.phone, revealed.address, revealed.email) == (customer.phone, customer.address, None)
    assert revealed.remaining == 29
    [event] = _reveals()
    assert (event.actor_id, event.customer_id, event.subject_id) == (agent.pk, customer.pk, customer.pk)
    assert event.data == {"fields": ["phone", "address"], "reason": REASON}
    stored = str([event.before, event.after, event.data])
    assert customer.phone not in stored
    assert customer.address not in stored
    assert customer.email not in stored


def test_no_fields_named_reveals_all_three(agent, customer):
    revealed = reveal_contact(customer, by=agent, reason=REASON)
    assert (revealed.phone, revealed.email, revealed.address) == (customer.phone, customer.email, customer.address)
    assert _reveals()[0].data["fields"] == ["phone", "email", "address"]


@pytest.mark.parametrize("role", [Role.ANALYST, Role.QUALITY])
def test_roles_that_do_not_talk_to_customers_may_not_reveal_and_the_refusal_is_recorded(role, customer):
    user = make_staff(f"no-reveal-{role}", role)
    with pytest.raises(Forbidden) as refused:
        reveal_contact(customer, by=user, reason=REASON)
    assert refused.value.status == 403
    denial = Event.objects.get(verb="permission.denied")
    assert (denial.actor_id, denial.subject_id, denial.data["action"]) == (user.pk, customer.pk, "customer.reveal_pii")
    assert _reveals() == []


@pytest.mark.parametrize("role", [Role.AGENT, Role.SENIOR_AGENT, Role.WAREHOUSE, Role.TECH_SUPPORT])
def test_desk_roles_hold_the_reveal_grant(role, customer):
    user = make_staff(f"reveal-{role}", role)
    assert reveal_contact(customer, by=user, reason=REASON, fields=["phone"]).phone == customer.phone


@pytest.mark.parametrize(
    ("reason", "code"),
    [("", "customer.reveal_reason_required"), ("   ", "customer.reveal_reason_required"),
     ("x", "customer.reveal_reason_required"), ("很" * 201, "too_long"), (None, "customer.reveal_reason_required")],
)  # fmt: skip
def test_a_reason_of_a_few_words_is_required(agent, customer, reason, code):
    with pytest.raises(ValidationFailed) as invalid:
        reveal_contact(customer, by=agent, reason=reason, fields=["phone"])
    assert (invalid.value.code, invalid.value.field) == (code, "reason")
    assert _reveals() == []


def test_only_contact_fields_can_be_revealed(agent, customer):
    with pytest.raises(ValidationFailed) as invalid:
        reveal_contact(customer, by=agent, reason=REASON, fields=["phone", "notes"])
    assert (invalid.value.code, invalid.value.field) == ("customer.bad_reveal_field", "fields")
    assert "notes" in invalid.value.message
    assert _reveals() == []


def test_reveals_per_hour_are_limited_and_the_refusal_is_recorded(agent, customer, settings):
    settings.DESK_PII_REVEALS_PER_HOUR = 2
    assert reveal_contact(customer, by=agent, reason=REASON).remaining == 1
    assert reveal_contact(customer, by=agent, reason=REASON).remaining == 0

    with pytest.raises(RevealLimitReached) as limited:
        reveal_contact(customer, by=agent, reason=REASON, fields=["phone"])

    assert limited.value.status == 429
    assert "2" in limited.value.message
    assert len(_reveals()) == 2
    [refusal] = _reveals("customer.pii_reveal_refused")
    assert refusal.actor_id == agent.pk
    assert refusal.data == {"fields": ["phone"], "reason": REASON, "limit": 2}


def test_the_limit_counts_the_last_hour_and_each_user_alone(agent, senior_agent, customer, settings, support_team):
    settings.DESK_PII_REVEALS_PER_HOUR = 1
    reveal_contact(customer, by=agent, reason=REASON)
    colleague = make_staff("colleague", Role.AGENT, team=support_team)
    assert reveal_contact(customer, by=colleague, reason=REASON).remaining == 0  # the agent's reveal is not theirs
    with pytest.raises(RevealLimitReached):
        reveal_contact(customer, by=agent, reason=REASON)

    Event.objects.filter(actor=agent).update(created_at=timezone.now() - timedelta(minutes=61))
    assert reveal_contact(customer, by=agent, reason=REASON).remaining == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writer at a time anyway")
@pytest.mark.django_db(transaction=True)  # the user's row must be committed for another connection to lock it
def test_a_reveal_counts_under_a_lock_on_the_users_row(agent, customer):
    """A parallel request of the same user waits for this one's count and event, so the limit holds."""
    import psycopg

    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        with transaction.atomic():
            _reveals_left(agent)
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT id FROM auth_user WHERE id = %s FOR UPDATE NOWAIT", [agent.pk])
            assert other.execute("SELECT id FROM auth_user WHERE id = %s", [agent.pk]).fetchone() == (agent.pk,)
    finally:
        other.close()


def test_roles_that_see_everything_are_recorded_but_not_limited(supervisor, customer, settings):
    settings.DESK_PII_REVEALS_PER_HOUR = 0  # revealing is off for masked roles
    revealed = reveal_contact(customer, by=supervisor, reason=REASON, fields=["email"])
    assert (revealed.email, revealed.remaining) == (customer.email, None)
    assert _reveals()[0].actor_id == supervisor.pk


def test_a_limit_of_zero_turns_revealing_off(agent, customer, settings):
    settings.DESK_PII_REVEALS_PER_HOUR = 0
    with pytest.raises(RevealLimitReached):
        reveal_contact(customer, by=agent, reason=REASON)


# --- The API -------------------------------------------------------------------------------------
def test_api_reveals_the_fields_asked_for(client, agent, bearer, customer):
    response = client.post(
        f"{URL}/{customer.pk}/reveal", {"reason": REASON, "fields": ["phone"]}, content_type="application/json",
        headers=bearer(agent),
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {
        "customer_id": customer.pk, "phone": customer.phone, "email": None, "address": None, "remaining": 29,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [({"reason": " "}, 400, "customer.reveal_reason_required", "reason"),
     ({"fields": ["phone"]}, 400, "invalid", "reason"),
     ({"reason": REASON, "fields": ["notes"]}, 400, "customer.bad_reveal_field", "fields"),
     ({"reason": REASON, "fields": "phone"}, 400, "invalid", "fields"),
     ({"reason": 42}, 400, "invalid", "reason"),
     ({"reason": "x" * 201}, 400, "too_long", "reason")],
)  # fmt: skip
def test_api_bad_input_is_a_clear_400(client, agent, bearer, customer, body, status, code, field):
    response = client.post(f"{URL}/{customer.pk}/reveal", body, content_type="application/json", headers=bearer(agent))
    assert response.status_code == status
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert _reveals() == []


def test_api_refuses_outsiders_unknown_customers_and_callers_over_the_limit(
    client, agent, analyst, bearer, customer, settings
):
    body = {"reason": REASON}
    post = lambda user, pk=customer.pk: client.post(  # noqa: E731
        f"{URL}/{pk}/reveal", body, content_type="application/json", headers=bearer(user)
    )
    assert post(analyst).status_code == 403
    assert post(analyst).json()["code"] == "permission.denied"
    assert post(agent, 999999).status_code == 404
    assert client.post(f"{URL}/{customer.pk}/reveal", body, content_type="application/json").status_code == 401
    settings.DESK_PII_REVEALS_PER_HOUR = 1
    assert post(agent).status_code == 200
    limited = post(agent)
    assert limited.status_code == 429
    assert limited.json()["code"] == "customer.reveal_limit"


# --- Pages ---------------------------------------------------------------------------------------
@pytest.fixture
def ticket(support_team, agent, customer):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return ticket_services.create_ticket(by=agent, customer=customer, subject="包裹丢了", request_type=request_type())


@pytest.mark.parametrize(("language", "show"), [("zh-hans", "显示"), ("en", "Show")])
def test_ticket_page_and_customer_page_offer_show_to_agents(client, agent, ticket, customer, language, show):
    client.force_login(agent)
    client.cookies["django_language"] = language
    for page in (reverse("tickets:detail", args=[ticket.pk]), reverse("customers:detail", args=[customer.pk])):
        html = client.get(page).content.decode()
        assert customer.phone not in html
        assert f'data-testid="reveal-phone">{show}</summary>' in html
        assert 'data-testid="reveal-address"' in html
        assert f'hx-post="{_reveal_url(customer)}"' in html


def test_roles_that_see_everything_or_may_not_reveal_get_no_show_control(client, supervisor, analyst, customer):
    for user in (supervisor, analyst):
        client.force_login(user)
        html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
        assert 'data-testid="reveal-' not in html


def test_the_show_control_costs_the_panel_no_query(client, agent, ticket, customer):
    client.force_login(agent)
    panel = reverse("customers:panel", args=[customer.pk])
    client.get(panel)  # the role's grants are read and held

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(panel).status_code == 200
        return len(captured)

    with_control = queries()
    RoleGrant.objects.filter(role=Role.AGENT, action="customer.reveal_pii").delete()
    client.get(panel)
    assert 'data-testid="reveal-' not in client.get(panel).content.decode()
    assert queries() == with_control


@pytest.mark.parametrize(("language", "note"), [("zh-hans", "已显示，已记录"), ("en", "revealed, recorded")])
def test_fragment_swaps_in_the_real_value_escaped(client, agent, language, note):
    hostile = make_customer("王小明", address=f"上海市浦东新区{SCRIPT}路1号")
    client.force_login(agent)
    client.cookies["django_language"] = language
    response = client.post(_reveal_url(hostile), {"field": "address", "reason": REASON}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # a fragment
    assert f'id="pii-{hostile.pk}-address"' in html
    assert "上海市浦东新区&lt;script&gt;alert(1)&lt;/script&gt;路1号" in html
    assert SCRIPT not in html
    assert note in html
    assert "hx-preserve" not in html  # would keep the masked copy on the page instead of this answer
    assert _reveals()[0].data == {"fields": ["address"], "reason": REASON}


@pytest.mark.parametrize(
    ("language", "message"), [("zh-hans", "请简要说明为什么需要查看联系方式"), ("en", "Say in a few words why")]
)
def test_fragment_without_a_reason_is_the_form_again_with_the_message(client, agent, customer, language, message):
    client.force_login(agent)
    client.cookies["django_language"] = language
    response = client.post(_reveal_url(customer), {"field": "phone", "reason": f" {SCRIPT} "[:2]})
    html = response.content.decode()
    assert response.status_code == 422
    assert message in html
    assert customer.phone not in html
    assert customer.phone[:3] + "****" + customer.phone[-4:] in html
    assert 'data-testid="reveal-reason"' in html
    assert _reveals() == []


def test_fragment_escapes_the_reason_it_gives_back(client, agent, customer, settings):
    settings.DESK_PII_REVEALS_PER_HOUR = 0
    client.force_login(agent)
    response = client.post(_reveal_url(customer), {"field": "phone", "reason": f'"{SCRIPT}'})
    html = response.content.decode()
    assert response.status_code == 429
    assert "每小时最多可查看 0 次联系方式" in html
    assert 'value="&#34;&lt;script&gt;' in html or 'value="&quot;&lt;script&gt;' in html
    assert SCRIPT not in html


def test_fragment_refuses_roles_unknown_customers_and_bad_fields(client, agent, analyst, customer, django_user_model):
    client.force_login(analyst)
    refused = client.post(_reveal_url(customer), {"field": "phone", "reason": REASON})
    assert refused.status_code == 403
    assert customer.phone not in refused.content.decode()
    client.force_login(agent)
    unknown = reverse("customers:reveal", args=[999999])
    assert client.post(unknown, {"field": "phone", "reason": REASON}).status_code == 404
    assert client.post(_reveal_url(customer), {"field": "notes", "reason": REASON}).status_code == 400
    assert client.get(_reveal_url(customer)).status_code == 405
    nobody = django_user_model.objects.create_user("nobody", password="x-pass-123456")
    client.force_login(nobody)
    assert client.post(_reveal_url(customer), {"field": "phone", "reason": REASON}).status_code == 404
    assert _reveals() == []


@pytest.mark.parametrize(
    ("language", "label"),
    [("zh-hans", "查看了客户的完整联系方式"), ("en", "revealed the customer's contact details")],
)
def test_timeline_shows_the_reveal_with_a_readable_label(client, agent, customer, language, label):
    reveal_contact(customer, by=agent, reason="客户来电催件")
    client.force_login(agent)
    client.cookies["django_language"] = language
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert label.replace("'", "&#39;") in html
    assert "客户来电催件" not in html  # the reason is in the audit trail, not on every agent's screen
