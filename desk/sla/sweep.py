"""The periodic SLA sweep: warn at N% of a target, escalate on breach, each exactly once.

Deadlines live in SlaTarget rows, so the sweep needs no memory of its own: whatever came due
while no worker ran (a restart, an hour down) is still due at the next run. Rows are claimed
with conditional updates (`... WHERE warned_at IS NULL` / `breached_at IS NULL`): a row this
worker updated is its own, a row another worker updated first is skipped, so nothing fires twice.

Warnings can be many (thousands after an outage) and are handled in bulk, a batch of rows per
few statements. Breaches are few and each escalation is real work on one ticket (a lock, a
priority change, a new owner, notifications), done one ticket per transaction.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Min, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.models import ROLE_TIER, Availability, Notification, Role, Team
from desk.core.bulk import insert_rows
from desk.core.events import diff, record_events
from desk.core.models import Event
from desk.sla.models import Metric, SlaPolicy, SlaTarget, TargetStatus
from desk.tickets.models import OPEN_STATUSES, TICKET_PREFIX, Priority, SlaState, Ticket

log = logging.getLogger(__name__)
User = get_user_model()

BATCH_SIZE = 2000
NOTE_FIELDS = ["user_id", "verb", "text", "link", "event_id"]
RUNNING = TargetStatus.RUNNING


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


# --- Warnings, in bulk -----------------------------------------------------------------------
def _sweep_warnings(now: datetime) -> tuple[int, int]:
    """Batches of due warnings, each in one transaction: find them (no lock), lock their tickets in id
    order, then claim the targets. Lock order tickets, then targets, as the ticket services take them:
    claiming the targets first (they are updated) and then touching the tickets could deadlock with
    an agent's change to the same ticket on PostgreSQL."""
    warned = skipped = 0
    while True:
        with transaction.atomic():
            due = _due_warnings(now, BATCH_SIZE)
            if due:
                list(
                    Ticket.objects.select_for_update()
                    .filter(pk__in={t for _pk, t in due})
                    .order_by("pk")
                    .values_list("pk")
                )
                claimed = _claim_warnings(now, [pk for pk, _t in due])
                if claimed:
                    fired, silent = _fire_warnings(claimed, now)
                    warned, skipped = warned + fired, skipped + silent
        if len(due) < BATCH_SIZE:
            return warned, skipped


def _due_warnings(now: datetime, limit: int) -> list[tuple[int, int]]:
    """(target, ticket) of up to `limit` warnings due, soonest first (read without locking)."""
    due = SlaTarget.objects.filter(status=RUNNING, warned_at=None, warn_at__lte=now).order_by("warn_at", "id")
    return list(due.values_list("pk", "ticket_id")[:limit])


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


def _fire_warnings(target_ids: list[int], now: datetime) -> tuple[int, int]:
    """One event and one notification per warning, a handful of statements per batch."""
    rows = list(SlaTarget.objects.filter(pk__in=target_ids).values_list("pk", "ticket_id", "metric", "due_at"))
    live = [(pk, ticket, metric, due) for pk, ticket, metric, due in rows if due is not None and due > now]
    # (rows past their deadline too are claimed silently: the breach is the news, not the warning)
    people = Ticket.objects.filter(pk__in={row[1] for row in live})
    tickets = {pk: rest for pk, *rest in people.values_list("pk", "customer_id", "assignee_id", "team__lead_id")}
    created_at = timezone.now()
    events = record_events([_warning_event(row, tickets[row[1]][0], created_at) for row in live])
    notes = []
    wording = _Wording()
    for event, (_pk, ticket_id, metric, due_at) in zip(events, live, strict=True):
        _customer, assignee_id, lead_id = tickets[ticket_id]
        if (assignee_id or lead_id) is not None:  # unassigned: the team lead hears of it
            notes.append(_warning_note(assignee_id or lead_id, event, ticket_id, wording.warning(metric, due_at)))
    insert_rows(Notification, NOTE_FIELDS, notes)
    Ticket.objects.filter(pk__in=tickets, sla_state=SlaState.OK).update(sla_state=SlaState.WARNING)
    return len(live), len(rows) - len(live)


def _warning_event(row: tuple[int, int, str, datetime], customer_id: int, created_at: datetime) -> Event:
    target_id, ticket_id, metric, due_at = row
    return Event(
        created_at=created_at,
        actor_label="system",
        verb="sla.warning",
        subject_type="ticket",
        subject_id=ticket_id,
        ticket_id=ticket_id,
        customer_id=customer_id,
        after={"sla_state": SlaState.WARNING.value},
        data={"metric": metric, "target": target_id, "due_at": due_at.isoformat()},
    )


def _warning_note(user_id: int, event: Event, ticket_id: int, text: str) -> tuple[Any, ...]:
    text %= {"number": f"{TICKET_PREFIX}{ticket_id:07d}"}
    return (user_id, "sla.warning", text[:500], f"/tickets/{ticket_id}/", event.pk)


class _Wording:
    """Notification texts translated once per batch, not once per row (a mass sweep writes 100,000s)."""

    def __init__(self) -> None:
        self.labels = {m.value: str(m.label) for m in Metric}
        self.due = _("%(number)s: %(metric)s due at %(time)s")
        self.escalation = _("Escalation: %(number)s missed %(metrics)s (owner: %(owner)s)")
        self.breached = _("SLA breached on %(number)s: %(metrics)s")
        self.escalated = _("%(number)s was escalated to you after an SLA breach")
        self.nobody = _("nobody")
        self.zone = timezone.get_current_timezone()

    def warning(self, metric: str, due_at: datetime) -> str:
        """The text with `%(number)s` left in for the ticket."""
        time = due_at.astimezone(self.zone).strftime("%m-%d %H:%M")
        label = self.labels[metric].replace("%", "%%")
        return self.due.replace("%(metric)s", label).replace("%(time)s", time)


# --- Breaches, in bulk ---------------------------------------------------------------------
def _sweep_breaches(now: datetime) -> tuple[int, int]:
    """Everything due by `now`, a batch of tickets per transaction; a failing batch is retried ticket by
    ticket, so one broken ticket cannot hold the others back (its rows stay due for the next sweep)."""
    due = (
        SlaTarget.objects.filter(status=RUNNING, breached_at=None, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("pk", "ticket_id")
    )
    by_ticket: dict[int, list[int]] = defaultdict(list)
    for target_id, ticket_id in due.iterator(chunk_size=BATCH_SIZE):
        by_ticket[ticket_id].append(target_id)
    tickets = list(by_ticket)
    breached = escalated = 0
    for start in range(0, len(tickets), BATCH_SIZE):
        batch = {t: by_ticket[t] for t in tickets[start : start + BATCH_SIZE]}
        try:
            done = _breach_batch(batch, now)
        except Exception:
            if len(batch) == 1:
                log.exception("sla escalation failed for ticket %s", next(iter(batch)))
                continue
            log.warning("sla escalation batch failed, retrying its %s tickets one by one", len(batch), exc_info=True)
            done = (0, 0)
            for ticket_id, target_ids in batch.items():
                try:
                    one = _breach_batch({ticket_id: target_ids}, now)
                except Exception:
                    log.exception("sla escalation failed for ticket %s", ticket_id)
                    continue
                done = (done[0] + one[0], done[1] + one[1])
        breached, escalated = breached + done[0], escalated + done[1]
    return breached, escalated


def _breach_batch(due: dict[int, list[int]], now: datetime) -> tuple[int, int]:
    """In one transaction: lock the tickets (lock order: tickets, then targets), claim their breaches
    with one `UPDATE ... RETURNING`, and escalate each claimed ticket once, set-based."""
    with transaction.atomic():
        locked = (
            Ticket.objects.select_for_update()
            .filter(pk__in=list(due))
            .order_by("pk")
            .values_list("pk", "priority", "assignee_id", "team_id", "customer_id", "sla_state")
        )
        tickets = {row[0]: _Locked(*row) for row in locked}
        claimed = _claim_breaches([t for pk in tickets for t in due[pk]], now)
        if not claimed:
            return 0, 0
        rows = SlaTarget.objects.filter(pk__in=claimed).order_by("pk")
        breached: dict[int, list[tuple[str, datetime, int]]] = defaultdict(list)
        for ticket_id, metric, due_at, policy_id in rows.values_list("ticket_id", "metric", "due_at", "policy_id"):
            breached[ticket_id].append((metric, due_at or now, policy_id))  # claimed: due_at <= now
        _escalate_all({pk: tickets[pk] for pk in breached}, breached, now)
    return len(claimed), len(breached)


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


def _escalate_all(
    tickets: dict[int, _Locked], breached: dict[int, list[tuple[str, datetime, int]]], now: datetime
) -> None:
    """Do what each policy says (raise priority, reassign up the tiers, notify the supervisor) for many
    tickets: one UPDATE per distinct outcome, one bulk insert of events, one of notifications."""
    policies = SlaPolicy.objects.in_bulk({rows[0][2] for rows in breached.values()})
    tiers = _Tiers({t.assignee_id for t in tickets.values() if t.assignee_id is not None})
    groups: dict[tuple[int | None, int | None, int | None], list[int]] = defaultdict(list)
    plans = []
    for ticket in tickets.values():
        policy = policies[breached[ticket.pk][0][2]]
        owner = tiers.user(ticket.assignee_id)
        before = {"priority": ticket.priority, "assignee": ticket.assignee_id, "team": ticket.team_id}
        after = dict(before)
        if policy.escalate_raise_priority:
            after["priority"] = min(ticket.priority + 1, Priority.URGENT)
        new_owner = tiers.someone_above(ticket, owner) if policy.escalate_reassign_up else None
        if new_owner is not None:
            after["assignee"], after["team"] = new_owner.pk, new_owner.staff.team_id
        supervisors = tiers.supervisors_of(ticket, owner) if policy.escalate_notify_supervisor else []
        groups[(after["priority"], after["assignee"], after["team"])].append(ticket.pk)
        plans.append((ticket, policy, owner, new_owner, supervisors, before, after))

    earliest = (
        SlaTarget.objects.filter(ticket_id=OuterRef("pk"), status=RUNNING)
        .order_by()
        .values("ticket_id")
        .annotate(first=Min("due_at"))
        .values("first")
    )
    stamp = timezone.now()
    for (priority, assignee, team), ids in groups.items():
        Ticket.objects.filter(pk__in=ids).update(
            priority=priority,
            assignee_id=assignee,
            team_id=team,
            sla_state=SlaState.BREACHED,  # a claimed target is running and breached: the worst state
            sla_due_at=Subquery(earliest),
            updated_at=stamp,
        )

    events = record_events([_breach_event(plan, breached[plan[0].pk], stamp) for plan in plans])
    wording = _Wording()
    notes = [
        note
        for event, plan in zip(events, plans, strict=True)
        for note in _breach_notes(event, plan, breached[plan[0].pk], wording)
    ]
    insert_rows(Notification, NOTE_FIELDS, notes)


_Plan = tuple[_Locked, SlaPolicy, Any, Any, list[Any], dict[str, Any], dict[str, Any]]


def _breach_event(plan: _Plan, rows: list[tuple[str, datetime, int]], stamp: datetime) -> Event:
    ticket, policy, _owner, new_owner, supervisors, before, after = plan
    b, a = diff(before | {"sla_state": ticket.sla_state}, after | {"sla_state": SlaState.BREACHED.value})
    return Event(
        created_at=stamp,
        actor_label="system",
        verb="sla.breached",
        subject_type="ticket",
        subject_id=ticket.pk,
        ticket_id=ticket.pk,
        customer_id=ticket.customer_id,
        before=b,
        after=a,
        data={
            "metrics": [metric for metric, _due, _policy in rows],
            "due_at": {metric: due.isoformat() for metric, due, _policy in rows},
            "policy": policy.pk,
            "notified": [u.pk for u in supervisors],
            "reassigned_to": new_owner.pk if new_owner is not None else None,
        },
    )


def _breach_notes(
    event: Event, plan: _Plan, rows: list[tuple[str, datetime, int]], wording: _Wording
) -> list[tuple[Any, ...]]:
    ticket, _policy, owner, new_owner, supervisors, _before, _after = plan
    facts = {
        "number": f"{TICKET_PREFIX}{ticket.pk:07d}",
        "metrics": ", ".join(wording.labels[metric] for metric, _due, _p in rows),
        "owner": owner.get_username() if owner is not None else wording.nobody,
    }
    notes = [(u, wording.escalation % facts) for u in supervisors]
    if owner is not None:
        notes.append((owner, wording.breached % facts))
    if new_owner is not None:
        notes.append((new_owner, wording.escalated % facts))
    link = f"/tickets/{ticket.pk}/"
    return [(user.pk, "sla.breached", text[:500], link, event.pk) for user, text in notes]


# --- Who is up the tiers -------------------------------------------------------------------
class _Tiers:
    """Who owns, leads and stands above, read once per batch: teams, owners, and each team's available
    people with their open-ticket counts, kept current in memory as the batch hands tickets up."""

    def __init__(self, owner_ids: set[int]) -> None:
        self.teams: dict[int, Team] = Team.objects.select_related("lead").in_bulk()
        self.owners: dict[int, Any] = User.objects.select_related("staff").in_bulk(owner_ids)
        self._leads: dict[int, list[Any]] = {}
        self._supervisors: dict[tuple[int | None, int | None], list[Any]] = {}
        self._people: dict[int, list[Any]] = {}
        self._fits: dict[tuple[int, tuple[Role, ...], int | None], list[tuple[int, int, Any]]] = {}
        self._counted: dict[int, int] = {}  # open tickets per person, as read
        self._moved: dict[int, int] = defaultdict(int)  # tickets this batch hands to (+) or away from (-) them

    def user(self, user_id: int | None) -> Any:
        return self.owners.get(user_id) if user_id is not None else None

    def team_of(self, ticket: _Locked, owner: Any) -> Team | None:
        staff = getattr(owner, "staff", None)
        if staff is not None and staff.team_id is not None:
            return self.teams.get(staff.team_id)
        return self.teams.get(ticket.team_id) if ticket.team_id else None

    def supervisors_of(self, ticket: _Locked, owner: Any) -> list[Any]:
        """The owner's team lead, else its supervisors; the escalation team's if the owner leads."""
        team = self.team_of(ticket, owner)
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

    def someone_above(self, ticket: _Locked, owner: Any) -> Any:
        """An available senior agent or supervisor of the team above the owner's tier, next step first;
        else someone available in the team's escalation team. The ticket counts for its new owner at once."""
        team = self.team_of(ticket, owner)
        if team is None:
            return None
        exclude = getattr(owner, "pk", None)
        up = (Role.SENIOR_AGENT, Role.SUPERVISOR)
        chosen = self.least_loaded(team, [r for r in up if ROLE_TIER[r] > _tier(owner)], exclude)
        other = self.teams.get(team.escalation_team_id) if team.escalation_team_id else None
        if chosen is None and other is not None:
            chosen = self.least_loaded(other, list(up), exclude) or self.least_loaded(other, [Role.AGENT], exclude)
        if chosen is not None:  # the updates come after the whole batch is planned: count the moves here
            self._moved[chosen.pk] += 1
            if exclude is not None:
                self._moved[exclude] -= 1
        return chosen

    def least_loaded(self, team: Team, roles: list[Role], exclude: int | None) -> Any:
        key = (team.pk, tuple(roles), exclude)
        if key not in self._fits:
            fits = [u for u in self.people(team) if u.staff.role in roles and u.pk != exclude]
            self._fits[key] = [(ROLE_TIER[Role(u.staff.role)], u.pk, u) for u in fits]
        best = min(self._fits[key], key=lambda fit: (fit[0], self.load(fit[1]), fit[1]), default=None)
        return best[2] if best is not None else None

    def load(self, user_id: int) -> int:
        return self._counted[user_id] + self._moved[user_id]

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
