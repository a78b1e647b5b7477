"""The SLA clock driven by ticket services: policy choice, met/missed, pause/resume, re-pick."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from desk.core.models import Event
from desk.core.testing import make_customer, request_type
from desk.customers.models import Channel, Tier
from desk.sla import services as sla
from desk.sla.models import BusinessCalendar, BusinessHours, CalendarDay, DayKind, Metric, SlaPolicy, TargetStatus
from desk.sla.tests.helpers import at, open_ticket, targets_of
from desk.tickets import services as tickets
from desk.tickets.models import Priority, SlaState, Status, Ticket

pytestmark = pytest.mark.usefixtures("clock")


def verbs(ticket):
    return list(
        Event.objects.filter(ticket_id=ticket.pk, verb__startswith="sla.").order_by("id").values_list("verb", flat=True)
    )


def test_default_policy_sets_deadlines_in_business_hours(routed, agent, customer, default_policy):
    ticket = open_ticket(agent, customer)
    targets = targets_of(ticket)
    assert {t.policy_id for t in targets.values()} == {default_policy.pk}
    assert {m: t.due_at for m, t in targets.items()} == {
        Metric.FIRST_RESPONSE: at("2026-11-23 11:00"),
        Metric.ACCEPT: at("2026-11-23 12:00"),
        Metric.HUMAN: at("2026-11-23 14:00"),  # 4 h on the clock: the human-contact target runs 7×24
        Metric.SOLUTION: at("2026-11-26 10:00"),  # 24 business hours: Thursday morning
        Metric.RESOLUTION: at("2026-12-04 10:00"),
    }
    assert targets[Metric.FIRST_RESPONSE].warn_at == at("2026-11-23 10:48")  # 80% of an hour
    assert all(t.status == TargetStatus.RUNNING for t in targets.values())
    ticket.refresh_from_db()
    assert ticket.sla_state == SlaState.OK
    assert ticket.sla_due_at == at("2026-11-23 11:00")


def test_a_complex_problem_on_friday_evening_gets_a_human_within_four_hours_not_on_monday(
    routed, agent, customer, default_policy, clock
):
    clock.move_to(at("2026-11-27 17:50"))  # Friday: business hours end at 18:00
    targets = targets_of(open_ticket(agent, customer))
    assert targets[Metric.HUMAN].due_at == at("2026-11-27 21:50")  # 7×24
    assert targets[Metric.ACCEPT].due_at == at("2026-11-30 10:50")  # business hours: Monday
    assert default_policy.human_calendar.always_open


def test_a_policy_without_a_human_calendar_counts_that_target_in_its_own_hours(routed, agent, customer, default_policy):
    default_policy.human_calendar = None
    default_policy.save()
    targets = targets_of(open_ticket(agent, customer))
    assert targets[Metric.HUMAN].due_at == at("2026-11-23 15:00")  # across the lunch break


def test_simple_request_type_has_no_human_target(routed, agent, customer):
    ticket = open_ticket(agent, customer, code="logistics", subject="快递三天没动")
    assert Metric.HUMAN not in targets_of(ticket)
    assert Metric.FIRST_RESPONSE in targets_of(ticket)


def test_vip_customer_gets_the_tighter_7x24_policy(routed, agent, clock):
    clock.move_to(at("2026-11-27 17:50"))  # Friday evening: business hours are nearly over
    vip = make_customer("李总", tier=Tier.VIP)
    ticket = open_ticket(agent, vip)
    first = targets_of(ticket)[Metric.FIRST_RESPONSE]
    assert first.policy.name == "VIP 7×24"
    assert first.due_at == at("2026-11-27 18:20")


def test_first_matching_policy_by_position_wins(routed, agent, customer, always, business):
    email = SlaPolicy.objects.create(name="email", position=5, channel=Channel.EMAIL, calendar=always)
    SlaPolicy.objects.create(
        name="logistics",
        position=6,
        request_type=request_type("logistics"),
        calendar=business,
        first_response_minutes=15,
    )
    SlaPolicy.objects.create(name="off", position=1, calendar=always, active=False)
    assert targets_of(open_ticket(agent, customer, channel=Channel.EMAIL))[Metric.FIRST_RESPONSE].policy == email
    ticket = open_ticket(agent, customer, code="logistics")
    assert targets_of(ticket)[Metric.FIRST_RESPONSE].policy.name == "logistics"
    assert targets_of(ticket)[Metric.FIRST_RESPONSE].due_at == at("2026-11-23 10:15")


def test_no_matching_policy_means_no_targets(routed, agent, customer):
    SlaPolicy.objects.update(active=False)
    ticket = open_ticket(agent, customer)
    assert targets_of(ticket) == {}
    assert Ticket.objects.get(pk=ticket.pk).sla_state == SlaState.NONE


def test_reply_in_time_meets_first_response_and_human(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 10:30"))
    tickets.reply_to_ticket(ticket, "您好，请提供一张照片", by=agent)
    targets = targets_of(ticket)
    assert targets[Metric.FIRST_RESPONSE].status == TargetStatus.MET
    assert targets[Metric.FIRST_RESPONSE].completed_at == at("2026-11-23 10:30")
    assert targets[Metric.FIRST_RESPONSE].used_seconds == 30 * 60
    assert targets[Metric.HUMAN].status == TargetStatus.MET
    assert targets[Metric.ACCEPT].status == TargetStatus.RUNNING
    assert verbs(ticket) == ["sla.met", "sla.met"]
    met = Event.objects.filter(ticket_id=ticket.pk, verb="sla.met").first()
    assert met.subject_type == "ticket"
    assert met.customer_id == customer.pk
    assert Ticket.objects.get(pk=ticket.pk).sla_due_at == at("2026-11-23 12:00")  # accept is next


def test_late_reply_is_recorded_as_missed(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 13:30"))  # 11:00 was the deadline
    tickets.reply_to_ticket(ticket, "抱歉久等了", by=agent)
    assert targets_of(ticket)[Metric.FIRST_RESPONSE].status == TargetStatus.MISSED
    assert targets_of(ticket)[Metric.HUMAN].status == TargetStatus.MET  # 14:00 not reached
    assert "sla.missed" in verbs(ticket)


def test_accepting_meets_the_confirmation_target(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 11:50"))
    tickets.accept_ticket(ticket, by=agent)
    assert targets_of(ticket)[Metric.ACCEPT].status == TargetStatus.MET


def test_waiting_on_the_customer_pauses_and_resuming_recomputes(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 10:20"))
    tickets.reply_to_ticket(ticket, "请上传照片", by=agent, new_status=Status.PENDING_CUSTOMER)
    accept = targets_of(ticket)[Metric.ACCEPT]
    assert accept.status == TargetStatus.PAUSED
    assert accept.used_seconds == 20 * 60
    assert accept.due_at is None
    assert accept.warn_at is None
    assert Ticket.objects.get(pk=ticket.pk).sla_state == SlaState.PAUSED
    assert Ticket.objects.get(pk=ticket.pk).sla_due_at is None

    clock.move_to(at("2026-11-24 09:30"))  # the customer answers the next morning
    tickets.add_customer_message(ticket, "照片已上传")
    accept = targets_of(ticket)[Metric.ACCEPT]
    assert accept.status == TargetStatus.RUNNING
    assert accept.resumed_at == at("2026-11-24 09:30")
    assert accept.due_at == at("2026-11-24 11:10")  # 100 minutes were left
    assert accept.warn_at == at("2026-11-24 10:46")  # 96 minutes in, 20 already used
    refreshed = Ticket.objects.get(pk=ticket.pk)
    assert refreshed.sla_state == SlaState.OK
    assert refreshed.sla_due_at == at("2026-11-24 11:10")
    assert verbs(ticket) == ["sla.met", "sla.met", "sla.paused", "sla.resumed"]
    resumed = Event.objects.get(ticket_id=ticket.pk, verb="sla.resumed")
    assert set(resumed.data["metrics"]) == {Metric.ACCEPT, Metric.SOLUTION, Metric.RESOLUTION}


def test_pause_and_resume_through_status_changes_add_up(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer, code="logistics")
    clock.move_to(at("2026-11-23 10:10"))
    tickets.update_ticket(ticket, by=agent, status=Status.PENDING_CUSTOMER)
    clock.move_to(at("2026-11-23 16:00"))
    tickets.update_ticket(ticket, by=agent, status=Status.OPEN)
    clock.move_to(at("2026-11-23 16:05"))
    tickets.update_ticket(ticket, by=agent, status=Status.PENDING_CUSTOMER)
    first = targets_of(ticket)[Metric.FIRST_RESPONSE]
    assert first.used_seconds == 15 * 60
    clock.move_to(at("2026-11-23 17:50"))
    tickets.update_ticket(ticket, by=agent, status=Status.OPEN)
    assert targets_of(ticket)[Metric.FIRST_RESPONSE].due_at == at("2026-11-24 09:35")  # 45 min: 10 tonight


def test_reply_to_a_paused_ticket_counts_only_running_time(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 10:40"))
    tickets.update_ticket(ticket, by=agent, status=Status.PENDING_CUSTOMER)
    clock.move_to(at("2026-11-24 16:00"))  # a day later, still paused: no business time used
    tickets.reply_to_ticket(ticket, "还在吗？", by=agent, new_status=Status.PENDING_CUSTOMER)
    first = targets_of(ticket)[Metric.FIRST_RESPONSE]
    assert first.status == TargetStatus.MET
    assert first.used_seconds == 40 * 60


def test_closing_without_reply_cancels_what_was_not_yet_due(routed, agent, customer, supervisor, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 10:30"))
    tickets.update_ticket(ticket, by=supervisor, status=Status.CLOSED)
    targets = targets_of(ticket)
    assert targets[Metric.FIRST_RESPONSE].status == TargetStatus.CANCELLED
    assert targets[Metric.SOLUTION].status == TargetStatus.CANCELLED
    assert targets[Metric.RESOLUTION].status == TargetStatus.MET  # closing resolves it
    refreshed = Ticket.objects.get(pk=ticket.pk)
    assert refreshed.sla_state == SlaState.MET
    assert refreshed.sla_due_at is None


def test_closing_after_a_deadline_passed_counts_it_missed(routed, agent, customer, supervisor, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 11:30"))
    tickets.update_ticket(ticket, by=supervisor, status=Status.CLOSED)
    targets = targets_of(ticket)
    assert targets[Metric.FIRST_RESPONSE].status == TargetStatus.MISSED
    assert targets[Metric.ACCEPT].status == TargetStatus.CANCELLED
    assert Ticket.objects.get(pk=ticket.pk).sla_state == SlaState.BREACHED


def test_raising_priority_to_urgent_repicks_the_7x24_policy(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 10:10"))
    tickets.update_ticket(ticket, by=agent, priority=Priority.URGENT)
    targets = targets_of(ticket)
    assert targets[Metric.FIRST_RESPONSE].policy.name == "紧急 Urgent 7×24"
    assert targets[Metric.FIRST_RESPONSE].due_at == at("2026-11-23 10:30")  # 30 min from creation
    assert targets[Metric.RESOLUTION].due_at == at("2026-11-25 10:00")
    assert Ticket.objects.get(pk=ticket.pk).sla_due_at == at("2026-11-23 10:30")
    changed = Event.objects.get(ticket_id=ticket.pk, verb="sla.policy_changed")
    assert changed.after == {"policy": targets[Metric.FIRST_RESPONSE].policy_id}


def test_changing_type_to_a_complex_one_adds_the_human_target(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer, code="logistics")
    assert Metric.HUMAN not in targets_of(ticket)
    clock.move_to(at("2026-11-23 10:30"))
    tickets.update_ticket(ticket, by=agent, request_type=request_type("complaint"))
    human = targets_of(ticket)[Metric.HUMAN]
    assert human.started_at == at("2026-11-23 10:00")
    assert human.due_at == at("2026-11-23 14:00")  # 7×24
    tickets.update_ticket(ticket, by=agent, request_type=request_type("refund"))
    assert targets_of(ticket)[Metric.HUMAN].status == TargetStatus.CANCELLED
    clock.move_to(at("2026-11-23 11:00"))
    tickets.update_ticket(ticket, by=agent, request_type=request_type("complaint"))
    human = targets_of(ticket)[Metric.HUMAN]
    assert human.status == TargetStatus.RUNNING
    assert human.used_seconds == 30 * 60  # 10:00-10:30; while it did not apply, it did not count
    assert human.due_at == at("2026-11-23 14:30")


def test_clock_cache_follows_calendar_edits(business):
    monday = at("2026-11-23 10:00")
    assert sla.clock_for(business.pk).is_open(monday)
    CalendarDay.objects.create(calendar=business, date=monday.date(), kind=DayKind.HOLIDAY, name="店庆")
    assert not sla.clock_for(business.pk).is_open(monday)
    BusinessHours.objects.create(calendar=business, weekday=6, opens=time(10), closes=time(16))
    assert sla.clock_for(business.pk).is_open(at("2026-11-29 11:00"))
    business.always_open = True
    business.save()
    assert sla.clock_for(business.pk).is_open(at("2026-11-29 20:00"))


def test_clock_cache_is_reused_between_tickets(routed, agent, customer, django_assert_max_num_queries):
    open_ticket(agent, customer)
    with django_assert_max_num_queries(40) as captured:
        open_ticket(agent, customer)
    calendar_reads = [q for q in captured.captured_queries if "sla_businesshours" in q["sql"]]
    assert calendar_reads == []


def test_seeded_calendar_knows_2026_holidays_and_make_up_days(business, always):
    clock = sla.clock_for(business.pk)
    assert not clock.is_open(at("2026-02-16 10:00"))  # Spring Festival
    assert clock.is_open(at("2026-02-14 10:00"))  # Saturday worked (调休)
    assert clock.is_open(at("2026-10-10 10:00"))
    assert not clock.is_open(at("2026-10-08 12:30"))  # lunch
    assert clock.add(at("2026-09-30 17:00"), 2 * 3600) == at("2026-10-08 10:00")
    days = CalendarDay.objects.filter(calendar=business, date__year=2026)
    assert days.filter(kind=DayKind.HOLIDAY).count() == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert days.filter(kind=DayKind.WORKDAY).count() == 6
    assert sla.clock_for(always.pk).is_open(at("2026-02-16 03:00"))
    assert BusinessCalendar.objects.get(pk=business.pk).time_zone == "Asia/Shanghai"


def test_seeded_default_policy_targets(default_policy, business):
    p = default_policy
    assert (p.first_response_minutes, p.accept_minutes, p.human_minutes, p.solution_minutes) == (60, 120, 240, 1440)
    assert p.calendar == business
    assert p.warn_at_percent == 80


def test_a_day_has_many_minutes_but_not_24_business_hours(business):
    clock = sla.clock_for(business.pk)
    assert clock.between(at("2026-11-23 00:00"), at("2026-11-23 00:00") + timedelta(days=1)) == 8 * 3600


def test_reopening_a_resolved_ticket_restarts_the_resolution_clock(routed, agent, customer, supervisor, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 11:00"))
    tickets.reply_to_ticket(ticket, "已为您退款", by=agent, new_status=Status.RESOLVED, proposes_solution=True)
    resolution = targets_of(ticket)[Metric.RESOLUTION]
    assert resolution.status == TargetStatus.MET
    assert resolution.used_seconds == 3600
    clock.move_to(at("2026-11-24 09:00"))
    tickets.add_customer_message(ticket, "还是没有收到退款")
    resolution = targets_of(ticket)[Metric.RESOLUTION]
    assert resolution.status == TargetStatus.RUNNING
    assert resolution.completed_at is None
    assert resolution.due_at == at("2026-12-04 17:00")  # 71 business hours left from Tuesday 09:00
    assert Ticket.objects.get(pk=ticket.pk).sla_state == SlaState.OK


def test_merged_duplicate_cancels_its_targets(routed, agent, customer, clock):
    first = open_ticket(agent, customer)
    duplicate = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 10:05"))
    tickets.merge_tickets(duplicate, first, by=agent)
    assert {t.status for t in targets_of(duplicate).values()} == {TargetStatus.CANCELLED}
    assert TargetStatus.RUNNING in {t.status for t in targets_of(first).values()}
