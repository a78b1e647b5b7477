"""The SLA clock: pick a policy, store one deadline per target, keep it in step with the ticket.

Ticket services call `start_clock` when a ticket is created and `on_ticket_changed` after every
change, inside their own transaction and with the ticket row locked (lock order: ticket, then
its targets). The periodic `sweep` (its body is in desk/sla/sweep.py) fires warnings and
breaches from the stored deadlines, so a restarted worker loses nothing.

Targets are never replayed from history: each keeps `used_seconds` of business time spent
before its current running stretch, which began at `resumed_at` (or `started_at`). Pausing adds
the stretch to `used_seconds`; resuming starts a new stretch and recomputes the deadline.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from desk.core.bulk import insert_rows
from desk.core.events import record_event
from desk.core.held import Held
from desk.sla.calendar import BusinessClock, CalendarUnusable, Slot
from desk.sla.models import (
    BusinessCalendar,
    BusinessHours,
    CalendarDay,
    DayKind,
    Metric,
    SlaPolicy,
    SlaTarget,
    TargetStatus,
)
from desk.tickets.models import SlaState, Status, Ticket

if TYPE_CHECKING:
    from desk.sla.sweep import SweepResult

# metric -> (minutes field on the policy, timestamp field on the ticket that meets it)
METRIC_FIELDS: dict[str, tuple[str, str]] = {
    Metric.FIRST_RESPONSE: ("first_response_minutes", "first_responded_at"),
    Metric.ACCEPT: ("accept_minutes", "accepted_at"),
    Metric.HUMAN: ("human_minutes", "human_contacted_at"),
    Metric.SOLUTION: ("solution_minutes", "solution_proposed_at"),
    Metric.RESOLUTION: ("resolution_minutes", "resolved_at"),
}
ACTIVE = (TargetStatus.RUNNING, TargetStatus.PAUSED)
FINISHED_TICKET = (Status.RESOLVED, Status.CLOSED)


# --- Clocks: built from calendar rows, cached per process ------------------------------------
CLOCK_TTL_SECONDS = 300.0
logger = logging.getLogger(__name__)
_clocks: dict[int, tuple[float, BusinessClock]] = {}


def clock_for(calendar_id: int) -> BusinessClock:
    """The calendar's clock from a per-process cache.

    Calendars change rarely. Saving a calendar, its hours or days drops the entry in this
    process at once (signals below); other processes (the worker) reload within the TTL.
    """
    hit = _clocks.get(calendar_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    clock = load_clock(calendar_id)
    _clocks[calendar_id] = (time.monotonic() + CLOCK_TTL_SECONDS, clock)
    return clock


def calendar_of(policy: SlaPolicy, metric: str) -> int:
    """The calendar one target counts on: the human-contact target may run on its own (7×24 by default)."""
    if metric == Metric.HUMAN and policy.human_calendar_id is not None:
        return policy.human_calendar_id
    return policy.calendar_id


def load_clock(calendar_id: int) -> BusinessClock:
    """Build a clock from the rows of one calendar (three small queries)."""
    calendar = BusinessCalendar.objects.get(pk=calendar_id)
    weekly: dict[int, list[Slot]] = defaultdict(list)
    for weekday, opens, closes in BusinessHours.objects.filter(calendar=calendar).values_list(
        "weekday", "opens", "closes"
    ):
        weekly[weekday].append((opens, closes))
    holidays: list[date] = []
    workdays: dict[date, int] = {}
    for day, kind, weekday in CalendarDay.objects.filter(calendar=calendar).values_list(
        "date", "kind", "hours_of_weekday"
    ):
        if kind == DayKind.HOLIDAY:
            holidays.append(day)
        else:
            workdays[day] = weekday
    return BusinessClock(
        time_zone=calendar.time_zone,
        always_open=calendar.always_open,
        weekly=weekly,
        holidays=holidays,
        workdays=workdays,
    )


def forget_clocks() -> None:
    """Drop every cached clock (tests, or after a bulk import that bypassed signals)."""
    _clocks.clear()


@receiver([post_save, post_delete], sender=BusinessCalendar)
@receiver([post_save, post_delete], sender=BusinessHours)
@receiver([post_save, post_delete], sender=CalendarDay)
def _calendar_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    calendar_id = instance.pk if isinstance(instance, BusinessCalendar) else instance.calendar_id
    _clocks.pop(calendar_id, None)
    if kwargs.get("raw") or (isinstance(instance, BusinessCalendar) and kwargs.get("signal") is post_delete):
        return
    _reschedule_after_commit(calendar_id)


def _reschedule_after_commit(calendar_id: int) -> None:
    """One reschedule job per calendar per transaction: a holiday import saves many day rows."""
    using = router.db_for_write(SlaTarget)
    pending = transaction.get_connection(using).run_on_commit
    if any(getattr(func, "calendar_id", None) == calendar_id for _sids, func, _robust in pending):
        return

    def enqueue() -> None:
        from desk.sla.tasks import reschedule_calendar_targets  # the tasks module imports this one

        reschedule_calendar_targets(calendar_id)

    enqueue.calendar_id = calendar_id  # type: ignore[attr-defined]
    transaction.on_commit(enqueue, using=using)


def reschedule_calendar(calendar_id: int, *, batch: int = 200) -> int:
    """Give every running target counted on this calendar its deadline again, from the calendar as it
    is now (a holiday added, opening hours changed): a promise made on the old hours is wrong, in
    either direction. Runs as a job after the change; tickets are locked a batch at a time, each gets
    an `sla.rescheduled` event when a deadline moved. Returns how many tickets changed."""
    _clocks.pop(calendar_id, None)
    on_calendar = Q(policy__calendar_id=calendar_id) | Q(metric=Metric.HUMAN, policy__human_calendar_id=calendar_id)
    running = SlaTarget.objects.filter(on_calendar, status=TargetStatus.RUNNING)
    ticket_ids = sorted(set(running.values_list("ticket_id", flat=True)))
    moved = 0
    for start in range(0, len(ticket_ids), batch):
        with transaction.atomic():
            for ticket in Ticket.objects.select_for_update().filter(pk__in=ticket_ids[start : start + batch]):
                targets = list(SlaTarget.objects.filter(ticket=ticket).select_related("policy"))
                work = _Pass(ticket, timezone.now(), targets)
                work.recalendar(calendar_id)
                moved += bool(work.moved)
                work.save()
    return moved


# --- Policy choice -------------------------------------------------------------------------
POLICIES_CACHE_SECONDS = 60
_POLICIES = Held(
    "desk:sla:policies:v2",
    lambda: list(SlaPolicy.objects.filter(active=True).order_by("position", "id")),
    POLICIES_CACHE_SECONDS,
)


def active_policies() -> list[SlaPolicy]:
    """The active policies by position: every new ticket picks one, admins edit them rarely. Held per
    process under a shared stamp (desk.core.held); saving or deleting a policy drops it (signal below);
    without a shared cache another process sees the change within POLICIES_CACHE_SECONDS, as it does
    for request types. The policies are shared: callers must not change them.
    """
    return _POLICIES()


@receiver([post_save, post_delete], sender=SlaPolicy)
def _policy_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    _POLICIES.forget()


def _policy_matches(policy: SlaPolicy, ticket: Ticket) -> bool:
    return (
        (policy.request_type_id is None or policy.request_type_id == ticket.request_type_id)
        and (policy.priority is None or policy.priority == ticket.priority)
        and (policy.channel == "" or policy.channel == ticket.channel)
        and (policy.customer_tier == "" or policy.customer_tier == ticket.customer_tier)
    )


def pick_policy(ticket: Ticket) -> SlaPolicy | None:
    """The first active policy by position whose every non-empty condition matches the ticket."""
    return next((p for p in active_policies() if _policy_matches(p, ticket)), None)


def wanted_targets(policy: SlaPolicy, ticket: Ticket) -> dict[str, int]:
    """metric -> target seconds; the human-contact target applies only to complex request types."""
    wanted: dict[str, int] = {}
    for metric, (minutes_field, _stamp) in METRIC_FIELDS.items():
        minutes = getattr(policy, minutes_field)
        if not minutes or (metric == Metric.HUMAN and not ticket.request_type.is_complex):
            continue
        wanted[metric] = minutes * 60
    return wanted


# --- Entry points called by ticket services ------------------------------------------------
def start_clock(ticket: Ticket, plan: _Pass | None = None) -> None:
    """Store a deadline per target of the ticket's policy (in create_ticket's transaction).

    `plan` is what `plan_clock` worked out before the transaction; without one it is worked out here.
    """
    work = plan if plan is not None else plan_clock(ticket)
    work.save()


def plan_clock(ticket: Ticket) -> _Pass:
    """Pick the policy and compute the deadlines of a ticket not yet saved, and put its SLA summary
    on it, so the ticket's INSERT carries it: it reads only (cached policies and calendars) and can
    run before the create transaction opens; `start_clock(ticket, plan)` then inserts the targets.
    """
    work = _Pass(ticket, timezone.now())
    policy = pick_policy(ticket)
    if policy is not None:
        work.first_targets(policy, wanted_targets(policy, ticket))
    work.settle()
    ticket.sla_state, ticket.sla_due_at = summarize(work.targets)
    return work


def on_ticket_changed(ticket: Ticket, *, policy_inputs_changed: bool = False) -> None:
    """Bring the ticket's targets in line with its state: met, paused, resumed, cancelled.

    Called by ticket services after they saved the (locked) ticket, in their transaction.
    """
    targets = list(SlaTarget.objects.filter(ticket=ticket).select_related("policy"))
    work = _Pass(ticket, timezone.now(), targets)
    if policy_inputs_changed:
        work.repick()
    work.settle()
    work.save()


# --- One pass over one ticket's targets ----------------------------------------------------
@dataclass
class _Pass:
    """The targets of one ticket, the changes made to them, and the events they call for."""

    ticket: Ticket
    now: datetime
    targets: list[SlaTarget] = field(default_factory=list)
    dirty: dict[int, set[str]] = field(default_factory=dict)
    completed: list[SlaTarget] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    policy_change: tuple[int | None, int | None] | None = None
    moved: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)
    # Calendars that could not give a deadline (unknown zone, never open): calendar id -> what went
    # wrong and the metrics left without one. The ticket goes on; `sla.calendar_invalid` says why.
    unusable: dict[int, tuple[str, list[str]]] = field(default_factory=dict)

    def _clock(self, calendar_id: int, metrics: Iterable[str]) -> BusinessClock | None:
        """The calendar's clock, or None (noted in `unusable`) when the calendar is misconfigured:
        one admin typo must not stop ticket intake or status changes."""
        try:
            return clock_for(calendar_id)
        except CalendarUnusable as error:
            self._unusable(calendar_id, error, metrics)
            return None

    def _unusable(self, calendar_id: int, error: Exception, metrics: Iterable[str]) -> None:
        _reason, seen = self.unusable.setdefault(calendar_id, (str(error), []))
        seen.extend(m for m in metrics if m not in seen)

    def set(self, target: SlaTarget, **values: Any) -> None:
        for name, value in values.items():
            if getattr(target, name) != value:
                setattr(target, name, value)
                self.dirty.setdefault(id(target), set()).add(name)

    def new_target(self, policy: SlaPolicy, metric: str, seconds: int) -> SlaTarget:
        target = SlaTarget(
            ticket=self.ticket,
            policy=policy,
            metric=metric,
            target_seconds=seconds,
            started_at=self.ticket.created_at or self.now,
        )
        self.targets.append(target)
        self.schedule(target)
        return target

    def first_targets(self, policy: SlaPolicy, wanted: dict[str, int]) -> None:
        """A new ticket's targets, as `new_target` makes them, with every deadline and warning time on one
        calendar found in one walk over it (they all count from the ticket's creation)."""
        started = self.ticket.created_at or self.now
        percent = policy.warn_at_percent
        warns = 0 < percent < 100
        on_calendar: dict[int, list[str]] = {}
        for metric in wanted:
            on_calendar.setdefault(calendar_of(policy, metric), []).append(metric)
        times: dict[str, tuple[datetime, datetime | None]] = {}
        for calendar_id, metrics in on_calendar.items():
            offsets = [wanted[m] for m in metrics] + ([wanted[m] * percent // 100 for m in metrics] if warns else [])
            clock = self._clock(calendar_id, metrics)
            try:
                found = clock.add_each(started, offsets) if clock is not None else None
            except CalendarUnusable as error:  # no opening hours at all
                self._unusable(calendar_id, error, metrics)
                found = None
            if found is None:
                continue  # these targets are skipped: no promise can be computed on this calendar
            for k, metric in enumerate(metrics):
                times[metric] = (found[k], found[len(metrics) + k] if warns else None)
        for metric, seconds in wanted.items():
            if metric in times:
                due_at, warn_at = times[metric]
                self.targets.append(_new_target(self.ticket, policy, metric, seconds, started, due_at, warn_at))

    def schedule(self, target: SlaTarget) -> None:
        """Deadline and warning time from the current stretch, after what was used before it."""
        policy = target.policy
        calendar_id = calendar_of(policy, target.metric)
        clock = self._clock(calendar_id, [target.metric])
        since = target.resumed_at or target.started_at
        warn_seconds = target.target_seconds * policy.warn_at_percent // 100
        warns = 0 < policy.warn_at_percent < 100
        try:
            due_at = clock.add(since, target.target_seconds - target.used_seconds) if clock is not None else None
            warn_at = clock.add(since, warn_seconds - target.used_seconds) if clock is not None and warns else None
        except CalendarUnusable as error:
            self._unusable(calendar_id, error, [target.metric])
            due_at = warn_at = None
        # Without a usable calendar the target runs with no deadline: the sweep has nothing to fire.
        self.set(target, due_at=due_at, warn_at=warn_at)

    # -- policy re-pick (priority or type changed)
    def repick(self) -> None:
        policy = pick_policy(self.ticket)
        wanted = wanted_targets(policy, self.ticket) if policy is not None else {}
        old_ids = {t.policy_id for t in self.targets if t.status in ACTIVE}
        count_before = len(self.targets)
        by_metric = {t.metric: t for t in self.targets}
        for metric, target in by_metric.items():
            if target.status == TargetStatus.CANCELLED and metric in wanted and policy is not None:
                if self.ticket.status not in FINISHED_TICKET:  # wanted again (type changed back)
                    self.set(target, status=TargetStatus.RUNNING, completed_at=None, resumed_at=self.now)
                    self._retarget(target, policy, wanted[metric])
                continue
            if target.status not in ACTIVE:
                continue
            if metric not in wanted or policy is None:
                used = self._used_until(target, self.now)
                self.set(target, status=TargetStatus.CANCELLED, used_seconds=used, completed_at=self.now)
            else:
                self._retarget(target, policy, wanted[metric])
        for metric, seconds in wanted.items():
            if metric not in by_metric and policy is not None:
                self.new_target(policy, metric, seconds)
        new_id = policy.pk if policy is not None else None
        if (old_ids and old_ids != {new_id}) or len(self.targets) > count_before:
            self.policy_change = (next(iter(old_ids), None), new_id)

    def _retarget(self, target: SlaTarget, policy: SlaPolicy, seconds: int) -> None:
        self.set(target, policy=policy, target_seconds=seconds)
        if target.status != TargetStatus.RUNNING:
            return  # a paused target gets its deadline when it resumes
        self._reschedule(target)

    def recalendar(self, calendar_id: int) -> None:
        """Running targets on this calendar take their deadlines from it again (`reschedule_calendar`)."""
        for target in self.targets:
            if target.status == TargetStatus.RUNNING and calendar_of(target.policy, target.metric) == calendar_id:
                before = target.due_at
                self._reschedule(target)
                if target.due_at != before:
                    self.moved[target.metric] = (before, target.due_at)

    def _reschedule(self, target: SlaTarget) -> None:
        self.schedule(target)
        # A new, later deadline is a new promise: warn and escalate again if it slips too.
        if target.due_at is not None and target.due_at > self.now and target.breached_at is not None:
            self.set(target, breached_at=None)
        if target.warn_at is not None and target.warn_at > self.now and target.warned_at is not None:
            self.set(target, warned_at=None)

    # -- state of the ticket -> state of each target
    def settle(self) -> None:
        for target in self.targets:
            if target.status in ACTIVE and self.ticket.merged_into_id is not None:
                # A merged duplicate's promises live on in the ticket it was merged into.
                used = self._used_until(target, self.now)
                self.set(target, status=TargetStatus.CANCELLED, used_seconds=used, completed_at=self.now)
            elif target.status in ACTIVE:
                self._settle_one(target)
            elif self._reopened(target):
                self._restart(target)

    def _reopened(self, target: SlaTarget) -> bool:
        """A resolution met earlier but undone: the ticket is open again and has no resolved_at."""
        return (
            target.metric == Metric.RESOLUTION
            and target.status in (TargetStatus.MET, TargetStatus.MISSED)
            and self.ticket.resolved_at is None
            and self.ticket.status not in FINISHED_TICKET
        )

    def _restart(self, target: SlaTarget) -> None:
        """The clock goes on from the business time already used; a breach stays a breach."""
        self.set(target, status=TargetStatus.RUNNING, completed_at=None, resumed_at=self.now)
        self.schedule(target)
        self.resumed.append(target.metric)
        if self.ticket.status == Status.PENDING_CUSTOMER:
            self._pause(target)

    def _settle_one(self, target: SlaTarget) -> None:
        stamp = getattr(self.ticket, METRIC_FIELDS[target.metric][1])
        if stamp is not None:
            self._complete(target, stamp)
        elif self.ticket.status in FINISHED_TICKET:
            self._drop(target)
        elif self.ticket.status == Status.PENDING_CUSTOMER and target.status == TargetStatus.RUNNING:
            self._pause(target)
        elif self.ticket.status != Status.PENDING_CUSTOMER and target.status == TargetStatus.PAUSED:
            self._resume(target)

    def _used_until(self, target: SlaTarget, moment: datetime) -> int:
        if target.status != TargetStatus.RUNNING:
            return target.used_seconds
        clock = self._clock(calendar_of(target.policy, target.metric), [target.metric])
        if clock is None:
            return target.used_seconds  # time on a broken calendar cannot be counted
        return target.used_seconds + clock.between(target.resumed_at or target.started_at, moment)

    def _complete(self, target: SlaTarget, stamp: datetime) -> None:
        used = self._used_until(target, stamp)
        if target.status == TargetStatus.RUNNING and target.due_at is not None:
            late = stamp > target.due_at
        else:
            late = used > target.target_seconds
        late = late or target.breached_at is not None
        status = TargetStatus.MISSED if late else TargetStatus.MET
        self.set(target, status=status, completed_at=stamp, used_seconds=used)
        self.completed.append(target)

    def _drop(self, target: SlaTarget) -> None:
        """Resolved or closed before this milestone: late if it was already overdue, else moot."""
        used = self._used_until(target, self.now)
        overdue = target.breached_at is not None or used > target.target_seconds
        status = TargetStatus.MISSED if overdue else TargetStatus.CANCELLED
        self.set(target, status=status, used_seconds=used, completed_at=None if overdue else self.now)
        if overdue:
            self.completed.append(target)

    def _pause(self, target: SlaTarget) -> None:
        used = self._used_until(target, self.now)
        self.set(target, status=TargetStatus.PAUSED, used_seconds=used, resumed_at=None, due_at=None, warn_at=None)
        self.paused.append(target.metric)

    def _resume(self, target: SlaTarget) -> None:
        self.set(target, status=TargetStatus.RUNNING, resumed_at=self.now)
        self.schedule(target)
        self.resumed.append(target.metric)

    # -- writing
    def save(self) -> None:
        """Insert new targets in one query; update only the changed fields of the others.

        Naming the fields matters: warned_at and breached_at belong to the sweep, which may
        have claimed them since we read the row; we write them only when re-arming on purpose.
        """
        new = [t for t in self.targets if t.pk is None]
        if new:
            _insert_targets(new)
        new_ids = {id(t) for t in new}
        for target in self.targets:
            fields = self.dirty.get(id(target))
            if fields and id(target) not in new_ids:
                target.save(update_fields=sorted(fields))
        write_summary(self.ticket, self.targets)
        self._record_events()

    def _record_events(self) -> None:
        if self.policy_change is not None:
            before, after = self.policy_change
            self._event("sla.policy_changed", before={"policy": before}, after={"policy": after})
        for target in self.completed:
            verb = "sla.met" if target.status == TargetStatus.MET else "sla.missed"
            self._event(verb, data=_target_facts(target))
        if self.paused:
            self._event("sla.paused", data={"metrics": self.paused})
        if self.resumed:
            due = {t.metric: t.due_at for t in self.targets if t.metric in self.resumed}
            self._event("sla.resumed", data={"metrics": self.resumed, "due_at": due})
        if self.moved:
            was = {metric: old for metric, (old, _new) in self.moved.items()}
            now_due = {metric: new for metric, (_old, new) in self.moved.items()}
            self._event("sla.rescheduled", before=was, after=now_due)
        for calendar_id, (reason, metrics) in self.unusable.items():
            logger.warning("SLA calendar %s is unusable (%s): ticket %s has no %s deadline", calendar_id, reason,
                           self.ticket.pk, ", ".join(metrics))  # fmt: skip
            self._event("sla.calendar_invalid", data={"calendar": calendar_id, "error": reason, "metrics": metrics})

    def _event(self, verb: str, **kwargs: Any) -> None:
        ticket = self.ticket
        record_event(verb, subject=ticket, ticket_id=ticket.pk, customer_id=ticket.customer_id, **kwargs)


_TARGET_FIELDS = [f.attname for f in SlaTarget._meta.concrete_fields if not f.primary_key]
# A new target's values before it is scheduled: the fields' defaults (none of them callable).
_TARGET_BLANK = {f.attname: f.get_default() for f in SlaTarget._meta.concrete_fields}
_TARGET_COLUMNS = list(_TARGET_BLANK)


def _new_target(
    ticket: Ticket, policy: SlaPolicy, metric: str, seconds: int, started: datetime, due: datetime, warn: Any
) -> SlaTarget:
    """`SlaTarget(ticket=..., policy=..., ...)` with its deadlines, built from positional values (the keyword
    path through the relations' descriptors cost more than the target's INSERT): ticket and policy cached."""
    values = _TARGET_BLANK | {
        "ticket_id": ticket.pk, "policy_id": policy.pk, "metric": metric, "target_seconds": seconds,
        "started_at": started, "due_at": due, "warn_at": warn,
    }  # fmt: skip
    target = SlaTarget(*[values[name] for name in _TARGET_COLUMNS])
    SlaTarget.ticket.field.set_cached_value(target, ticket)
    SlaTarget.policy.field.set_cached_value(target, policy)
    return target


def _insert_targets(targets: list[SlaTarget]) -> None:
    """One multi-row INSERT from the targets' values (bulk_create spends more in per-field Python
    than the insert costs: a new ticket's targets go in on every create)."""
    for target in targets:
        target.ticket_id = target.ticket.pk  # the ticket was saved after the target was built
    rows = ([getattr(t, name) for name in _TARGET_FIELDS] for t in targets)
    db = router.db_for_write(SlaTarget)
    for target, pk in zip(targets, insert_rows(SlaTarget, _TARGET_FIELDS, rows), strict=True):
        target.pk = pk
        target._state.adding, target._state.db = False, db


def _target_facts(target: SlaTarget) -> dict[str, Any]:
    return {
        "metric": target.metric,
        "target_seconds": target.target_seconds,
        "used_seconds": target.used_seconds,
        "due_at": target.due_at,
        "completed_at": target.completed_at,
        "policy": target.policy_id,
    }


# --- The ticket's summary columns ------------------------------------------------------------
def summarize(targets: Sequence[SlaTarget]) -> tuple[str, datetime | None]:
    """(sla_state, sla_due_at): the worst state and the earliest running deadline."""
    running = [t for t in targets if t.status == TargetStatus.RUNNING]
    due = min((t.due_at for t in running if t.due_at is not None), default=None)
    if not targets:
        return SlaState.NONE, None
    if any(t.breached_at is not None for t in running):
        return SlaState.BREACHED, due
    if any(t.warned_at is not None for t in running):
        return SlaState.WARNING, due
    if running:
        return SlaState.OK, due
    if any(t.status == TargetStatus.PAUSED for t in targets):
        return SlaState.PAUSED, None
    if any(t.status == TargetStatus.MISSED for t in targets):
        return SlaState.BREACHED, None
    return SlaState.MET, None


def write_summary(ticket: Ticket, targets: Sequence[SlaTarget]) -> None:
    """Store the summary with a queryset update, so fields the caller holds are not clobbered."""
    state, due = summarize(targets)
    if ticket.sla_state == state and ticket.sla_due_at == due:
        return
    Ticket.objects.filter(pk=ticket.pk).update(sla_state=state, sla_due_at=due)
    ticket.sla_state, ticket.sla_due_at = state, due


# --- Calendar days (holiday import) --------------------------------------------------------
@dataclass(frozen=True)
class DaySpec:
    date: date
    kind: str
    name: str = ""
    hours_of_weekday: int = 0


def set_calendar_days(calendar: BusinessCalendar, days: Iterable[DaySpec], *, by: Any = None) -> dict[str, int]:
    """Add or replace holidays and make-up working days of a calendar (one event for the import)."""
    counts = {"created": 0, "updated": 0}
    with transaction.atomic():
        for spec in days:
            _row, created = CalendarDay.objects.update_or_create(
                calendar=calendar,
                date=spec.date,
                defaults={"kind": spec.kind, "name": spec.name[:100], "hours_of_weekday": spec.hours_of_weekday},
            )
            counts["created" if created else "updated"] += 1
        record_event("sla.calendar_days_imported", actor=by, subject=calendar, data=counts)
    _clocks.pop(calendar.pk, None)
    return counts


def dates_between(first: date, last: date) -> list[date]:
    """Every date from `first` to `last` inclusive."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --- The periodic sweep --------------------------------------------------------------------
def sweep(now: datetime | None = None) -> SweepResult:
    """Fire every warning and breach that came due by `now`, once (see desk/sla/sweep.py)."""
    from desk.sla import sweep as sweeping  # the sweep builds on the helpers above

    return sweeping.run(now)
