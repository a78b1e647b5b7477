"""The periodic SLA sweep: warn at N% of a target, escalate on breach, each exactly once.

Deadlines live in SlaTarget rows, so the sweep needs no memory of its own: whatever came due
while no worker ran (a restart, an hour down) is still due at the next run. Rows are claimed
with conditional updates (`... WHERE warned_at IS NULL` / `breached_at IS NULL`): a row this
worker updated is its own, a row another worker updated first is skipped, so nothing fires twice.

Warnings and breaches can be many (100,000s after an outage) and are handled in bulk, a batch of
tickets per transaction and a few statements per batch: events written from plain rows, each
escalation planned in memory and written with one UPDATE per distinct outcome. Every fired timer
keeps its own event; a person who would get more than DIGEST_AFTER notifications of a kind in one
sweep gets one summary instead (`_Notes`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Min, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.models import ROLE_TIER, Availability, Notification, Role, Team
from desk.core.bulk import id_list, insert_rows
from desk.core.events import EventRow, diff, record_event_rows
from desk.sla.models import Metric, SlaPolicy, SlaTarget, TargetStatus
from desk.tickets.models import OPEN_STATUSES, TICKET_PREFIX, Priority, SlaState, Ticket

log = logging.getLogger(__name__)
User = get_user_model()

BATCH_SIZE = 2000
NOTE_FIELDS = ["user_id", "verb", "text", "link", "event_id"]
RUNNING = TargetStatus.RUNNING
# More notifications of one kind for one person in one sweep: one summary notification instead,
# linking to the queue (a person with 5,000 warnings gets one line, not 5,000).
DIGEST_AFTER = 20
WARNED = {"sla_state": SlaState.WARNING.value}  # every warning event's `after`: one object, serialised once


class SweepResult(TypedDict):
    warned: int  # warnings fired: an event and a notification each
    warnings_skipped: int  # claimed silently: the deadline itself had passed too (breach wins)
    breached: int  # targets marked breached
    escalated: int  # tickets escalated (one escalation per ticket per sweep)
    seconds: float


def run(now: datetime | None = None) -> SweepResult:
    """Breaches first, then warnings; both claim rows so a second worker finds nothing to do."""
    started = time.perf_counter()
    now = now or timezone.now()
    breached, escalated = _sweep_breaches(now)
    warned, skipped = _sweep_warnings(now)
    result = SweepResult(
        warned=warned,
        warnings_skipped=skipped,
        breached=breached,
        escalated=escalated,
        seconds=round(time.perf_counter() - started, 3),
    )
    if breached or warned:
        log.info("sla sweep at %s: %s", now.isoformat(), result)
    return result


# --- Notifications: one per ticket, or one summary per person ---------------------------------
class _Note(NamedTuple):
    user_id: int
    kind: str  # "warning", "escalation" (to a supervisor), "breached" (to the owner), "escalated" (to the new owner)
    text: str
    link: str
    event_id: int


class _Notes:
    """The notifications of one sweep: one per ticket while a person gets few of a kind; past
    DIGEST_AFTER, one summary notification per person and kind for the whole sweep, linking to the
    queue, its count brought up to date batch by batch (each batch commits its own part, so a
    crash leaves the count of what was really fired).

    A person is summarised from the start when the sweep expects more than DIGEST_AFTER for them
    (`expect`, counted over everything due before the first batch), or from the batch that takes
    them past it. What a batch writes is kept only when its transaction commits (`keep`/`drop`).
    """

    VERBS = {
        "warning": "sla.warning",
        "escalation": "sla.breached",
        "breached": "sla.breached",
        "escalated": "sla.breached",
    }

    def __init__(self, wording: _Wording) -> None:
        self.wording = wording
        self.expected: Counter[tuple[int, str]] = Counter()
        self.sent: Counter[tuple[int, str]] = Counter()  # one-per-ticket notes written
        self.digests: dict[tuple[int, str], tuple[int, int]] = {}  # (user, kind) -> (notification id, count)
        self._staged: tuple[Counter[tuple[int, str]], dict[tuple[int, str], tuple[int, int]]] | None = None

    def expect(self, counts: Iterable[tuple[int | None, str, int]]) -> None:
        for user_id, kind, count in counts:
            if user_id is not None:
                self.expected[(user_id, kind)] += count

    def write(self, notes: list[_Note]) -> None:
        """Insert this batch's notifications (in the caller's transaction)."""
        batch = Counter((note.user_id, note.kind) for note in notes)
        sent, digests = Counter(self.sent), dict(self.digests)
        summed = {
            key
            for key, count in batch.items()
            if key in digests or self.expected[key] > DIGEST_AFTER or sent[key] + count > DIGEST_AFTER
        }
        single = [n for n in notes if (n.user_id, n.kind) not in summed]
        for note in single:
            sent[(note.user_id, note.kind)] += 1
        first: dict[tuple[int, str], int] = {}
        for note in notes:
            first.setdefault((note.user_id, note.kind), note.event_id)
        new = [key for key in summed if key not in digests]
        rows = [(n.user_id, self.VERBS[n.kind], n.text[:500], n.link, n.event_id) for n in single]
        rows += [
            (user, self.VERBS[kind], self._digest(kind, batch[(user, kind)]), DIGEST_LINKS[kind], first[(user, kind)])
            for user, kind in new
        ]
        ids = insert_rows(Notification, NOTE_FIELDS, rows)
        for key, pk in zip(new, ids[len(single) :], strict=True):
            digests[key] = (pk, batch[key])
        grown = {key: (digests[key][0], digests[key][1] + batch[key]) for key in summed if key not in new}
        if grown:
            self._update(grown)
            digests.update(grown)
        self._staged = (sent, digests)

    def keep(self) -> None:
        """The batch committed: its counts stand."""
        if self._staged is not None:
            self.sent, self.digests = self._staged
        self._staged = None

    def drop(self) -> None:
        """The batch rolled back: forget what it wrote."""
        self._staged = None

    def _digest(self, kind: str, count: int) -> str:
        return (self.wording.digests[kind] % {"count": f"{count:,}"})[:500]

    def _update(self, grown: dict[tuple[int, str], tuple[int, int]]) -> None:
        """The summaries' new counts in one statement; unread again, as there is news."""
        qn = connection.ops.quote_name
        cases = " ".join(["WHEN %s THEN %s"] * len(grown))
        params: list[Any] = []
        for (_user, kind), (pk, count) in grown.items():
            params += [pk, self._digest(kind, count)]
        ids = [pk for pk, _count in grown.values()]
        marks = ", ".join(["%s"] * len(ids))
        sql = (
            f"UPDATE {qn(Notification._meta.db_table)} SET {qn('text')} = CASE {qn('id')} {cases} END,"  # noqa: S608  names are ours, values bound
            f" {qn('read_at')} = NULL WHERE {qn('id')} IN ({marks})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *ids])


DIGEST_LINKS = {
    "warning": "/?tab=breaching&sla=warning",
    "escalation": "/?tab=breaching&sla=breached",
    "breached": "/?tab=breaching&sla=breached",
    "escalated": "/?tab=mine&sla=breached",
}


def _in_batch(notes: _Notes, work: Any) -> Any:
    """Run `work()` (one transaction) and keep the notes' counts only if it committed."""
    try:
        result = work()
    except Exception:
        notes.drop()
        raise
    notes.keep()
    return result


# --- Warnings, in bulk -----------------------------------------------------------------------
def _sweep_warnings(now: datetime) -> tuple[int, int]:
    """Batches of due warnings, each in one transaction, until a batch comes back short."""
    warned = skipped = 0
    notes = _Notes(_Wording())
    first = True
    while True:
        found, fired, silent = _in_batch(notes, lambda first=first: _warning_batch(now, notes, first=first))
        warned, skipped, first = warned + fired, skipped + silent, False
        if found < BATCH_SIZE:
            return warned, skipped


def _warning_batch(now: datetime, notes: _Notes, *, first: bool) -> tuple[int, int, int]:
    """In one transaction: find due warnings (no lock), lock their tickets in id order, then claim the
    targets. Lock order tickets, then targets, as the ticket services take them: claiming the targets
    first (they are updated) and then touching the tickets could deadlock with an agent's change to
    the same ticket on PostgreSQL. Returns (found, fired, claimed silently)."""
    with transaction.atomic():
        due = _due_warnings(now, BATCH_SIZE)
        if first and len(due) == BATCH_SIZE:  # more than one batch: who will get how many, for the digests
            notes.expect(_expected_warnings(now))
        if not due:
            return 0, 0, 0
        _lock_tickets({t for _pk, t in due})
        claimed = _claim_warnings(now, [pk for pk, _t in due])
        fired, silent = _fire_warnings(claimed, now, notes) if claimed else (0, 0)
    return len(due), fired, silent


def _lock_tickets(ticket_ids: Iterable[int]) -> None:
    """`SELECT ... FOR UPDATE` on the tickets, in id order (no-op on SQLite: the claim takes the write lock)."""
    locked = Ticket.objects.select_for_update().filter(pk__in=id_list(ticket_ids)).order_by("pk")
    list(locked.values_list("pk"))


def _due_warnings(now: datetime, limit: int) -> list[tuple[int, int]]:
    """(target, ticket) of up to `limit` warnings due, soonest first (read without locking)."""
    due = SlaTarget.objects.filter(status=RUNNING, warned_at=None, warn_at__lte=now).order_by("warn_at", "id")
    return list(due.values_list("pk", "ticket_id")[:limit])


def _expected_warnings(now: datetime) -> list[tuple[int | None, str, int]]:
    """How many warnings each person is about to get (assignee, else the team lead), for the digests."""
    due = SlaTarget.objects.filter(status=RUNNING, warned_at=None, warn_at__lte=now, due_at__gt=now)
    who = due.annotate(who=Coalesce("ticket__assignee_id", "ticket__team__lead_id")).order_by()
    return [(user, "warning", n) for user, n in who.values_list("who").annotate(n=Count("id"))]


def _claim_warnings(now: datetime, target_ids: list[int]) -> list[int]:
    """Claim the due warnings among `target_ids` in one statement and return the ids this worker got.

    This is the bulk form of `filter(pk=..., warned_at=None, status=running).update(...)`:
    `UPDATE ... RETURNING` (PostgreSQL; SQLite 3.35+) repeats the conditions in its WHERE, and
    a row another worker updated first no longer matches them, so each row has one owner.
    """
    qn = connection.ops.quote_name
    table = qn(SlaTarget._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    marks = ", ".join(["%s"] * len(target_ids))
    sql = (
        f"UPDATE {table} SET {qn('warned_at')} = %s WHERE {qn('id')} IN ({marks})"  # noqa: S608  names are ours, values bound
        f" AND {qn('status')} = %s AND {qn('warned_at')} IS NULL AND {qn('warn_at')} <= %s RETURNING {qn('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [stamp, *target_ids, RUNNING, stamp])
        return [row[0] for row in cursor.fetchall()]


def _fire_warnings(target_ids: list[int], now: datetime, notes: _Notes) -> tuple[int, int]:
    """One event per warning and its notification (or a person's summary), a handful of statements per batch."""
    rows = SlaTarget.objects.filter(pk__in=id_list(target_ids)).order_by("pk")
    facts = list(
        rows.values_list(
            "pk", "ticket_id", "metric", "due_at", "ticket__customer_id", "ticket__assignee_id", "ticket__team__lead_id"
        )
    )
    # rows past their deadline too are claimed silently: the breach is the news, not the warning
    live: list[tuple[int, int, str, datetime, int | None, int | None, int | None]] = [
        (pk, ticket, metric, due, customer, assignee, lead)
        for pk, ticket, metric, due, customer, assignee, lead in facts
        if due is not None and due > now
    ]
    created_at = timezone.now()
    iso: dict[datetime, str] = {}
    event_rows: list[EventRow] = []
    for target_id, ticket_id, metric, due_at, customer_id, _assignee, _lead in live:
        when = iso.get(due_at) or iso.setdefault(due_at, due_at.isoformat())
        data = {"metric": metric, "target": target_id, "due_at": when}
        event_rows.append(
            (created_at, None, "system", "sla.warning", "ticket", ticket_id, customer_id, ticket_id, {}, WARNED, data)
        )
    events = record_event_rows(event_rows)
    wording = notes.wording
    batch = []
    for event, (_pk, ticket_id, metric, due_at, _customer, assignee_id, lead_id) in zip(events, live, strict=True):
        who = assignee_id or lead_id  # unassigned: the team lead hears of it
        if who is not None:
            text = wording.warning(metric, due_at) % {"number": f"{TICKET_PREFIX}{ticket_id:07d}"}
            batch.append(_Note(who, "warning", text, f"/tickets/{ticket_id}/", event.id))
    notes.write(batch)
    tickets = id_list({row[1] for row in live})
    Ticket.objects.filter(pk__in=tickets, sla_state=SlaState.OK).update(sla_state=SlaState.WARNING)
    return len(live), len(facts) - len(live)


class _Wording:
    """Notification texts translated once per sweep, not once per row (a mass sweep writes 100,000s)."""

    def __init__(self) -> None:
        self.labels = {m.value: str(m.label) for m in Metric}
        self.due = _("%(number)s: %(metric)s due at %(time)s")
        self.escalation = _("Escalation: %(number)s missed %(metrics)s (owner: %(owner)s)")
        self.breached = _("SLA breached on %(number)s: %(metrics)s")
        self.escalated = _("%(number)s was escalated to you after an SLA breach")
        self.nobody = _("nobody")
        self.digests = {
            "warning": _("%(count)s tickets are near an SLA deadline"),
            "escalation": _("Escalation: %(count)s tickets missed an SLA target"),
            "breached": _("SLA breached on %(count)s of your tickets"),
            "escalated": _("%(count)s tickets were escalated to you after an SLA breach"),
        }
        self.zone = timezone.get_current_timezone()
        self._warnings: dict[tuple[str, datetime], str] = {}

    def warning(self, metric: str, due_at: datetime) -> str:
        """The text with `%(number)s` left in for the ticket."""
        text = self._warnings.get((metric, due_at))
        if text is None:
            time = due_at.astimezone(self.zone).strftime("%m-%d %H:%M")
            label = self.labels[metric].replace("%", "%%")
            text = self._warnings[(metric, due_at)] = self.due.replace("%(metric)s", label).replace("%(time)s", time)
        return text


# --- Breaches, in bulk ---------------------------------------------------------------------
def _sweep_breaches(now: datetime) -> tuple[int, int]:
    """Everything due by `now`, a batch of tickets per transaction; a failing batch is retried ticket by
    ticket, so one broken ticket cannot hold the others back (its rows stay due for the next sweep)."""
    due = (
        SlaTarget.objects.filter(status=RUNNING, breached_at=None, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("pk", "ticket_id", "ticket__assignee_id", "ticket__team_id")
    )
    by_ticket: dict[int, list[int]] = defaultdict(list)
    owners: dict[int, tuple[int | None, int | None]] = {}
    for target_id, ticket_id, owner_id, team_id in due.iterator(chunk_size=BATCH_SIZE):
        by_ticket[ticket_id].append(target_id)
        owners[ticket_id] = (owner_id, team_id)
    tickets = list(by_ticket)
    if not tickets:
        return 0, 0
    sweep = _Breaches(_Tiers(), _Notes(_Wording()))
    if len(tickets) > BATCH_SIZE:  # more than one batch: who will hear of how many, for the digests
        sweep.expect(Counter(owners.values()))
    breached = escalated = 0
    for start in range(0, len(tickets), BATCH_SIZE):
        batch = {t: by_ticket[t] for t in tickets[start : start + BATCH_SIZE]}
        try:
            done = sweep.batch(batch, now)
        except Exception:
            if len(batch) == 1:
                log.exception("sla escalation failed for ticket %s", next(iter(batch)))
                continue
            log.warning("sla escalation batch failed, retrying its %s tickets one by one", len(batch), exc_info=True)
            done = (0, 0)
            for ticket_id, target_ids in batch.items():
                try:
                    one = sweep.batch({ticket_id: target_ids}, now)
                except Exception:
                    log.exception("sla escalation failed for ticket %s", ticket_id)
                    continue
                done = (done[0] + one[0], done[1] + one[1])
        breached, escalated = breached + done[0], escalated + done[1]
    return breached, escalated


def _claim_breaches(target_ids: list[int], now: datetime) -> list[int]:
    """The bulk form of `filter(pk=..., status=running, breached_at=None, due_at__lte=now).update(...)`."""
    if not target_ids:
        return []
    qn = connection.ops.quote_name
    stamp = connection.ops.adapt_datetimefield_value(now)
    marks = ", ".join(["%s"] * len(target_ids))
    sql = (
        f"UPDATE {qn(SlaTarget._meta.db_table)} SET {qn('breached_at')} = %s"  # noqa: S608  names are ours, values bound
        f" WHERE {qn('id')} IN ({marks}) AND {qn('status')} = %s AND {qn('breached_at')} IS NULL"
        f" AND {qn('due_at')} <= %s RETURNING {qn('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [stamp, *target_ids, RUNNING, stamp])
        return [row[0] for row in cursor.fetchall()]


class _Locked(NamedTuple):
    pk: int
    priority: int
    assignee_id: int | None
    team_id: int | None
    customer_id: int | None
    sla_state: str


class _Plan(NamedTuple):
    ticket: _Locked
    policy: SlaPolicy
    owner: Any
    new_owner: Any
    supervisors: list[Any]
    before: dict[str, Any]
    after: dict[str, Any]


class _Breaches:
    """One sweep's breaches, batch by batch. Who is up the tiers (and how loaded) is read once per sweep
    and kept current in memory as batches hand tickets up; a batch that rolls back takes its hand-overs
    and its notifications' counts back with it."""

    def __init__(self, tiers: _Tiers, notes: _Notes) -> None:
        self.tiers, self.notes = tiers, notes
        self._json: dict[Any, Any] = {}  # equal before/after/data objects shared, so serialised once

    def expect(self, owners: Counter[tuple[int | None, int | None]]) -> None:
        """Who will hear of how many (from the due tickets, read without locks): each owner, and the
        supervisors above them; the new owners are counted as the batches hand tickets to them."""
        self.tiers.load_owners({owner for owner, _team in owners if owner is not None})
        expected: list[tuple[int | None, str, int]] = []
        for (owner_id, team_id), count in owners.items():
            owner = self.tiers.user(owner_id)
            expected.append((owner_id, "breached", count))
            expected += [(u.pk, "escalation", count) for u in self.tiers.supervisors_of(team_id, owner)]
        self.notes.expect(expected)

    def batch(self, due: dict[int, list[int]], now: datetime) -> tuple[int, int]:
        moved = dict(self.tiers.moved)
        try:
            return _in_batch(self.notes, lambda: self._batch(due, now))
        except Exception:
            self.tiers.moved = defaultdict(int, moved)
            raise

    def _batch(self, due: dict[int, list[int]], now: datetime) -> tuple[int, int]:
        """In one transaction: lock the tickets (lock order: tickets, then targets), claim their breaches
        with one `UPDATE ... RETURNING`, and escalate each claimed ticket once, set-based."""
        with transaction.atomic():
            locked = (
                Ticket.objects.select_for_update()
                .filter(pk__in=id_list(due))
                .order_by("pk")
                .values_list("pk", "priority", "assignee_id", "team_id", "customer_id", "sla_state")
            )
            tickets = {row[0]: _Locked(*row) for row in locked}
            claimed = _claim_breaches([t for pk in tickets for t in due[pk]], now)
            if not claimed:
                return 0, 0
            rows = SlaTarget.objects.filter(pk__in=id_list(claimed)).order_by("pk")
            breached: dict[int, list[tuple[str, datetime, int]]] = defaultdict(list)
            for ticket_id, metric, due_at, policy_id in rows.values_list("ticket_id", "metric", "due_at", "policy_id"):
                breached[ticket_id].append((metric, due_at or now, policy_id))  # claimed: due_at <= now
            self._escalate_all({pk: tickets[pk] for pk in breached}, breached)
        return len(claimed), len(breached)

    def _escalate_all(self, tickets: dict[int, _Locked], breached: dict[int, list[tuple[str, datetime, int]]]) -> None:
        """Do what each policy says (raise priority, reassign up the tiers, notify the supervisor) for many
        tickets: one UPDATE per distinct outcome, one bulk insert of events, one of notifications."""
        policies = SlaPolicy.objects.in_bulk({rows[0][2] for rows in breached.values()})
        tiers = self.tiers
        tiers.load_owners({t.assignee_id for t in tickets.values() if t.assignee_id is not None})
        groups: dict[tuple[int | None, int | None, int | None], list[int]] = defaultdict(list)
        plans = []
        for ticket in tickets.values():
            policy = policies[breached[ticket.pk][0][2]]
            owner = tiers.user(ticket.assignee_id)
            before = {"priority": ticket.priority, "assignee": ticket.assignee_id, "team": ticket.team_id}
            after = dict(before)
            if policy.escalate_raise_priority:
                after["priority"] = min(ticket.priority + 1, Priority.URGENT)
            new_owner = tiers.someone_above(ticket.team_id, owner) if policy.escalate_reassign_up else None
            if new_owner is not None:
                after["assignee"], after["team"] = new_owner.pk, new_owner.staff.team_id
            supervisors = tiers.supervisors_of(ticket.team_id, owner) if policy.escalate_notify_supervisor else []
            groups[(after["priority"], after["assignee"], after["team"])].append(ticket.pk)
            plans.append(_Plan(ticket, policy, owner, new_owner, supervisors, before, after))

        earliest = (
            SlaTarget.objects.filter(ticket_id=OuterRef("pk"), status=RUNNING)
            .order_by()
            .values("ticket_id")
            .annotate(first=Min("due_at"))
            .values("first")
        )
        stamp = timezone.now()
        for (priority, assignee, team), ids in groups.items():
            Ticket.objects.filter(pk__in=id_list(ids)).update(
                priority=priority,
                assignee_id=assignee,
                team_id=team,
                sla_state=SlaState.BREACHED,  # a claimed target is running and breached: the worst state
                sla_due_at=Subquery(earliest),
                updated_at=stamp,
            )

        events = record_event_rows([self._event(plan, breached[plan.ticket.pk], stamp) for plan in plans])
        wording = self.notes.wording
        notes = [
            note
            for event, plan in zip(events, plans, strict=True)
            for note in _breach_notes(event.id, plan, breached[plan.ticket.pk], wording)
        ]
        self.notes.write(notes)

    def _event(self, plan: _Plan, rows: list[tuple[str, datetime, int]], stamp: datetime) -> EventRow:
        ticket = plan.ticket
        b, a = diff(plan.before | {"sla_state": ticket.sla_state}, plan.after | {"sla_state": SlaState.BREACHED.value})
        notified = tuple(u.pk for u in plan.supervisors)
        reassigned = plan.new_owner.pk if plan.new_owner is not None else None
        metrics = tuple((metric, due) for metric, due, _policy in rows)
        data = self._json.get(("data", metrics, plan.policy.pk, notified, reassigned))
        if data is None:
            data = self._json[("data", metrics, plan.policy.pk, notified, reassigned)] = {
                "metrics": [metric for metric, _due in metrics],
                "due_at": {metric: due.isoformat() for metric, due in metrics},
                "policy": plan.policy.pk,
                "notified": list(notified),
                "reassigned_to": reassigned,
            }
        before = self._json.setdefault(("b", *b.items()), b)
        after = self._json.setdefault(("a", *a.items()), a)
        return (
            stamp,
            None,
            "system",
            "sla.breached",
            "ticket",
            ticket.pk,
            ticket.customer_id,
            ticket.pk,
            before,
            after,
            data,
        )


def _breach_notes(event_id: int, plan: _Plan, rows: list[tuple[str, datetime, int]], wording: _Wording) -> list[_Note]:
    ticket, owner, new_owner = plan.ticket, plan.owner, plan.new_owner
    facts = {
        "number": f"{TICKET_PREFIX}{ticket.pk:07d}",
        "metrics": ", ".join(wording.labels[metric] for metric, _due, _p in rows),
        "owner": owner.get_username() if owner is not None else wording.nobody,
    }
    link = f"/tickets/{ticket.pk}/"
    notes = [_Note(u.pk, "escalation", wording.escalation % facts, link, event_id) for u in plan.supervisors]
    if owner is not None:
        notes.append(_Note(owner.pk, "breached", wording.breached % facts, link, event_id))
    if new_owner is not None:
        notes.append(_Note(new_owner.pk, "escalated", wording.escalated % facts, link, event_id))
    return notes


# --- Who is up the tiers -------------------------------------------------------------------
class _Tiers:
    """Who owns, leads and stands above, read once per batch: teams, owners, and each team's available
    people with their open-ticket counts, kept current in memory as the batch hands tickets up."""

    def __init__(self) -> None:
        self.teams: dict[int, Team] = Team.objects.select_related("lead").in_bulk()
        self.owners: dict[int, Any] = {}
        self._leads: dict[int, list[Any]] = {}
        self._supervisors: dict[tuple[int | None, int | None], list[Any]] = {}
        self._people: dict[int, list[Any]] = {}
        self._fits: dict[tuple[int, tuple[Role, ...], int | None], list[tuple[int, int, Any]]] = {}
        self._counted: dict[int, int] = {}  # open tickets per person, as read
        self.moved: dict[int, int] = defaultdict(int)  # tickets the sweep hands to (+) or away from (-) them

    def load_owners(self, owner_ids: set[int]) -> None:
        missing = owner_ids - self.owners.keys()
        if missing:
            self.owners.update(User.objects.select_related("staff").in_bulk(missing))

    def user(self, user_id: int | None) -> Any:
        return self.owners.get(user_id) if user_id is not None else None

    def team_of(self, team_id: int | None, owner: Any) -> Team | None:
        """The owner's team, else the ticket's (`team_id`)."""
        staff = getattr(owner, "staff", None)
        if staff is not None and staff.team_id is not None:
            return self.teams.get(staff.team_id)
        return self.teams.get(team_id) if team_id else None

    def supervisors_of(self, team_id: int | None, owner: Any) -> list[Any]:
        """The owner's team lead, else its supervisors; the escalation team's if the owner leads."""
        team = self.team_of(team_id, owner)
        owner_id = getattr(owner, "pk", None)
        key = (team.pk if team is not None else None, owner_id)
        if key not in self._supervisors:
            self._supervisors[key] = self._supervisors_up(team, owner_id)
        return self._supervisors[key]

    def _supervisors_up(self, team: Team | None, owner_id: int | None) -> list[Any]:
        seen: set[int] = set()
        while team is not None and team.pk not in seen:
            seen.add(team.pk)
            people = [u for u in self.leads(team) if u.pk != owner_id]
            if people:
                return people
            team = self.teams.get(team.escalation_team_id) if team.escalation_team_id else None
        return []

    def leads(self, team: Team) -> list[Any]:
        if team.pk not in self._leads:
            if team.lead_id is not None and team.lead is not None and team.lead.is_active:
                self._leads[team.pk] = [team.lead]
            else:
                supervisors = User.objects.filter(is_active=True, staff__team=team, staff__role=Role.SUPERVISOR)
                self._leads[team.pk] = list(supervisors.order_by("pk"))
        return self._leads[team.pk]

    def someone_above(self, team_id: int | None, owner: Any) -> Any:
        """An available senior agent or supervisor of the team above the owner's tier, next step first;
        else someone available in the team's escalation team. The ticket counts for its new owner at once."""
        team = self.team_of(team_id, owner)
        if team is None:
            return None
        exclude = getattr(owner, "pk", None)
        up = (Role.SENIOR_AGENT, Role.SUPERVISOR)
        chosen = self.least_loaded(team, [r for r in up if ROLE_TIER[r] > _tier(owner)], exclude)
        other = self.teams.get(team.escalation_team_id) if team.escalation_team_id else None
        if chosen is None and other is not None:
            chosen = self.least_loaded(other, list(up), exclude) or self.least_loaded(other, [Role.AGENT], exclude)
        if chosen is not None:  # the updates come after the whole batch is planned: count the moves here
            self.moved[chosen.pk] += 1
            if exclude is not None:
                self.moved[exclude] -= 1
        return chosen

    def least_loaded(self, team: Team, roles: list[Role], exclude: int | None) -> Any:
        key = (team.pk, tuple(roles), exclude)
        if key not in self._fits:
            fits = [u for u in self.people(team) if u.staff.role in roles and u.pk != exclude]
            self._fits[key] = [(ROLE_TIER[Role(u.staff.role)], u.pk, u) for u in fits]
        best = min(self._fits[key], key=lambda fit: (fit[0], self.load(fit[1]), fit[1]), default=None)
        return best[2] if best is not None else None

    def load(self, user_id: int) -> int:
        return self._counted[user_id] + self.moved[user_id]

    def people(self, team: Team) -> list[Any]:
        """The team's available agents, senior agents and supervisors, with their open tickets counted once."""
        if team.pk not in self._people:
            found = list(
                User.objects.filter(
                    is_active=True,
                    staff__team=team,
                    staff__availability=Availability.AVAILABLE,
                    staff__role__in=[Role.AGENT, Role.SENIOR_AGENT, Role.SUPERVISOR],
                )
                .select_related("staff")
                .order_by("pk")
            )
            # Counted on the (assignee, status) index for these people only: a join from the users
            # would read every open ticket (0.65 s a team on PostgreSQL at 100,000 open tickets).
            counts = dict(
                Ticket.objects.filter(status__in=OPEN_STATUSES, assignee__in=[u.pk for u in found])
                .order_by()
                .values_list("assignee_id")
                .annotate(n=Count("id"))
            )
            for user in found:
                self._counted[user.pk] = counts.get(user.pk, 0)
            self._people[team.pk] = found
        return self._people[team.pk]


def _tier(user: Any) -> int:
    staff = getattr(user, "staff", None)
    return staff.tier if staff is not None else 0
