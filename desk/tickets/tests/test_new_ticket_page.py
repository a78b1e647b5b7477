"""Opening a ticket from the console: found or new customer, the order checked, routed like any other."""

from __future__ import annotations

import pytest
from django.urls import reverse

from desk.accounts.models import Role
from desk.core.models import Event
from desk.core.testing import make_customer, make_order, make_staff, request_type
from desk.customers.models import Customer
from desk.tickets.models import RoutingRule, Ticket


@pytest.fixture
def routed(support_team):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    request_type()  # the default type exists and is active
    return support_team


def _form(**kw):
    data = {
        "contact": "13800001111", "request_type": request_type().code, "channel": "phone", "priority": "2",
        "subject": "电话咨询：耳机左耳没声音", "description": "客户来电说左耳没有声音", "tags": "来电, 耳机",
    }  # fmt: skip
    return data | kw


def test_agent_opens_a_ticket_for_a_known_customer_and_order(client, routed, agent):
    customer = make_customer("王小明", phone="13800001111")
    order = make_order(customer)
    client.force_login(agent)
    assert client.get(reverse("tickets:new")).status_code == 200
    response = client.post(reverse("tickets:new"), _form(order_number=order.number))
    ticket = Ticket.objects.get(subject="电话咨询：耳机左耳没声音")
    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:detail", args=[ticket.pk])
    assert (ticket.customer, ticket.order, ticket.channel, ticket.team) == (customer, order, "phone", routed)
    assert sorted(t.name for t in ticket.tags.all()) == ["来电", "耳机"]
    assert Event.objects.filter(ticket_id=ticket.pk, verb="ticket.created", actor=agent).exists()


def test_unknown_contact_needs_a_name_then_creates_the_customer(client, routed, agent):
    client.force_login(agent)
    response = client.post(reverse("tickets:new"), _form(contact="new.buyer@example.com"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "give a name" in response.content.decode()
    assert not Ticket.objects.exists()
    response = client.post(reverse("tickets:new"), _form(contact="new.buyer@example.com", name="Ann Buyer"))
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert (ticket.customer.name, ticket.customer.email) == ("Ann Buyer", "new.buyer@example.com")
    assert ticket.customer.preferred_channel == "phone"  # reached by the channel the ticket came in


def test_an_order_of_someone_else_is_refused_and_nothing_is_kept(client, routed, agent):
    other = make_order(make_customer("别人", phone="13900002222"))
    client.force_login(agent)
    response = client.post(
        reverse("tickets:new"), _form(contact="13700003333", name="新客户", order_number=other.number),
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert response.status_code == 400
    assert "has no order" in response.content.decode()
    assert not Ticket.objects.exists()
    assert not Customer.objects.filter(name="新客户").exists()  # the customer made for it rolled back


def test_roles_without_ticket_create_get_403(client, routed):
    warehouse = make_staff("clerk", Role.WAREHOUSE)
    client.force_login(warehouse)
    assert client.get(reverse("tickets:new")).status_code == 403
    assert client.post(reverse("tickets:new"), _form(name="x")).status_code == 403
    assert not Ticket.objects.exists()
