"""A customer upgraded to VIP while a ticket is open: the ticket is served as a VIP's from then on."""

from __future__ import annotations

import pytest

from desk.core.models import Event
from desk.customers import services as customers
from desk.customers.models import Tier
from desk.sla.models import Metric
from desk.sla.tests.helpers import at, open_ticket, targets_of
from desk.tickets import services as tickets
from desk.tickets.models import Status, Ticket

pytestmark = pytest.mark.usefixtures("clock")


def test_upgrade_to_vip_moves_open_tickets_to_the_vip_policy(routed, agent, supervisor, customer, clock):
    ticket = open_ticket(agent, customer)
    closed = open_ticket(agent, customer, subject="旧问题")
    tickets.update_ticket(closed, by=agent, status=Status.CLOSED)
    assert targets_of(ticket)[Metric.SOLUTION].policy.name != "VIP 7×24"
    clock.move_to(at("2026-11-23 10:10"))
    customers.update_customer(customer, by=supervisor, tier=Tier.VIP)
    ticket.refresh_from_db()
    assert ticket.customer_tier == Tier.VIP
    solution = targets_of(ticket)[Metric.SOLUTION]
    assert solution.policy.name == "VIP 7×24"
    assert solution.due_at == at("2026-11-23 22:00")  # 12 h around the clock from 10:00
    changed = Event.objects.get(ticket_id=ticket.pk, verb="ticket.tier_changed")
    assert (changed.before, changed.after, changed.actor) == (
        {"customer_tier": "regular"}, {"customer_tier": "vip"}, supervisor
    )  # fmt: skip
    assert Ticket.objects.get(pk=closed.pk).customer_tier == Tier.REGULAR  # closed tickets keep their history


def test_other_profile_changes_leave_tickets_alone(routed, agent, supervisor, customer):
    ticket = open_ticket(agent, customer)
    customers.update_customer(customer, by=supervisor, notes="喜欢电话联系")
    assert not Event.objects.filter(ticket_id=ticket.pk, verb="ticket.tier_changed").exists()
