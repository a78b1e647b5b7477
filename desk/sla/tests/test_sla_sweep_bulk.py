"""The sweep when many timers come due at once (after an outage): set-based, in batches, each fired once."""

from __future__ import annotations

from collections import Counter

import pytest

from desk.accounts.models import Notification, Role
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.sla import services as sla
from desk.sla import sweep
from desk.sla.tests.helpers import at, open_ticket
from desk.tickets import services as tickets
from desk.tickets.models import Priority, SlaState, Ticket
from desk.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.usefixtures("clock")

NOTHING = {"warned": 0, "warnings_skipped": 0, "breached": 0, "escalated": 0}
MANY = 11  # with batches of 4: three transactions, the last one short


def fired(result):
    return {k: v for k, v in result.items() if k != "seconds"}


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(sweep, "BATCH_SIZE", 4)


@pytest.fixture
def sla_hook(db):
    return WebhookEndpoint.objects.create(
        name="ops", url="https://hooks.example.com/sla", secret="s" * 32, event_types=["sla.*"]
    )


def many_owned_by(owner, customer, by, count=MANY):
    made = []
    for _ in range(count):
        ticket = open_ticket(by, customer)
        if ticket.assignee_id != owner.pk:
            tickets.assign_ticket(ticket, owner, by=by)
        made.append(ticket.pk)
    return made


def test_many_warnings_at_once_fire_once_each_across_batches(
    routed, agent, supervisor, customer, clock, small_batches, sla_hook
):
    ids = many_owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 10:48"))
    assert fired(sla.sweep()) == NOTHING | {"warned": MANY}

    warnings = Event.objects.filter(ticket_id__in=ids, verb="sla.warning")
    assert sorted(warnings.values_list("ticket_id", flat=True)) == sorted(ids)
    assert Notification.objects.filter(user=agent, verb="sla.warning").count() == MANY
    notes = Notification.objects.filter(user=agent, verb="sla.warning").select_related(None)
    assert {n.event_id for n in notes} == set(warnings.values_list("pk", flat=True))
    assert all(n.created_at is not None and n.read_at is None for n in notes)
    # the outbox: one delivery per event, written with it
    deliveries = WebhookDelivery.objects.filter(endpoint=sla_hook)
    assert sorted(deliveries.values_list("event_id", flat=True)) == sorted(warnings.values_list("pk", flat=True))
    assert set(deliveries.values_list("status", "attempts")) == {("pending", 0)}
    assert set(Ticket.objects.filter(pk__in=ids).values_list("sla_state", flat=True)) == {SlaState.WARNING}

    clock.move_to(at("2026-11-23 10:49"))
    assert fired(sla.sweep()) == NOTHING
    assert warnings.count() == MANY
    assert WebhookDelivery.objects.count() == MANY


def test_many_breaches_at_once_are_escalated_once_each_across_batches(
    routed, agent, senior_agent, supervisor, customer, default_policy, clock, small_batches, sla_hook
):
    default_policy.escalate_reassign_up = True
    default_policy.save()
    second = make_staff("senior2", Role.SENIOR_AGENT, team=routed)
    ids = many_owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 11:00"))
    result = sla.sweep()
    assert fired(result) == {"warned": 0, "warnings_skipped": MANY, "breached": MANY, "escalated": MANY}

    rows = Ticket.objects.filter(pk__in=ids).values_list(
        "priority", "assignee_id", "team_id", "sla_state", "sla_due_at"
    )
    assert {row[0] for row in rows} == {Priority.HIGH}
    assert {row[2:4] for row in rows} == {(routed.pk, SlaState.BREACHED)}
    # Handed up the tiers and shared out as one-at-a-time escalation would: least loaded first.
    load = Counter(row[1] for row in rows)
    assert set(load) == {senior_agent.pk, second.pk}
    assert abs(load[senior_agent.pk] - load[second.pk]) <= 1
    # The summary columns are what the per-ticket summary gives (set-based here: one subquery).
    for ticket in Ticket.objects.filter(pk__in=ids):
        assert (ticket.sla_state, ticket.sla_due_at) == sla.summarize(list(ticket.sla_targets.all()))

    breaches = Event.objects.filter(ticket_id__in=ids, verb="sla.breached")
    assert sorted(breaches.values_list("ticket_id", flat=True)) == sorted(ids)
    for event in breaches:
        assert event.actor_id is None
        assert event.actor_label == "system"
        assert event.before == {"priority": Priority.NORMAL, "assignee": agent.pk, "sla_state": SlaState.OK}
        assert event.after["assignee"] in (senior_agent.pk, second.pk)
        assert event.data["metrics"] == ["first_response"]
        assert event.data["notified"] == [supervisor.pk]
        assert event.data["reassigned_to"] == event.after["assignee"]
    assert Notification.objects.filter(user=supervisor, verb="sla.breached").count() == MANY
    assert Notification.objects.filter(user=agent, verb="sla.breached").count() == MANY
    assert Notification.objects.filter(user__in=[senior_agent, second], verb="sla.breached").count() == MANY
    for note in Notification.objects.filter(user=agent, verb="sla.breached"):
        ticket = Ticket.objects.get(pk=int(note.link.strip("/").split("/")[-1]))
        assert note.link == f"/tickets/{ticket.pk}/"
        assert ticket.number in note.text
    deliveries = WebhookDelivery.objects.filter(endpoint=sla_hook)
    assert sorted(deliveries.values_list("event_id", flat=True)) == sorted(breaches.values_list("pk", flat=True))

    clock.move_to(at("2026-11-23 11:05"))
    assert fired(sla.sweep()) == NOTHING  # a second sweep (or worker) finds nothing left
    assert breaches.count() == MANY
    assert Notification.objects.filter(verb="sla.breached").count() == 3 * MANY


def test_a_breach_batch_takes_a_fixed_number_of_queries(
    routed, agent, senior_agent, supervisor, customer, default_policy, clock, django_assert_max_num_queries
):
    default_policy.escalate_reassign_up = True
    default_policy.save()
    many_owned_by(agent, customer, supervisor, count=20)
    clock.move_to(at("2026-11-23 11:00"))
    with django_assert_max_num_queries(30):
        result = sla.sweep()
    assert result["escalated"] == 20
