"""`manage.py import_holidays`: an .ics file the test writes becomes holidays and 调休 days."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from desk.core.models import Event
from desk.sla import services as sla
from desk.sla.models import CalendarDay, DayKind
from desk.sla.tests.helpers import at

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//desk tests//holidays//ZH
BEGIN:VEVENT
UID:2027-spring@test
DTSTART;VALUE=DATE:20270205
DTEND;VALUE=DATE:20270212
SUMMARY:春节 休
END:VEVENT
BEGIN:VEVENT
UID:2027-makeup@test
DTSTART;VALUE=DATE:20270130
SUMMARY:春节 补班
END:VEVENT
BEGIN:VEVENT
UID:2027-work-en@test
DTSTART;VALUE=DATE:20270220
DTEND;VALUE=DATE:20270221
SUMMARY:Spring Festival workday
END:VEVENT
BEGIN:VEVENT
UID:2027-meeting@test
DTSTART:20270301T020000Z
DTEND:20270301T030000Z
SUMMARY:Team meeting
END:VEVENT
BEGIN:VEVENT
UID:2026-override@test
DTSTART;VALUE=DATE:20261123
SUMMARY:店庆日 Shop anniversary
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def ics_file(tmp_path):
    path = tmp_path / "holidays.ics"
    path.write_text(ICS.replace("\n", "\r\n"), encoding="utf-8")
    return path


def test_all_day_events_become_holidays_and_workday_events_make_up_days(business, ics_file):
    out = StringIO()
    call_command("import_holidays", str(business.pk), str(ics_file), "--hours-of-weekday", "4", stdout=out)
    days = {d.date: d for d in CalendarDay.objects.filter(calendar=business, date__year=2027)}
    spring = [date(2027, 2, n) for n in range(5, 12)]
    assert [d for d in days if days[d].kind == DayKind.HOLIDAY] == spring  # DTEND is exclusive
    assert days[date(2027, 1, 30)].kind == DayKind.WORKDAY
    assert days[date(2027, 1, 30)].hours_of_weekday == 4
    assert days[date(2027, 2, 20)].kind == DayKind.WORKDAY
    assert days[date(2027, 2, 5)].name == "春节 休"
    assert date(2027, 3, 1) not in days  # a timed event is not a day off
    assert "8 holidays, 2 make-up working days" in out.getvalue()
    assert "1 timed events skipped" in out.getvalue()
    assert Event.objects.filter(verb="sla.calendar_days_imported", subject_id=business.pk).exists()


def test_imported_days_change_the_clock_at_once(business, ics_file):
    clock = sla.clock_for(business.pk)
    assert clock.is_open(at("2026-11-23 10:00"))
    assert not clock.is_open(at("2027-01-30 10:00"))  # a Saturday
    call_command("import_holidays", business.pk, str(ics_file), stdout=StringIO())
    clock = sla.clock_for(business.pk)
    assert not clock.is_open(at("2026-11-23 10:00"))
    assert clock.is_open(at("2027-01-30 10:00"))
    assert not clock.is_open(at("2027-02-08 10:00"))


def test_importing_twice_updates_rather_than_duplicates(business, ics_file):
    call_command("import_holidays", business.pk, str(ics_file), stdout=StringIO())
    out = StringIO()
    call_command("import_holidays", business.pk, str(ics_file), stdout=out)
    assert "(0 new, 10 updated)" in out.getvalue()
    assert CalendarDay.objects.filter(calendar=business, date__year=2027).count() == 9


def test_bad_inputs_are_clear_command_errors(business, tmp_path, ics_file, db):
    with pytest.raises(CommandError, match="No business calendar"):
        call_command("import_holidays", 999999, str(ics_file))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_holidays", business.pk, str(tmp_path / "missing.ics"))
    junk = tmp_path / "junk.ics"
    junk.write_text("this is not a calendar", encoding="utf-8")
    with pytest.raises(CommandError, match="not an iCalendar file"):
        call_command("import_holidays", business.pk, str(junk))
