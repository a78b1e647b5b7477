"""The periodic sweep after clock jumps: warnings at 80%, breach escalation, each fired once."""

from __future__ import annotations

import pytest
from django.utils import translation
from huey.contrib.djhuey import HUEY

from desk.accounts.models import AssignmentStrategy, Notification, Role
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.sla import services as sla
from desk.sla.models import Metric, SlaTarget, TargetStatus
from desk.sla.tasks import sweep_sla
from desk.sla.tests.helpers import at, open_ticket, targets_of
from desk.tickets import services as tickets
from desk.tickets.models import Priority, SlaState, Status, Ticket

pytestmark = pytest.mark.usefixtures("clock")

NOTHING = {"warned": 0, "warnings_skipped": 0, "breached": 0, "escalated": 0}


def fired(result):
    return {k: v for k, v in result.items() if k != "seconds"}


def owned_by(owner, customer, by):
    ticket = open_ticket(by, customer)
    if ticket.assignee_id != owner.pk:
        tickets.assign_ticket(ticket, owner, by=by)
    return Ticket.objects.get(pk=ticket.pk)


def notes(user, verb):
    return list(Notification.objects.filter(user=user, verb=verb).values_list("text", flat=True))


def test_warning_fires_at_80_percent_and_only_once(routed, agent, supervisor, customer, clock):
    ticket = owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 10:47"))
    assert fired(sla.sweep()) == NOTHING
    clock.move_to(at("2026-11-23 10:48"))
    assert fired(sla.sweep()) == NOTHING | {"warned": 1}
    warning = Event.objects.get(ticket_id=ticket.pk, verb="sla.warning")
    assert warning.data["metric"] == Metric.FIRST_RESPONSE
    assert warning.customer_id == customer.pk
    assert warning.subject_id == ticket.pk
    assert len(notes(agent, "sla.warning")) == 1
    assert ticket.number in notes(agent, "sla.warning")[0]
    assert Ticket.objects.get(pk=ticket.pk).sla_state == SlaState.WARNING
    assert targets_of(ticket)[Metric.FIRST_RESPONSE].warned_at == at("2026-11-23 10:48")

    clock.move_to(at("2026-11-23 10:49"))
    assert fired(sla.sweep()) == NOTHING
    assert Event.objects.filter(ticket_id=ticket.pk, verb="sla.warning").count() == 1
    assert len(notes(agent, "sla.warning")) == 1


def test_breach_raises_priority_reassigns_up_and_tells_the_supervisor(
    routed, agent, senior_agent, supervisor, customer, default_policy, clock
):
    default_policy.escalate_reassign_up = True
    default_policy.save()
    ticket = owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 11:00"))
    result = sla.sweep()
    assert fired(result) == {"warned": 0, "warnings_skipped": 1, "breached": 1, "escalated": 1}

    ticket.refresh_from_db()
    assert ticket.priority == Priority.HIGH
    assert ticket.assignee == senior_agent  # the next tier up in the team
    assert ticket.sla_state == SlaState.BREACHED
    breach = Event.objects.get(ticket_id=ticket.pk, verb="sla.breached")
    assert breach.before == {"priority": Priority.NORMAL, "assignee": agent.pk, "sla_state": SlaState.OK}
    assert breach.after == {"priority": Priority.HIGH, "assignee": senior_agent.pk, "sla_state": SlaState.BREACHED}
    assert breach.data["metrics"] == [Metric.FIRST_RESPONSE]
    assert breach.data["notified"] == [supervisor.pk]
    assert len(notes(supervisor, "sla.breached")) == 1
    assert len(notes(agent, "sla.breached")) == 1
    assert len(notes(senior_agent, "sla.breached")) == 1
    assert targets_of(ticket)[Metric.FIRST_RESPONSE].breached_at == at("2026-11-23 11:00")

    clock.move_to(at("2026-11-23 11:05"))
    assert fired(sla.sweep()) == NOTHING
    assert Event.objects.filter(ticket_id=ticket.pk, verb="sla.breached").count() == 1

    clock.move_to(at("2026-11-23 11:36"))  # accept: warned at 80%, to the new owner
    assert fired(sla.sweep()) == NOTHING | {"warned": 1}
    assert len(notes(senior_agent, "sla.warning")) == 1

    clock.move_to(at("2026-11-23 12:00"))  # accept breached: up again, to the supervisor
    assert fired(sla.sweep()) == NOTHING | {"breached": 1, "escalated": 1}
    ticket.refresh_from_db()
    assert ticket.priority == Priority.URGENT
    assert ticket.assignee == supervisor

    clock.move_to(at("2026-11-23 15:00"))  # human contact breached: priority stays at the top
    assert fired(sla.sweep())["breached"] == 1
    ticket.refresh_from_db()
    assert ticket.priority == Priority.URGENT


def test_breach_goes_to_the_escalation_team_when_no_one_is_above_in_the_team(
    routed, agent, other_team, customer, default_policy, clock
):
    default_policy.escalate_reassign_up = True
    default_policy.save()
    routed.escalation_team = other_team
    routed.save()
    expert = make_staff("expert", Role.SENIOR_AGENT, team=other_team)
    ticket = owned_by(agent, customer, agent)
    clock.move_to(at("2026-11-23 11:01"))
    sla.sweep()
    ticket.refresh_from_db()
    assert ticket.assignee == expert
    assert ticket.team == other_team
    assert [ticket.number in text for text in notes(expert, "sla.breached")] == [True]


def test_without_reassign_the_owner_keeps_the_ticket(routed, agent, supervisor, customer, clock):
    ticket = owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 11:00"))
    sla.sweep()
    ticket.refresh_from_db()
    assert ticket.assignee == agent
    assert ticket.priority == Priority.HIGH
    assert len(notes(supervisor, "sla.breached")) == 1


def test_worker_down_for_an_hour_fires_everything_that_came_due_once(routed, agent, supervisor, customer, clock):
    batch = [owned_by(agent, customer, supervisor) for _ in range(3)]
    clock.move_to(at("2026-11-23 10:40"))
    assert fired(sla.sweep()) == NOTHING
    # Down from 10:40 to 11:40: first-response warnings (10:48) and breaches (11:00) and the
    # accept warnings (11:36) all came due meanwhile.
    clock.move_to(at("2026-11-23 11:40"))
    result = sla.sweep()
    assert fired(result) == {"warned": 3, "warnings_skipped": 3, "breached": 3, "escalated": 3}
    ids = [t.pk for t in batch]
    assert Event.objects.filter(ticket_id__in=ids, verb="sla.breached").count() == 3
    warnings = Event.objects.filter(ticket_id__in=ids, verb="sla.warning")
    assert sorted(warnings.values_list("data__metric", flat=True)) == [Metric.ACCEPT] * 3
    assert set(Ticket.objects.filter(pk__in=ids).values_list("sla_state", flat=True)) == {SlaState.BREACHED}

    assert fired(sla.sweep()) == NOTHING  # a second worker, or the next minute, finds nothing
    clock.move_to(at("2026-11-23 11:41"))
    assert fired(sla.sweep()) == NOTHING
    assert Event.objects.filter(ticket_id__in=ids, verb__in=["sla.breached", "sla.warning"]).count() == 6


def test_met_targets_and_paused_targets_do_not_fire(routed, agent, supervisor, customer, clock):
    answered = owned_by(agent, customer, supervisor)
    waiting = owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 10:10"))
    tickets.reply_to_ticket(answered, "已收到", by=agent)
    tickets.update_ticket(waiting, by=agent, status=Status.PENDING_CUSTOMER)
    clock.move_to(at("2026-11-23 12:30"))
    result = sla.sweep()
    # Only the answered ticket's accept target was still running: warned past due, then breached.
    assert fired(result) == {"warned": 0, "warnings_skipped": 1, "breached": 1, "escalated": 1}
    assert not Event.objects.filter(ticket_id=waiting.pk, verb__in=["sla.warning", "sla.breached"]).exists()
    assert Ticket.objects.get(pk=waiting.pk).sla_state == SlaState.PAUSED


def test_unassigned_ticket_warning_goes_to_the_team_lead(routed, supervisor, customer, clock):
    routed.assignment_strategy = AssignmentStrategy.MANUAL
    routed.save()
    ticket = open_ticket(None, customer)
    assert ticket.assignee_id is None
    clock.move_to(at("2026-11-23 10:50"))
    assert fired(sla.sweep())["warned"] == 1
    assert len(notes(supervisor, "sla.warning")) == 1


def test_a_met_late_target_after_breach_stays_missed(routed, agent, supervisor, customer, clock):
    ticket = owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 11:00"))
    sla.sweep()
    clock.move_to(at("2026-11-23 11:10"))
    tickets.reply_to_ticket(ticket, "抱歉久等", by=agent)
    first = targets_of(ticket)[Metric.FIRST_RESPONSE]
    assert first.status == TargetStatus.MISSED
    assert first.breached_at == at("2026-11-23 11:00")


def test_warnings_in_bulk_take_a_fixed_number_of_queries(
    routed, agent, supervisor, customer, clock, django_assert_max_num_queries
):
    for _ in range(25):
        owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 10:50"))
    with django_assert_max_num_queries(12), translation.override("en"):
        result = sla.sweep()
    assert result["warned"] == 25
    assert SlaTarget.objects.filter(warned_at__isnull=False).count() == 25
    assert Event.objects.filter(verb="sla.warning").count() == 25
    # more than DIGEST_AFTER (20) for one person: one summary notification, not 25
    assert notes(agent, "sla.warning") == ["25 tickets are near an SLA deadline"]


def test_the_huey_job_runs_the_sweep_every_minute(routed, agent, supervisor, customer, clock):
    owned_by(agent, customer, supervisor)
    clock.move_to(at("2026-11-23 10:48"))
    assert any(task.name.endswith("sweep_sla") for task in HUEY.read_periodic(at("2026-11-23 10:48")))
    result = sweep_sla.call_local()
    assert result["warned"] == 1
