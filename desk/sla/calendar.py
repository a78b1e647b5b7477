"""Business-time arithmetic: pure functions over a week of opening slots, holidays and 调休 days.

No database here, so the rules can be tested on their own and reused by anything that needs
"N business hours from now". The clock walks day by day over the slots of each day (never minute
by minute), so a deadline weeks ahead costs a few dozen slot look-ups.

Conventions:
- every datetime in or out is aware; a naive one is a programming error (ValueError);
- a slot is (opens, closes) in local wall time; `closes <= opens` means it runs past midnight
  into the next day (22:00-06:00), and (00:00, 00:00) is the whole day;
- durations are real elapsed seconds, computed in UTC, so a slot that spans a daylight-saving
  change counts the hour that was skipped or repeated correctly;
- a holiday closes the whole day; a make-up working day (调休) is open with the slots of the
  weekday it stands in for, even if it falls on a weekend;
- `add(start, n)` returns the instant the n-th business second ends: 17:00 + 1 h on a day that
  closes at 18:00 is 18:00 that day, not 09:00 the next morning.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Slot = tuple[time, time]
Interval = tuple[datetime, datetime]

# How far a calendar may be searched for open time before we call it broken (no hours at all).
MAX_DAYS_SEARCHED = 3 * 366
_DAY_CACHE_LIMIT = 4096


class CalendarUnusable(ValueError):
    """The calendar cannot give business time: its time zone is unknown, or it never opens.

    A configuration mistake, not a programming error: callers that compute deadlines for many
    tickets catch it and carry on without those deadlines (desk.sla.services records it).
    """


class BusinessClock:
    """Opening hours of one business calendar, answering questions about business time."""

    def __init__(
        self,
        *,
        time_zone: str | ZoneInfo = "Asia/Shanghai",
        always_open: bool = False,
        weekly: Mapping[int, Sequence[Slot]] | None = None,
        holidays: Iterable[date] = (),
        workdays: Mapping[date, int] | None = None,
    ) -> None:
        self.zone = time_zone if isinstance(time_zone, ZoneInfo) else zone_named(time_zone)
        self.always_open = always_open
        self.weekly: dict[int, tuple[Slot, ...]] = {
            day: tuple(sorted(slots)) for day, slots in (weekly or {}).items() if 0 <= day <= 6 and slots
        }
        self.holidays = frozenset(holidays)
        self.workdays: dict[date, int] = dict(workdays or {})
        self._days: dict[date, tuple[Interval, ...]] = {}

    def __repr__(self) -> str:
        mode = "7x24" if self.always_open else f"{sum(map(len, self.weekly.values()))} slots/week"
        return f"<BusinessClock {self.zone.key} {mode}>"

    # --- questions ----------------------------------------------------------------------------
    def is_open(self, t: datetime) -> bool:
        """Whether the instant `t` lies inside an opening slot (closing time itself is closed)."""
        _require_aware(t)
        if self.always_open:
            return True
        moment = t.astimezone(UTC)
        local_day = moment.astimezone(self.zone).date()
        days = (local_day - timedelta(days=1), local_day)  # yesterday's overnight slot may still run
        return any(opens <= moment < closes for day in days for opens, closes in self.day_intervals(day))

    def add(self, start: datetime, seconds: float) -> datetime:
        """The deadline `seconds` of business time after `start`, in the clock's time zone."""
        _require_aware(start)
        if seconds <= 0:
            return start.astimezone(self.zone)
        if self.always_open:
            return (start.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(self.zone)
        self._require_hours(start)
        left = timedelta(seconds=seconds)
        for opens, closes in self._intervals_from(start.astimezone(UTC)):
            if closes - opens >= left:
                return (opens + left).astimezone(self.zone)
            left -= closes - opens
        raise CalendarUnusable(f"{self!r} has no opening hours within {MAX_DAYS_SEARCHED} days of {start.isoformat()}")

    def add_each(self, start: datetime, seconds: Sequence[float]) -> list[datetime]:
        """`[add(start, s) for s in seconds]` in one walk over the calendar: a new ticket's targets and
        their warnings all count from its creation."""
        _require_aware(start)
        if self.always_open:
            return [self.add(start, s) for s in seconds]
        found: list[datetime | None] = [start.astimezone(self.zone) if s <= 0 else None for s in seconds]
        pending = sorted((s, i) for i, s in enumerate(seconds) if s > 0)
        if pending:
            self._require_hours(start)
            k, walked = 0, timedelta(0)  # business time in the intervals before this one
            for opens, closes in self._intervals_from(start.astimezone(UTC)):
                length = closes - opens
                while k < len(pending) and timedelta(seconds=pending[k][0]) - walked <= length:
                    found[pending[k][1]] = (opens + (timedelta(seconds=pending[k][0]) - walked)).astimezone(self.zone)
                    k += 1
                if k == len(pending):
                    break
                walked += length
            else:
                raise CalendarUnusable(
                    f"{self!r} has no opening hours within {MAX_DAYS_SEARCHED} days of {start.isoformat()}"
                )
        return cast(list[datetime], found)  # every one found: the walk stops only once all are

    def between(self, a: datetime, b: datetime) -> int:
        """Whole business seconds from `a` to `b` (0 when `b` is not after `a`)."""
        _require_aware(a)
        _require_aware(b)
        begin, end = a.astimezone(UTC), b.astimezone(UTC)
        if end <= begin:
            return 0
        if self.always_open:
            return int((end - begin).total_seconds())
        total = timedelta(0)
        for opens, closes in self._intervals_from(begin):
            if opens >= end:
                break
            total += min(closes, end) - opens
        return int(total.total_seconds())

    def next_open(self, t: datetime) -> datetime:
        """`t` itself when open, else the next opening instant."""
        _require_aware(t)
        if self.always_open:
            return t.astimezone(self.zone)
        for opens, _closes in self._intervals_from(t.astimezone(UTC)):
            return opens.astimezone(self.zone)
        raise CalendarUnusable(f"{self!r} never opens after {t.isoformat()}")

    def _require_hours(self, start: datetime) -> None:
        """No weekly slot at all: say so at once rather than after walking MAX_DAYS_SEARCHED days."""
        if not self.weekly:
            raise CalendarUnusable(f"{self!r} has no opening hours (from {start.isoformat()})")

    # --- the walk -----------------------------------------------------------------------------
    def _intervals_from(self, moment: datetime) -> Iterator[Interval]:
        """Open intervals (UTC) from `moment` on, clipped at `moment`, merged, in order."""
        cursor = moment
        first = moment.astimezone(self.zone).date() - timedelta(days=1)  # yesterday's overnight slot
        for offset in range(MAX_DAYS_SEARCHED + 2):
            for opens, closes in self.day_intervals(first + timedelta(days=offset)):
                begin = max(opens, cursor)
                if closes > begin:
                    cursor = closes
                    yield begin, closes

    def day_intervals(self, day: date) -> tuple[Interval, ...]:
        """The UTC intervals opened on local `day` (an overnight slot ends on the next day)."""
        cached = self._days.get(day)
        if cached is None:
            if len(self._days) >= _DAY_CACHE_LIMIT:
                self._days.clear()
            cached = self._days[day] = tuple(self._build_day(day))
        return cached

    def slots_on(self, day: date) -> tuple[Slot, ...]:
        """The wall-clock slots that apply on `day` after holidays and make-up days."""
        if day in self.holidays:
            return ()
        weekday = self.workdays.get(day, day.weekday())
        return self.weekly.get(weekday, ())

    def _build_day(self, day: date) -> Iterator[Interval]:
        for opens, closes in self.slots_on(day):
            end_day = day if closes > opens else day + timedelta(days=1)
            begin = datetime.combine(day, opens, tzinfo=self.zone).astimezone(UTC)
            end = datetime.combine(end_day, closes, tzinfo=self.zone).astimezone(UTC)
            if end > begin:
                yield begin, end


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone of that name, or CalendarUnusable ("Asia/Shangai" is a typo, not a zone)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise CalendarUnusable(f"unknown time zone {name!r}") from error


def _require_aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"business time needs an aware datetime, got naive {t.isoformat()}")
