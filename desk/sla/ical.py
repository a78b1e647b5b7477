"""Reading holidays and make-up working days (调休) from an iCalendar file.

Holiday feeds for China publish each day off as an all-day event ("春节 休") and each make-up
working day as one whose summary says so ("春节 补班", "Spring Festival workday"). Timed events
(meetings, shifts) are not days and are skipped.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import icalendar

from desk.sla.models import DayKind
from desk.sla.services import DaySpec

WORKDAY_MARKERS = ("班", "workday", "working day")
MAX_EVENT_DAYS = 366


class BadCalendarFile(ValueError):
    """The file is not an iCalendar document."""


def parse_days(data: bytes, *, hours_of_weekday: int = 0) -> tuple[list[DaySpec], int]:
    """(days, skipped): one DaySpec per date of each all-day VEVENT; timed events are skipped."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as error:
        raise BadCalendarFile(str(error)) from error
    days: dict[date, DaySpec] = {}
    skipped = 0
    for event in calendar.walk("VEVENT"):
        first, last = _span(event)
        if first is None:
            skipped += 1
            continue
        summary = str(event.get("SUMMARY", "")).strip()
        kind = DayKind.WORKDAY if _is_workday(summary) else DayKind.HOLIDAY
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            days[day] = DaySpec(day, kind, summary, hours_of_weekday)
    return sorted(days.values(), key=lambda spec: spec.date), skipped


def _is_workday(summary: str) -> bool:
    lowered = summary.lower()
    return any(marker in lowered for marker in WORKDAY_MARKERS)


def _span(event: icalendar.cal.Component) -> tuple[date | None, date]:
    """First and last date of an all-day event (DTEND is exclusive); (None, _) for timed ones."""
    start = event.decoded("DTSTART", None)
    if not isinstance(start, date) or isinstance(start, datetime):
        return None, date.min
    end = event.decoded("DTEND", None)
    if isinstance(end, date) and not isinstance(end, datetime) and end > start:
        last = end - timedelta(days=1)
    elif isinstance(event.decoded("DURATION", None), timedelta):
        last = start + max(event.decoded("DURATION").days - 1, 0) * timedelta(days=1)
    else:
        last = start
    return start, min(last, start + timedelta(days=MAX_EVENT_DAYS - 1))
