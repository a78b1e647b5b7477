"""Permission-scoped reads of tickets: views and API handlers read only through these."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from desk.accounts.models import Availability, Role, Team
from desk.accounts.permissions import can, record_denial, role_of
from desk.core.api import MAX_ID
from desk.core.errors import NotFound
from desk.core.held import Held
from desk.core.models import Event
from desk.sla.models import Metric
from desk.tickets.models import OPEN_STATUSES, Attachment, CannedReply, RequestType, SlaState, Status, Ticket
from desk.tickets.search_index import filter_by_keywords, newest_matching_ids


def tickets_visible_to(user: Any) -> QuerySet[Ticket]:
    """All tickets for roles with ticket.view_all; otherwise the team's and the user's own."""
    base = Ticket.objects.select_related("request_type", "customer", "team", "assignee")
    scope = ticket_scope(user)
    return base.none() if scope is None else scoped(base, *scope)


def ticket_scope(user: Any) -> tuple[str, tuple[int, ...]] | None:
    """(kind, values) of the tickets `user` may see; None: none. The kind changes the query's shape,
    which is why prepared reads (`page_reads`) take it as their variant: "all" (ticket.view_all),
    "team" (the user's and the team's: user id, team id) or "own" (the user's: user id)."""
    if role_of(user) is None:
        return None
    if can(user, "ticket.view_all"):
        return "all", ()
    team_id = getattr(getattr(user, "staff", None), "team_id", None)
    return ("team", (user.pk, team_id)) if team_id is not None else ("own", (user.pk,))


def scoped(tickets: QuerySet[Ticket], kind: str, values: tuple[Any, ...]) -> QuerySet[Ticket]:
    """`tickets` narrowed to a `ticket_scope`."""
    if kind == "all":
        return tickets
    mine = Q(assignee_id=values[0])
    return tickets.filter(mine | Q(team_id=values[1]) if kind == "team" else mine)


def assignable_staff(team_id: int | None) -> QuerySet[Any]:
    """Who a ticket of this team may be assigned to: active staff of the team (or every desk agent if none)."""
    staff = get_user_model().objects.filter(is_active=True, staff__isnull=False).order_by("username")
    return staff.filter(staff__team_id=team_id) if team_id else staff


def keyword_page(qs: QuerySet[Ticket], q: str, *, offset: int, limit: int) -> QuerySet[Ticket] | None:
    """One newest-first page of `qs` matching `q`, found by walking the index newest first.

    `qs` carries every other filter but not the keywords. None where the walk does not apply;
    then filter with `search_tickets` and slice as usual.
    """
    ids = newest_matching_ids(qs.order_by(), q, offset + limit)
    if ids is None:
        return None
    return qs.filter(pk__in=ids[offset:]).order_by("-id")


def get_ticket_for(user: Any, ticket_id: int | str) -> Ticket:
    """The ticket by id or number (TK0000123), or NotFound: outsiders cannot tell it exists."""
    pk = ticket_id if isinstance(ticket_id, int) else Ticket.pk_from_number(str(ticket_id))
    if pk is None:
        raise NotFound(f"No ticket {ticket_id}.", code="ticket.not_found")
    ticket = tickets_visible_to(user).filter(pk=pk).first()
    if ticket is None:
        note_unseen(user, pk)
        raise NotFound(f"No ticket {ticket_id}.", code="ticket.not_found")
    return ticket


def note_unseen(user: Any, pk: int) -> None:
    """Someone asked for a ticket outside what they may see: they are told it does not exist (so
    nobody learns which numbers are taken), and the audit trail records the attempt when it does."""
    if 0 < pk <= MAX_ID and Ticket.objects.filter(pk=pk).exists():
        record_denial(user, "ticket.view", subject=Ticket(pk=pk))


def get_attachment_for(user: Any, ticket_id: int, attachment_id: int) -> Attachment:
    """A ticket's attachment for someone who may open that ticket, or NotFound (outsiders, unknown ids,
    or an attachment of another ticket: the pair must match, so ids cannot be walked across tickets)."""
    visible = tickets_visible_to(user).filter(pk=ticket_id)
    found = Attachment.objects.filter(pk=attachment_id, ticket_id=ticket_id, ticket__in=visible).first()
    if found is None:
        raise NotFound(_("No such attachment."), code="attachment.not_found")
    return found


def search_tickets(qs: QuerySet[Ticket], q: str) -> QuerySet[Ticket]:
    """Keep tickets whose search text holds every keyword token (Chinese cut by jieba, English words).

    Served by the database's full-text index (FTS5 on SQLite, GIN on PostgreSQL); jieba's search mode
    indexes the parts of long words too, so 耳机 still finds 蓝牙耳机.
    """
    return filter_by_keywords(qs, q)


# --- Configuration read on every page -----------------------------------------------------------
CONFIG_CACHE_SECONDS = 60


_REQUEST_TYPES = Held("desk:tickets:request_types:v2", lambda: list(RequestType.objects.all()), CONFIG_CACHE_SECONDS)


def request_types() -> list[RequestType]:
    """Every request type in display order, held per process under a shared stamp (desk.core.held):
    admins add types rarely, pages and new tickets read them always. Shared objects: do not change them."""
    return _REQUEST_TYPES()


_CANNED_REPLIES = Held(
    "desk:tickets:canned:v2",
    lambda: list(CannedReply.objects.filter(active=True).order_by("title")),
    CONFIG_CACHE_SECONDS,
)


def active_canned_replies() -> list[CannedReply]:
    """Active canned replies by title, held like the request types (every ticket page offers them)."""
    return _CANNED_REPLIES()


def forget_config(sender: Any, **kwargs: Any) -> None:
    """Signal receiver (connected in TicketsConfig.ready): an admin's change shows on the next page."""
    _REQUEST_TYPES.forget()
    _CANNED_REPLIES.forget()


# --- Supervisor overview -------------------------------------------------------------------------
RECENT_BREACHES = 20
RECENT_WINDOW = timedelta(hours=24)
AGENTS_SHOWN = 200


OVERVIEW_CACHE_SECONDS = 10


class TeamRow(NamedTuple):
    """One team's open tickets: `cells` are (SLA state, count) in the order of `sla_states`."""

    name: str
    cells: tuple[tuple[str, int], ...]
    total: int


class AgentLoad(NamedTuple):
    name: str
    role: str  # labels already translated: the figures are kept per language
    team: str
    available: bool
    availability: str
    open: int
    full: bool  # at or over the agent's max_open_tickets


class Breach(NamedTuple):
    created_at: datetime
    ticket_id: int | None
    number: str
    metrics: tuple[str, ...]  # the breached targets' labels


def overview_figures() -> dict[str, Any]:
    """The overview's figures, shared by every supervisor for a few seconds.

    The page polls every 15 s; at a hundred thousand open tickets the counts cost tens of
    milliseconds, so they are computed once per interval rather than once per viewer. They are
    kept as plain tuples with their labels translated (one entry per language): every viewer's
    request reads them back from the cache, and model instances with lazy labels cost more to
    unpickle and render than the rest of the page (2026-11-24, docs/bench.md).
    """
    key = f"desk:overview:v2:{get_language()}"
    figures = cache.get(key)
    if figures is None:
        figures = _compute_overview()
        cache.set(key, figures, OVERVIEW_CACHE_SECONDS)
    return figures


def _compute_overview() -> dict[str, Any]:
    """Each figure is one GROUP BY over the open tickets that a status-first index covers."""
    open_qs = Ticket.objects.filter(status__in=OPEN_STATUSES).order_by()
    team_names = dict(Team.objects.values_list("id", "name"))
    grid: dict[tuple[Any, str], dict[str, int]] = {}
    by_status: dict[str, int] = {}
    # Grouped in the index's own column order, so the database reads the index alone, unsorted.
    rows = open_qs.values_list("status", "team_id", "sla_state").annotate(n=Count("id"))
    for status, team_id, state, n in rows:
        cell = grid.setdefault((team_id, str(team_names.get(team_id) or _("No team"))), {})
        cell[state] = cell.get(state, 0) + n
        by_status[status] = by_status.get(status, 0) + n
    states = [(value, str(label)) for value, label in SlaState.choices]
    return {
        "sla_states": states,
        "grid": [
            TeamRow(name, tuple((value, counts.get(value, 0)) for value, _label in states), sum(counts.values()))
            for (_team_id, name), counts in sorted(grid.items(), key=lambda item: item[0][1])
        ],
        "loads": _agent_loads(open_qs),
        "by_status": _status_counts(by_status),
        "breaches": _recent_breaches(),
    }


def _agent_loads(open_qs: QuerySet[Ticket]) -> list[AgentLoad]:
    staff = list(
        get_user_model()
        .objects.filter(is_active=True, staff__isnull=False)
        .select_related("staff", "staff__team")
        .order_by("username")[:500]
    )
    # assignee IN (...) walks the (assignee, status) index person by person.
    mine = open_qs.filter(assignee__in=[u.pk for u in staff])
    counts = dict(mine.values_list("assignee_id").annotate(n=Count("id")))
    staff.sort(key=lambda u: (-counts.get(u.pk, 0), u.username))
    roles, availability = dict(Role.choices), dict(Availability.choices)
    loads = []
    for user in staff[:AGENTS_SHOWN]:
        profile, n = user.staff, counts.get(user.pk, 0)
        loads.append(
            AgentLoad(
                name=profile.display_name or user.get_full_name() or user.get_username(),
                role=str(roles.get(profile.role, profile.role)),
                team=profile.team.name if profile.team else "—",
                available=profile.availability == Availability.AVAILABLE,
                availability=str(availability.get(profile.availability, profile.availability)),
                open=n,
                full=n >= profile.max_open_tickets,
            )
        )
    return loads


def _status_counts(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """Open statuses in full; resolved and closed over the last 24 hours (all time is a report)."""
    since = timezone.now() - RECENT_WINDOW
    counts[Status.RESOLVED] = Ticket.objects.filter(resolved_at__gte=since).count()
    counts[Status.CLOSED] = Ticket.objects.filter(closed_at__gte=since).count()
    labels: dict[str, Any] = {
        Status.RESOLVED: _("Resolved (24 h)"),
        Status.CLOSED: _("Closed (24 h)"),
    }
    return [(value, str(labels.get(value, label)), counts.get(value, 0)) for value, label in Status.choices]


def _recent_breaches() -> list[Breach]:
    labels = dict(Metric.choices)
    events = Event.objects.filter(verb="sla.breached").order_by("-id").only("created_at", "ticket_id", "data")
    breaches = []
    for event in events[:RECENT_BREACHES]:
        data = event.data if isinstance(event.data, dict) else {}
        metrics = data.get("metrics") or [data.get("metric")]
        breaches.append(
            Breach(
                created_at=event.created_at,
                ticket_id=event.ticket_id,
                number=Ticket(pk=event.ticket_id).number if event.ticket_id else "",
                metrics=tuple(str(labels.get(m, m)) for m in metrics if m),
            )
        )
    return breaches
