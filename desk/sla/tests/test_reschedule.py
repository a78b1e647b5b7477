"""A calendar that changes under running deadlines: they are worked out again from the new calendar."""

from __future__ import annotations

from datetime import date, time

import pytest

from desk.core.models import Event
from desk.sla import services as sla
from desk.sla.models import BusinessHours, CalendarDay, DayKind
from desk.sla.tests.helpers import at, open_ticket, targets_of

pytestmark = pytest.mark.usefixtures("clock")


def test_a_holiday_added_later_moves_the_running_deadlines(
    routed, agent, customer, business, django_capture_on_commit_callbacks
):
    ticket = open_ticket(agent, customer)
    before = targets_of(ticket)
    solution_due = before["solution"].due_at
    first_due = before["first_response"].due_at  # Monday 11:00, before the holiday: stays
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sla.set_calendar_days(
            business,
            [
                sla.DaySpec(date(2026, 11, 24), DayKind.HOLIDAY, "临时休息"),
                sla.DaySpec(date(2026, 11, 25), DayKind.HOLIDAY),
            ],
        )
    assert len(callbacks) == 1  # one job for the import, not one per day
    after = targets_of(ticket)
    assert after["first_response"].due_at == first_due
    assert after["solution"].due_at > solution_due
    assert solution_due == at("2026-11-26 10:00")
    assert after["solution"].due_at == at("2026-11-30 10:00")  # two business days later, over the weekend
    moved = Event.objects.get(ticket_id=ticket.pk, verb="sla.rescheduled")
    assert "solution" in moved.after
    assert "first_response" not in moved.after


def test_longer_opening_hours_bring_deadlines_forward_and_nothing_else_moves(
    routed, agent, customer, business, always, django_capture_on_commit_callbacks
):
    ticket = open_ticket(agent, customer)
    solution_due = targets_of(ticket)["solution"].due_at
    with django_capture_on_commit_callbacks(execute=True):
        BusinessHours.objects.filter(calendar=business).update(closes=time(21, 0))  # no signal: nothing yet
        hours = BusinessHours.objects.filter(calendar=business).first()
        hours.save()  # an edit in the admin saves a row: the calendar's deadlines are redone
    assert targets_of(ticket)["solution"].due_at < solution_due
    with django_capture_on_commit_callbacks(execute=True):
        CalendarDay.objects.create(calendar=always, date=date(2026, 12, 1), kind=DayKind.HOLIDAY)
    assert Event.objects.filter(ticket_id=ticket.pk, verb="sla.rescheduled").count() == 1  # other calendar
