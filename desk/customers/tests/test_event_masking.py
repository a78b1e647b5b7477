"""Events keep contact details (customer.created holds the profile): every read that returns or shows
events to a role without customer.view_pii masks them as the customer API does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from desk.accounts.models import Role, RoleGrant
from desk.core.events import record_event
from desk.core.testing import request_type
from desk.customers.models import Channel
from desk.customers.queries import mask_address, mask_email, mask_event_document, mask_phone
from desk.customers.services import add_identity, resolve_customer, update_customer, upsert_customers
from desk.tickets import services as ticket_services
from desk.tickets.models import RoutingRule

PHONE, NEW_PHONE, EXTRA_PHONE = "13912345678", "13698765432", "13711112222"
EMAIL, ADDRESS = "wang.xiaoming@example.com", "广东省深圳市南山区科技园路1号"
RAW = (PHONE, NEW_PHONE, EXTRA_PHONE, EMAIL, ADDRESS, "科技园路")


@pytest.fixture
def known(admin_user):
    """A customer whose events hold every kind of contact detail: created, updated, identity added."""
    customer = resolve_customer(Channel.PHONE, PHONE, name="王小明", by=admin_user, email=EMAIL, address=ADDRESS)
    update_customer(customer, by=admin_user, phone=NEW_PHONE)
    add_identity(customer, Channel.PHONE, EXTRA_PHONE, by=admin_user)
    return customer


def _leaks(found: Any) -> list[str]:
    """Which raw contact details appear in a page (str) or a JSON answer (non-ASCII unescaped)."""
    text = found if isinstance(found, str) else json.dumps(found.json(), ensure_ascii=False)
    return [raw for raw in RAW if raw in text]


def test_agent_timeline_holds_no_raw_contact_details(client, agent, known):
    client.force_login(agent)
    response = client.get(f"/api/customers/{known.pk}/timeline", {"limit": 50})

    assert response.status_code == 200
    assert [e["verb"] for e in response.json()["items"]] == [
        "customer.identity_added",
        "customer.updated",
        "customer.created",
    ]
    assert _leaks(response) == []
    created = response.json()["items"][-1]["after"]
    assert (created["phone"], created["email"], created["address"]) == (
        mask_phone(PHONE),
        mask_email(EMAIL),
        mask_address(ADDRESS),
    )
    assert response.json()["items"][0]["after"] == {"channel": "phone", "value": mask_phone(EXTRA_PHONE)}
    assert created["name"] == "王小明"  # only contact details are masked, as on the profile


def test_senior_agent_timeline_shows_them_whole(client, senior_agent, known):
    client.force_login(senior_agent)
    response = client.get(f"/api/customers/{known.pk}/timeline", {"limit": 50})

    assert response.status_code == 200
    assert sorted(_leaks(response)) == sorted(RAW)


def test_events_api_masks_for_an_auditor_without_view_pii(client, supervisor, known):
    client.force_login(supervisor)
    whole = client.get("/api/events", {"customer_id": known.pk})
    assert whole.status_code == 200
    assert sorted(_leaks(whole)) == sorted(RAW)

    RoleGrant.objects.filter(role=Role.SUPERVISOR, action="customer.view_pii").delete()
    masked = client.get("/api/events", {"customer_id": known.pk})

    assert masked.status_code == 200
    assert len(masked.json()["items"]) == 3
    assert _leaks(masked) == []
    assert masked.json()["items"][1]["before"]["phone"] == mask_phone(PHONE)


def test_ticket_events_api_masks_recipient_details(client, agent, senior_agent, support_team, known):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    ticket = ticket_services.create_ticket(by=agent, customer=known, subject="地址改一下", request_type=request_type())
    record_event(
        "order.updated",
        actor=senior_agent,
        ticket_id=ticket.pk,
        customer_id=known.pk,
        before={"recipient_phone": PHONE, "shipping_address": ADDRESS},
        after={"recipient_phone": NEW_PHONE, "shipping_address": ADDRESS},
    )
    url = f"/api/tickets/{ticket.number}/events"

    client.force_login(senior_agent)
    whole = client.get(url)
    client.force_login(agent)
    masked = client.get(url)

    assert (whole.status_code, masked.status_code) == (200, 200)
    assert _leaks(whole) == [PHONE, NEW_PHONE, ADDRESS, "科技园路"]
    assert _leaks(masked) == []
    assert masked.json()["items"][-1]["after"]["recipient_phone"] == mask_phone(NEW_PHONE)


def test_customer_page_shows_no_raw_contact_details_to_an_agent(client, agent, senior_agent, known):
    url = reverse("customers:detail", args=[known.pk])
    client.force_login(agent)
    html = client.get(url).content.decode()
    assert 'data-testid="timeline"' in html
    assert _leaks(html) == []
    assert mask_phone(NEW_PHONE) in html

    client.force_login(senior_agent)
    assert NEW_PHONE in client.get(url).content.decode()


def test_imported_customer_events_are_masked_too(client, agent, admin_user):
    result = upsert_customers(
        [{"external_id": "C-9", "name": "Amy", "phone": PHONE, "email": EMAIL, "address": ADDRESS}], by=admin_user
    )
    customer_id = result.results[0].id
    upsert_customers([{"external_id": "C-9", "name": "Amy", "phone": NEW_PHONE}], by=admin_user)

    client.force_login(agent)
    response = client.get(f"/api/customers/{customer_id}/timeline")

    assert [e["verb"] for e in response.json()["items"]] == ["customer.updated", "customer.created"]
    assert _leaks(response) == []


def test_masking_reaches_nested_documents():
    document = {"lines": [{"sku": "A1"}], "return": {"address": ADDRESS, "phone": PHONE}, "amount": 12}

    masked = mask_event_document(document)

    assert masked == {
        "lines": [{"sku": "A1"}],
        "return": {"address": mask_address(ADDRESS), "phone": mask_phone(PHONE)},
        "amount": 12,
    }
