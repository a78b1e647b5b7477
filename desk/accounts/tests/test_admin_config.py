"""The admin is the desk's configuration screen: opened by `config.manage`, and every edit is an event."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.accounts.models import Role, RoleGrant
from desk.accounts.permissions import can
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.sla.models import BusinessCalendar
from desk.sla.tests.helpers import calendar_form
from desk.tickets.models import RoutingRule
from desk.webhooks.models import WebhookEndpoint

# Every configuration changelist the manager works with (a label per area, cases' listed by the site).
CONFIG_PAGES = [
    "accounts/rolegrant",
    "accounts/team",
    "accounts/staffprofile",
    "accounts/skill",
    "tickets/routingrule",
    "tickets/requesttype",
    "tickets/cannedreply",
    "sla/slapolicy",
    "sla/businesscalendar",
    "orders/storefront",
    "cases/returnpolicy",
    "cases/compensationkind",
]


@pytest.fixture
def rule(support_team):
    return RoutingRule.objects.create(name="默认", position=100, team=support_team)


def _rule_form(rule, **changes):
    data = {"name": rule.name, "position": rule.position, "active": "on", "request_type": "", "channel": "",
            "customer_tier": "", "keywords": rule.keywords, "team": rule.team_id, "set_priority": ""}  # fmt: skip
    return data | changes


def test_manager_with_config_manage_edits_a_routing_rule_and_the_change_is_an_event(client, manager, rule, other_team):
    assert manager.is_staff is False  # the grant opens the admin, not Django's staff flag
    old_team = rule.team_id
    client.force_login(manager)
    assert client.get("/admin/").status_code == 200
    response = client.post(f"/admin/tickets/routingrule/{rule.pk}/change/",
                           _rule_form(rule, keywords="快递,物流", team=other_team.pk))  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    rule.refresh_from_db()
    assert (rule.keywords, rule.team_id) == ("快递,物流", other_team.pk)
    event = Event.objects.get(verb="config.changed")
    assert (event.actor_id, event.subject_type, event.subject_id) == (manager.pk, "routingrule", rule.pk)
    assert event.before == {"keywords": "", "team": old_team}
    assert event.after == {"keywords": "快递,物流", "team": other_team.pk}
    assert event.data["model"] == "tickets.routingrule"


def test_saving_without_changes_records_nothing(client, manager, rule):
    client.force_login(manager)
    assert client.post(f"/admin/tickets/routingrule/{rule.pk}/change/", _rule_form(rule)).status_code == 302
    assert not Event.objects.filter(verb="config.changed").exists()


def test_list_edit_and_delete_are_recorded(client, manager, rule):
    client.force_login(manager)
    data = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": rule.pk, "form-0-position": "7",
            "form-0-active": "on", "_save": "Save"}  # fmt: skip
    assert client.post("/admin/tickets/routingrule/", data).status_code == 302
    changed = Event.objects.get(verb="config.changed")
    assert (changed.before, changed.after) == ({"position": 100}, {"position": 7})
    response = client.post(f"/admin/tickets/routingrule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    deleted = Event.objects.get(verb="config.deleted")
    assert (deleted.subject_type, deleted.subject_id, deleted.before["name"]) == ("routingrule", rule.pk, "默认")
    assert not RoutingRule.objects.exists()


def test_bulk_delete_records_each_row(client, manager, support_team):
    rules = [RoutingRule.objects.create(name=f"r{n}", team=support_team) for n in range(2)]
    client.force_login(manager)
    data = {"action": "delete_selected", "post": "yes", "_selected_action": [r.pk for r in rules]}
    assert client.post("/admin/tickets/routingrule/", data).status_code == 302
    assert sorted(Event.objects.filter(verb="config.deleted").values_list("subject_id", flat=True)) == sorted(
        r.pk for r in rules
    )


def test_calendar_inline_rows_are_recorded_naming_their_calendar(client, manager):
    client.force_login(manager)
    data = calendar_form()
    assert client.post("/admin/sla/businesscalendar/add/", data).status_code == 302
    calendar = BusinessCalendar.objects.get(name="周末值班")
    events = list(Event.objects.filter(verb="config.changed").order_by("id"))
    assert [e.subject_type for e in events] == ["businesscalendar", "businesshours"]
    assert (events[0].before, events[0].after["name"], events[0].data["added"]) == ({}, "周末值班", True)
    assert events[1].after["opens"] == "10:00:00"
    assert events[1].data["parent"] == {"model": "sla.businesscalendar", "id": calendar.pk}


def test_a_grant_edited_in_the_admin_takes_effect_at_once(client, manager, agent):
    grant = RoleGrant.objects.get(role=Role.AGENT, action="refund.approve")
    assert can(agent, "refund.approve", amount=Decimal("150"))
    client.force_login(manager)
    data = {"role": Role.AGENT, "action": "refund.approve", "limit_amount": "100"}
    assert client.post(f"/admin/accounts/rolegrant/{grant.pk}/change/", data).status_code == 302
    assert not can(agent, "refund.approve", amount=Decimal("150"))
    event = Event.objects.get(verb="config.changed", subject_type="rolegrant")
    assert (event.before, event.after) == ({"limit_amount": "200.00"}, {"limit_amount": "100"})


@pytest.mark.parametrize("page", CONFIG_PAGES)
def test_manager_opens_every_configuration_page(client, manager, page):
    client.force_login(manager)
    assert client.get(f"/admin/{page}/").status_code == 200
    assert client.get(f"/admin/{page}/add/").status_code == 200


def test_inline_rows_are_editable_for_the_manager_too(client, manager):
    """Inlines ask their own permissions; they follow the parent's grant, or the manager would see none."""
    client.force_login(manager)
    calendar = client.get("/admin/sla/businesscalendar/add/").content.decode()
    assert "hours-TOTAL_FORMS" in calendar
    assert "days-TOTAL_FORMS" in calendar
    assert 'name="versions-TOTAL_FORMS"' in client.get("/admin/cases/returnpolicy/add/").content.decode()


def test_agent_without_config_manage_is_sent_to_the_login_page(client, agent, rule):
    client.force_login(agent)
    for url in ("/admin/", "/admin/tickets/routingrule/", f"/admin/tickets/routingrule/{rule.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/")
    response = client.post(f"/admin/tickets/routingrule/{rule.pk}/change/", _rule_form(rule, keywords="x"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.keywords == ""
    assert not Event.objects.filter(verb="config.changed").exists()


def test_the_admin_login_form_asks_the_grant(client, manager, agent):
    refused = client.post("/admin/login/", {"username": "agent", "password": "desk-pass-123"})
    assert refused.status_code == 200
    assert "_auth_user_id" not in client.session
    accepted = client.post("/admin/login/", {"username": "manager", "password": "desk-pass-123"})
    assert accepted.status_code == 302
    assert client.session["_auth_user_id"] == str(manager.pk)


def test_a_taken_grant_closes_the_admin(client, manager):
    client.force_login(manager)
    RoleGrant.objects.filter(role=Role.MANAGER, action="config.manage").delete()
    assert client.get("/admin/tickets/routingrule/").status_code == 302


def test_superuser_keeps_the_whole_admin(client, db):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@shop.example", "desk-pass-123")
    client.force_login(root)
    assert client.get("/admin/tickets/routingrule/").status_code == 200
    assert client.get("/admin/tickets/ticket/").status_code == 200  # not configuration: Django's rules


def test_manager_does_not_see_data_models_in_the_admin(client, manager):
    client.force_login(manager)
    assert client.get("/admin/customers/customer/").status_code == 403
    assert client.get("/admin/tickets/ticket/").status_code == 403


# --- Webhook endpoints: webhook.manage, and the webhook services' checks ---------------------------
@pytest.fixture
def integrator(db):
    return make_staff("hooks", Role.ADMIN)


def _endpoint_form(**changes):
    return {
        "name": "ERP",
        "url": "https://erp.example.com/hook",
        "event_types": '["ticket.*"]',
        "active": "on",
    } | changes


def test_webhook_added_in_the_admin_gets_a_secret_and_the_service_event(client, integrator):
    client.force_login(integrator)
    assert client.get("/admin/webhooks/webhookendpoint/add/").status_code == 200  # no RemovedInDjango60Warning
    response = client.post("/admin/webhooks/webhookendpoint/add/", _endpoint_form(), follow=True)
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert len(endpoint.secret) >= 32
    assert endpoint.created_by == integrator
    assert endpoint.secret in response.content.decode()  # shown once, after saving
    event = Event.objects.get(subject_type="webhookendpoint")
    assert event.verb == "webhook.endpoint_created"
    assert "secret" not in event.after


def test_webhook_admin_refuses_what_the_service_refuses(client, integrator, settings):
    settings.DESK_WEBHOOK_ALLOW_PRIVATE = False
    client.force_login(integrator)
    for changes in ({"url": "http://127.0.0.1:8000/hook"}, {"url": "http://localhost/x"},
                    {"event_types": '["Ticket Created"]'}, {"event_types": '"ticket.*"'}):  # fmt: skip
        response = client.post("/admin/webhooks/webhookendpoint/add/", _endpoint_form(**changes))
        assert response.status_code == 200, changes  # the form again, with the error
        assert "errorlist" in response.content.decode(), changes
    assert not WebhookEndpoint.objects.exists()
    assert not Event.objects.filter(subject_type="webhookendpoint").exists()


def test_webhook_edit_rotate_and_delete_go_through_the_service(client, integrator):
    client.force_login(integrator)
    client.post("/admin/webhooks/webhookendpoint/add/", _endpoint_form())
    endpoint = WebhookEndpoint.objects.get()
    old_secret = endpoint.secret
    url = f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/"
    response = client.post(url, _endpoint_form(event_types='["customer.created"]', rotate_secret="on"))
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["customer.created"]
    assert endpoint.secret != old_secret
    updated = Event.objects.get(verb="webhook.endpoint_updated")
    assert updated.after == {"event_types": ["customer.created"]}
    assert updated.data == {"secret_rotated": True}
    assert client.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/delete/", {"post": "yes"}).status_code == 302
    assert Event.objects.filter(verb="webhook.endpoint_deleted").count() == 1


def test_webhooks_need_webhook_manage_not_config_manage(client, manager):
    assert not can(manager, "webhook.manage")
    client.force_login(manager)
    assert client.get("/admin/webhooks/webhookendpoint/").status_code == 403
