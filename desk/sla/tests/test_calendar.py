"""Business-time arithmetic on its own: no database, just the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from zoneinfo import ZoneInfo

import pytest

from desk.sla.calendar import BusinessClock

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600


def at(text: str, zone: ZoneInfo = SH) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone)  # noqa: DTZ007  zone set here


def office() -> BusinessClock:
    """Mon-Fri 09:00-12:00 and 13:00-18:00 in Shanghai, with 2026's National Day and its 调休."""
    slots = [(time(9), time(12)), (time(13), time(18))]
    return BusinessClock(
        time_zone="Asia/Shanghai",
        weekly=dict.fromkeys(range(5), slots),
        holidays=[date(2026, 10, d) for d in range(1, 8)],
        workdays={date(2026, 9, 20): 0, date(2026, 10, 10): 4},
    )


def test_deadline_skips_the_lunch_break():
    assert office().add(at("2026-11-23 11:30"), HOUR) == at("2026-11-23 13:30")


def test_deadline_runs_overnight_into_the_next_morning():
    assert office().add(at("2026-11-23 17:30"), HOUR) == at("2026-11-24 09:30")


def test_deadline_ending_at_closing_time_is_that_evening():
    assert office().add(at("2026-11-23 17:00"), HOUR) == at("2026-11-23 18:00")


def test_friday_evening_request_is_due_monday():
    assert office().add(at("2026-11-27 17:00"), 2 * HOUR) == at("2026-11-30 10:00")


def test_request_on_a_weekend_starts_counting_on_monday_morning():
    assert office().add(at("2026-11-28 10:00"), 30 * 60) == at("2026-11-30 09:30")


def test_public_holiday_week_is_skipped():
    # Wednesday 30 Sep, then 1-7 Oct closed; Thursday 8 Oct is the next working day.
    assert office().add(at("2026-09-30 17:00"), 2 * HOUR) == at("2026-10-08 10:00")


def test_make_up_saturday_is_a_working_day():
    clock = office()
    assert clock.add(at("2026-10-09 17:00"), 2 * HOUR) == at("2026-10-10 10:00")
    assert clock.is_open(at("2026-10-10 10:00"))
    assert not clock.is_open(at("2026-10-17 10:00"))  # an ordinary Saturday


def test_make_up_sunday_before_the_holiday():
    assert office().add(at("2026-09-19 10:00"), HOUR) == at("2026-09-20 10:00")


def test_is_open_edges():
    clock = office()
    assert clock.is_open(at("2026-11-23 09:00"))
    assert not clock.is_open(at("2026-11-23 08:59"))
    assert not clock.is_open(at("2026-11-23 12:30"))
    assert not clock.is_open(at("2026-11-23 18:00"))
    assert not clock.is_open(at("2026-10-05 10:00"))
    assert clock.is_open(at("2026-11-23 02:00", BERLIN))  # 09:00 in Shanghai


def test_between_counts_only_open_time():
    clock = office()
    assert clock.between(at("2026-11-23 11:00"), at("2026-11-24 10:00")) == 7 * HOUR
    assert clock.between(at("2026-11-27 17:00"), at("2026-11-30 10:00")) == 2 * HOUR
    assert clock.between(at("2026-11-28 10:00"), at("2026-11-28 20:00")) == 0
    assert clock.between(at("2026-11-24 10:00"), at("2026-11-23 10:00")) == 0


def test_add_and_between_agree_from_many_starting_points():
    clock = office()
    start = at("2026-09-14 00:00")
    for step in range(0, 24 * 28, 5):  # every 5 hours for four weeks, across the holidays
        begin = start + timedelta(hours=step, minutes=step % 60)
        for seconds in (60, 3 * HOUR + 17, 20 * HOUR):
            due = clock.add(begin, seconds)
            assert clock.between(begin, due) == seconds
            assert clock.is_open(due - timedelta(seconds=1))


def test_add_each_gives_what_add_gives_for_each():
    clock, night = office(), BusinessClock(weekly=dict.fromkeys(range(7), [(time(22), time(6))]))
    start = at("2026-09-25 00:00")
    offsets = [2 * HOUR, 0, 60, 8 * HOUR, 2 * HOUR, 3 * HOUR + 17, 20 * HOUR, 45 * HOUR, -5]  # unsorted, repeated
    for step in range(0, 24 * 21, 7):  # from many starting points over three weeks, across National Day
        begin = start + timedelta(hours=step, minutes=step % 60)
        for each in (clock, night, BusinessClock(always_open=True)):
            found = [due.isoformat() for due in each.add_each(begin, offsets)]
            assert found == [each.add(begin, s).isoformat() for s in offsets]  # the same instants, in the same zone
    closed = BusinessClock(weekly={})
    assert closed.add_each(start, [0]) == [start]
    with pytest.raises(ValueError, match="no opening hours"):
        closed.add_each(start, [0, 60])


def test_deadline_weeks_ahead_is_exact_and_fast():
    clock = BusinessClock(
        time_zone="Asia/Shanghai",
        weekly=dict.fromkeys(range(5), [(time(9), time(18))]),
    )
    started = perf_counter()
    for _ in range(1000):
        due = clock.add(at("2026-11-23 09:00"), 6 * 45 * HOUR)  # six working weeks
    assert due == at("2027-01-01 18:00")
    assert perf_counter() - started < 2.0


def test_always_open_counts_every_second():
    clock = BusinessClock(time_zone="Asia/Shanghai", always_open=True)
    start = at("2026-10-01 23:30")
    assert clock.add(start, 45 * 60) == at("2026-10-02 00:15")
    assert clock.between(start, at("2026-10-02 01:30")) == 2 * HOUR
    assert clock.is_open(at("2026-10-03 03:00"))


def test_overnight_shift_belongs_to_the_day_it_starts():
    night = [(time(22), time(6))]
    clock = BusinessClock(time_zone="Asia/Shanghai", weekly={0: night})  # Monday night only
    assert clock.is_open(at("2026-11-24 02:00"))  # Tuesday 02:00 is Monday's shift
    assert not clock.is_open(at("2026-11-24 22:30"))
    assert clock.add(at("2026-11-23 12:00"), 3 * HOUR) == at("2026-11-24 01:00")
    assert clock.add(at("2026-11-24 05:00"), 2 * HOUR) == at("2026-11-30 23:00")


def test_several_slots_and_the_whole_day():
    whole = [(time(0), time(0))]
    clock = BusinessClock(time_zone="Asia/Shanghai", weekly={5: whole})  # Saturdays only, all day
    assert clock.between(at("2026-11-27 12:00"), at("2026-11-29 12:00")) == 24 * HOUR
    assert clock.add(at("2026-11-27 12:00"), 24 * HOUR) == at("2026-11-29 00:00")


def test_berlin_office_hours_across_the_spring_change():
    slots = [(time(9), time(17))]
    clock = BusinessClock(time_zone="Europe/Berlin", weekly=dict.fromkeys(range(5), slots))
    due = clock.add(at("2026-03-27 16:00", BERLIN), 2 * HOUR)  # Friday CET -> Monday CEST
    assert due == at("2026-03-30 10:00", BERLIN)
    assert due.utcoffset() == timedelta(hours=2)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_night_slot_across_daylight_saving_changes_counts_real_hours():
    night = [(time(22), time(6))]
    clock = BusinessClock(time_zone="Europe/Berlin", weekly={5: night})
    # 28/29 March 2026: clocks jump 02:00 -> 03:00, the night is 7 hours long.
    assert clock.between(at("2026-03-28 00:00", BERLIN), at("2026-03-30 00:00", BERLIN)) == 7 * HOUR
    # 24/25 October 2026: clocks go back 03:00 -> 02:00, the night is 9 hours long.
    assert clock.between(at("2026-10-24 00:00", BERLIN), at("2026-10-26 00:00", BERLIN)) == 9 * HOUR
    assert clock.add(at("2026-03-28 22:00", BERLIN), 6 * HOUR) == at("2026-03-29 05:00", BERLIN)


def test_berlin_always_open_day_of_the_change_has_23_hours():
    clock = BusinessClock(time_zone="Europe/Berlin", always_open=True)
    assert clock.between(at("2026-03-29 00:00", BERLIN), at("2026-03-30 00:00", BERLIN)) == 23 * HOUR


def test_naive_datetimes_are_refused():
    clock = office()
    naive = datetime(2026, 11, 23, 10, 0)  # noqa: DTZ001  the point of the test
    with pytest.raises(ValueError, match="aware"):
        clock.add(naive, 60)
    with pytest.raises(ValueError, match="aware"):
        clock.between(naive, at("2026-11-23 11:00"))
    with pytest.raises(ValueError, match="aware"):
        clock.is_open(naive)


def test_calendar_without_hours_cannot_give_a_deadline():
    with pytest.raises(ValueError, match="no opening hours"):
        BusinessClock(time_zone="Asia/Shanghai").add(at("2026-11-23 10:00"), 60)


def test_zero_seconds_is_the_start_and_next_open_finds_monday():
    clock = office()
    assert clock.add(at("2026-11-28 10:00"), 0) == at("2026-11-28 10:00")
    assert clock.next_open(at("2026-11-28 10:00")) == at("2026-11-30 09:00")
    assert clock.next_open(at("2026-11-30 09:30")) == at("2026-11-30 09:30")
