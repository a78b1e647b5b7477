"""The sweep when many timers come due at once (after an outage): set-based, in batches, each fired once."""

from __future__ import annotations

from collections import Counter

import pytest
from django.utils import translation

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


def sla_notes(user, verb):
    return list(
        Notification.objects.filter(user=user, verb=verb).order_by("pk").values_list("text", "link", "event_id")
    )


def test_many_warnings_for_one_person_become_one_summary_few_stay_one_each(
    routed, agent, supervisor, customer, clock, small_batches, sla_hook, monkeypatch
):
    monkeypatch.setattr(sweep, "DIGEST_AFTER", 5)
    other = make_staff("agent2", Role.AGENT, team=routed)
    many = many_owned_by(agent, customer, supervisor)  # 11: more than 5, over three batches of 4
    few = many_owned_by(other, customer, supervisor, count=3)
    clock.move_to(at("2026-11-23 10:48"))
    with translation.override("en"):  # the summaries' wording
        assert fired(sla.sweep()) == NOTHING | {"warned": MANY + 3}

    # every warning keeps its event and its webhook delivery
    warnings = Event.objects.filter(verb="sla.warning")
    assert sorted(warnings.values_list("ticket_id", flat=True)) == sorted(many + few)
    assert WebhookDelivery.objects.filter(endpoint=sla_hook).count() == MANY + 3
    # one line for the person with many, its count brought up to date batch by batch
    [(text, link, event_id)] = sla_notes(agent, "sla.warning")
    assert text == f"{MANY} tickets are near an SLA deadline"
    assert link == "/?tab=breaching&sla=warning"
    assert event_id in set(warnings.filter(ticket_id__in=many).values_list("pk", flat=True))
    assert Notification.objects.get(user=agent, verb="sla.warning").read_at is None
    # one per ticket for the person with few
    per_ticket = sla_notes(other, "sla.warning")
    assert sorted(link for _text, link, _event in per_ticket) == sorted(f"/tickets/{pk}/" for pk in few)
    for text, link, event_id in per_ticket:
        ticket = Ticket.objects.get(pk=int(link.strip("/").split("/")[-1]))
        assert ticket.number in text
        assert Event.objects.get(pk=event_id).ticket_id == ticket.pk

    clock.move_to(at("2026-11-23 10:49"))
    assert fired(sla.sweep()) == NOTHING
    assert Notification.objects.filter(verb="sla.warning").count() == 1 + 3


def test_many_breaches_summarise_the_supervisor_and_the_owner_not_the_new_owners_with_few(
    routed, agent, senior_agent, supervisor, customer, default_policy, clock, small_batches, sla_hook, monkeypatch
):
    monkeypatch.setattr(sweep, "DIGEST_AFTER", 6)
    default_policy.escalate_reassign_up = True
    default_policy.save()
    second = make_staff("senior2", Role.SENIOR_AGENT, team=routed)
    ids = many_owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 11:00"))
    with translation.override("en"):  # the summaries' wording
        assert fired(sla.sweep())["escalated"] == MANY

    breaches = Event.objects.filter(ticket_id__in=ids, verb="sla.breached")
    assert breaches.count() == MANY
    assert WebhookDelivery.objects.filter(endpoint=sla_hook).count() == MANY
    assert [row[:2] for row in sla_notes(supervisor, "sla.breached")] == [
        (f"Escalation: {MANY} tickets missed an SLA target", "/?tab=breaching&sla=breached")
    ]
    assert [row[:2] for row in sla_notes(agent, "sla.breached")] == [
        (f"SLA breached on {MANY} of your tickets", "/?tab=breaching&sla=breached")
    ]
    # the new owners got 5 or 6 each (shared out): one notification per ticket handed to them
    for senior in (senior_agent, second):
        mine = set(Ticket.objects.filter(pk__in=ids, assignee=senior).values_list("pk", flat=True))
        assert 5 <= len(mine) <= 6
        notes = sla_notes(senior, "sla.breached")
        assert {int(link.strip("/").split("/")[-1]) for _text, link, _event in notes} == mine
        assert all(text.startswith(f"TK{int(link.strip('/').split('/')[-1]):07d}") for text, link, _event in notes)


def test_a_batch_that_rolls_back_leaves_the_summary_counting_what_was_fired(
    routed, agent, supervisor, customer, default_policy, clock, small_batches, monkeypatch
):
    monkeypatch.setattr(sweep, "DIGEST_AFTER", 5)
    ids = many_owned_by(agent, customer, supervisor)
    real, calls = sweep._Breaches._escalate_all, []

    def second_batch_fails(self, tickets, breached):
        calls.append(len(tickets))
        real(self, tickets, breached)  # its rows are written, then the transaction rolls back
        if len(calls) == 2:
            raise RuntimeError("database hiccup")

    monkeypatch.setattr(sweep._Breaches, "_escalate_all", second_batch_fails)
    clock.move_to(at("2026-11-23 11:00"))
    with translation.override("en"):  # the summaries' wording
        assert fired(sla.sweep())["escalated"] == MANY  # the failed batch was retried ticket by ticket
    assert calls[:3] == [4, 4, 1]

    assert Event.objects.filter(ticket_id__in=ids, verb="sla.breached").count() == MANY
    assert [text for text, _link, _event in sla_notes(supervisor, "sla.breached")] == [
        f"Escalation: {MANY} tickets missed an SLA target"
    ]
    assert [text for text, _link, _event in sla_notes(agent, "sla.breached")] == [
        f"SLA breached on {MANY} of your tickets"
    ]


@pytest.mark.django_db
def test_the_mass_path_writes_no_index_a_composite_already_covers():
    """tickets/0005 and sla/0004: each of these columns leads a composite or unique index, so its own
    single-column index was only one more write per escalated ticket and claim. (A ticket's team and
    assignee, and a delivery's endpoint, keep theirs: newest-first lists walk them, see tickets/0005.)"""
    from django.db import connection

    covered = {
        "tickets_ticket": ["customer_id"],
        "sla_slatarget": ["ticket_id"],
    }
    with connection.cursor() as cursor:
        for table, columns in covered.items():
            found = connection.introspection.get_constraints(cursor, table).values()
            indexes = [c["columns"] for c in found if c["index"] and not c["unique"]]
            leading = [c["columns"] for c in found if (c["index"] or c["unique"]) and len(c["columns"]) > 1]
            for column in columns:
                assert [column] not in indexes, (table, column)
                assert any(cols[0] == column for cols in leading), (table, column)
