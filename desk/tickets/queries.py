"""Permission-scoped reads of tickets: views and API handlers read only through these."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from desk.accounts.permissions import can, role_of
from desk.core.errors import NotFound
from desk.tickets.models import Ticket
from desk.tickets.search_index import filter_by_keywords


def tickets_visible_to(user: Any) -> QuerySet[Ticket]:
    """All tickets for roles with ticket.view_all; otherwise the team's and the user's own."""
    base = Ticket.objects.select_related("request_type", "customer", "team", "assignee")
    if role_of(user) is None:
        return base.none()
    if can(user, "ticket.view_all"):
        return base
    team_id = getattr(getattr(user, "staff", None), "team_id", None)
    scope = Q(assignee=user)
    if team_id is not None:
        scope |= Q(team_id=team_id)
    return base.filter(scope)


def get_ticket_for(user: Any, ticket_id: int | str) -> Ticket:
    """The ticket by id or number (TK0000123), or NotFound: outsiders cannot tell it exists."""
    pk = ticket_id if isinstance(ticket_id, int) else Ticket.pk_from_number(str(ticket_id))
    if pk is None:
        raise NotFound(f"No ticket {ticket_id}.", code="ticket.not_found")
    ticket = tickets_visible_to(user).filter(pk=pk).first()
    if ticket is None:
        raise NotFound(f"No ticket {ticket_id}.", code="ticket.not_found")
    return ticket


def search_tickets(qs: QuerySet[Ticket], q: str) -> QuerySet[Ticket]:
    """Keep tickets whose search text holds every keyword token (Chinese cut by jieba, English words).

    Served by the database's full-text index (FTS5 on SQLite, GIN on PostgreSQL); jieba's search mode
    indexes the parts of long words too, so 耳机 still finds 蓝牙耳机.
    """
    return filter_by_keywords(qs, q)
