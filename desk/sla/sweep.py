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
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.models import ROLE_TIER, Availability, Notification, Role, Team
from desk.core.events import diff, record_event, record_events
from desk.core.models import Event
from desk.sla.models import Metric, SlaPolicy, SlaTarget, TargetStatus
from desk.sla.services import summarize
from desk.tickets.models import OPEN_STATUSES, TICKET_PREFIX, Priority, SlaState, Ticket

log = logging.getLogger(__name__)
User = get_user_model()

BATCH_SIZE = 2000
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
    warned = skipped = 0
    while True:
        with transaction.atomic():
            claimed = _claim_warnings(now, BATCH_SIZE)
            if claimed:
                fired, silent = _fire_warnings(claimed, now)
                warned, skipped = warned + fired, skipped + silent
        if len(claimed) < BATCH_SIZE:
            return warned, skipped


def _claim_warnings(now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due warnings in one statement and return the ids this worker got.

    This is the bulk form of `filter(pk=..., warned_at=None, status=running).update(...)`:
    `UPDATE ... RETURNING` (PostgreSQL; SQLite 3.35+) repeats the conditions in its WHERE, and
    a row another worker updated first no longer matches them, so each row has one owner.
    """
    qn = connection.ops.quote_name
    table = qn(SlaTarget._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = (
        f"UPDATE {table} SET {qn('warned_at')} = %s WHERE {qn('id')} IN ("  # noqa: S608  names are ours, values bound
        f"SELECT {qn('id')} FROM {table} WHERE {qn('status')} = %s AND {qn('warned_at')} IS NULL"
        f" AND {qn('warn_at')} <= %s ORDER BY {qn('warn_at')} LIMIT %s)"
        f" AND {qn('status')} = %s AND {qn('warned_at')} IS NULL RETURNING {qn('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [stamp, RUNNING, stamp, limit, RUNNING])
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
    for event, (_pk, ticket_id, metric, due_at) in zip(events, live, strict=True):
        _customer, assignee_id, lead_id = tickets[ticket_id]
        if (assignee_id or lead_id) is not None:  # unassigned: the team lead hears of it
            notes.append(_warning_note(assignee_id or lead_id, event, ticket_id, metric, due_at))
    Notification.objects.bulk_create(notes)
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


def _warning_note(user_id: int, event: Event, ticket_id: int, metric: str, due_at: datetime) -> Notification:
    text = _("%(number)s: %(metric)s due at %(time)s") % {
        "number": f"{TICKET_PREFIX}{ticket_id:07d}",
        "metric": Metric(metric).label,
        "time": timezone.localtime(due_at).strftime("%m-%d %H:%M"),
    }
    return Notification(
        user_id=user_id, verb="sla.warning", text=text, link=f"/tickets/{ticket_id}/", event_id=event.pk
    )


# --- Breaches, one ticket at a time --------------------------------------------------------
def _sweep_breaches(now: datetime) -> tuple[int, int]:
    due = (
        SlaTarget.objects.filter(status=RUNNING, breached_at=None, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("pk", "ticket_id")
    )
    by_ticket: dict[int, list[int]] = defaultdict(list)
    for target_id, ticket_id in due.iterator(chunk_size=BATCH_SIZE):
        by_ticket[ticket_id].append(target_id)
    breached = escalated = 0
    for ticket_id, target_ids in by_ticket.items():
        try:
            claimed = _breach_ticket(ticket_id, target_ids, now)
        except Exception:  # one broken ticket must not stop the others; its rows stay due
            log.exception("sla escalation failed for ticket %s", ticket_id)
            continue
        breached += claimed
        escalated += 1 if claimed else 0
    return breached, escalated


def _breach_ticket(ticket_id: int, target_ids: list[int], now: datetime) -> int:
    """Lock the ticket (lock order: ticket, then targets), claim its breaches, escalate once."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
        if ticket is None:
            return 0
        claimed = [
            pk
            for pk in target_ids
            if SlaTarget.objects.filter(pk=pk, status=RUNNING, breached_at=None, due_at__lte=now).update(
                breached_at=now
            )
        ]
        if claimed:
            targets = list(SlaTarget.objects.filter(ticket=ticket).select_related("policy"))
            _escalate(ticket, [t for t in targets if t.pk in claimed], targets)
    return len(claimed)


def _escalate(ticket: Ticket, breached: list[SlaTarget], targets: list[SlaTarget]) -> None:
    """Do what the policy says: raise priority, reassign up the tiers, notify the supervisor."""
    policy: SlaPolicy = breached[0].policy
    owner = _staff_user(ticket.assignee_id)
    before = {"priority": ticket.priority, "assignee": ticket.assignee_id, "team": ticket.team_id}
    after = dict(before)
    if policy.escalate_raise_priority:
        after["priority"] = min(ticket.priority + 1, Priority.URGENT)
    new_owner = _someone_above(ticket, owner) if policy.escalate_reassign_up else None
    if new_owner is not None:
        after["assignee"], after["team"] = new_owner.pk, new_owner.staff.team_id
    state, due = summarize(targets)
    Ticket.objects.filter(pk=ticket.pk).update(
        priority=after["priority"],
        assignee_id=after["assignee"],
        team_id=after["team"],
        sla_state=state,
        sla_due_at=due,
        updated_at=timezone.now(),
    )
    supervisors = _supervisors_of(ticket, owner) if policy.escalate_notify_supervisor else []
    b, a = diff(before | {"sla_state": ticket.sla_state}, after | {"sla_state": state})
    event = record_event(
        "sla.breached",
        subject=ticket,
        ticket_id=ticket.pk,
        customer_id=ticket.customer_id,
        before=b,
        after=a,
        data={
            "metrics": [t.metric for t in breached],
            "due_at": {t.metric: t.due_at for t in breached},
            "policy": policy.pk,
            "notified": [u.pk for u in supervisors],
            "reassigned_to": new_owner.pk if new_owner is not None else None,
        },
    )
    _notify_breach(ticket, event, breached, owner=owner, supervisors=supervisors, new_owner=new_owner)


def _notify_breach(
    ticket: Ticket, event: Event, breached: list[SlaTarget], *, owner: Any, supervisors: list[Any], new_owner: Any
) -> None:
    facts = {
        "number": ticket.number,
        "metrics": ", ".join(str(Metric(t.metric).label) for t in breached),
        "owner": owner.get_username() if owner is not None else _("nobody"),
    }
    notes = [(u, _("Escalation: %(number)s missed %(metrics)s (owner: %(owner)s)") % facts) for u in supervisors]
    if owner is not None:
        notes.append((owner, _("SLA breached on %(number)s: %(metrics)s") % facts))
    if new_owner is not None:
        notes.append((new_owner, _("%(number)s was escalated to you after an SLA breach") % facts))
    Notification.objects.bulk_create(
        Notification(user=user, verb="sla.breached", text=text[:500], link=f"/tickets/{ticket.pk}/", event_id=event.pk)
        for user, text in notes
    )


# --- Who is up the tiers -------------------------------------------------------------------
def _staff_user(user_id: int | None) -> Any:
    if user_id is None:
        return None
    return User.objects.select_related("staff", "staff__team").filter(pk=user_id).first()


def _tier(user: Any) -> int:
    staff = getattr(user, "staff", None)
    return staff.tier if staff is not None else 0


def _team_of(ticket: Ticket, owner: Any) -> Team | None:
    staff = getattr(owner, "staff", None)
    if staff is not None and staff.team is not None:
        return staff.team  # type: ignore[no-any-return]
    return Team.objects.filter(pk=ticket.team_id).first() if ticket.team_id else None


def _supervisors_of(ticket: Ticket, owner: Any) -> list[Any]:
    """The owner's team lead, else its supervisors; the escalation team's if the owner leads."""
    team = _team_of(ticket, owner)
    owner_id = getattr(owner, "pk", None)
    seen: set[int] = set()
    while team is not None and team.pk not in seen:
        seen.add(team.pk)
        people = [u for u in _leads(team) if u.pk != owner_id]
        if people:
            return people
        team = team.escalation_team
    return []


def _leads(team: Team) -> list[Any]:
    if team.lead_id is not None and team.lead is not None and team.lead.is_active:
        return [team.lead]
    return list(User.objects.filter(is_active=True, staff__team=team, staff__role=Role.SUPERVISOR).order_by("pk"))


def _someone_above(ticket: Ticket, owner: Any) -> Any:
    """An available senior agent or supervisor of the team above the owner's tier, next step first;
    else someone available in the team's escalation team."""
    team = _team_of(ticket, owner)
    if team is None:
        return None
    exclude = getattr(owner, "pk", None)
    up = (Role.SENIOR_AGENT, Role.SUPERVISOR)
    chosen = _least_loaded(team, [r for r in up if ROLE_TIER[r] > _tier(owner)], exclude)
    if chosen is None and team.escalation_team is not None:
        other = team.escalation_team
        chosen = _least_loaded(other, list(up), exclude) or _least_loaded(other, [Role.AGENT], exclude)
    return chosen


def _least_loaded(team: Team, roles: list[Role], exclude: int | None) -> Any:
    if not roles:
        return None
    people = (
        User.objects.filter(
            is_active=True, staff__team=team, staff__availability=Availability.AVAILABLE, staff__role__in=roles
        )
        .exclude(pk=exclude or 0)
        .select_related("staff")
        .annotate(open_count=Count("assigned_tickets", filter=Q(assigned_tickets__status__in=OPEN_STATUSES)))
    )
    return min(people, key=lambda u: (ROLE_TIER[Role(u.staff.role)], u.open_count, u.pk), default=None)
