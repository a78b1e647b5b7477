"""The ticket page's reads, compiled once per process (`desk.core.prepared`).

The page with its customer-360 panel makes some fifteen reads; building and compiling each through
the ORM cost 0.5–1 ms of CPU, several times what the database spends answering it. These are the
same querysets the ORM would run (the tests compare them), prepared once with stand-in values.

A user's ticket scope changes the query's shape, not only its values, so it is a `variant`:
"all" (ticket.view_all), "own" (the user's tickets) or "team" (the user's and the team's).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.db.models import Count, OuterRef, QuerySet, Window

from desk.core.aggregates import joined, split_joined
from desk.core.models import Event
from desk.core.prepared import Prepared, Read
from desk.customers.models import Customer
from desk.customers.queries import attach_details, customer_details
from desk.tickets.models import Attachment, Ticket, TicketMessage, TicketTag
from desk.tickets.queries import assignable_staff, scoped, ticket_scope

HISTORY_SIZE = 100
# What the page shows of the ticket's relations: reading every column of six tables cost more than
# the rest of the page's queries together. Actions load the whole ticket.
# The customer comes whole, with its dedicated agent: the customer-360 panel beside the ticket shows it.
SHOWN_RELATED = (
    *(f"customer__{f.name}" for f in Customer._meta.concrete_fields),
    *(f"customer__dedicated_agent__{f}" for f in ("username", "first_name", "last_name", "is_active")),
    "customer__dedicated_agent__staff__display_name",
    "order__number", "team__name",
    "assignee__username", "assignee__first_name", "assignee__last_name",
)  # fmt: skip
PERSON = ("username", "first_name", "last_name")  # what `m.person` shows
MESSAGE_SHOWN = ("ticket_id", "kind", "channel", "body", "created_at", "author", *(f"author__{f}" for f in PERSON))
ATTACHMENT_SHOWN = (
    "ticket_id", "message_id", "file", "original_name", "content_type", "size", "created_at", "uploaded_by",
    *(f"uploaded_by__{f}" for f in PERSON),
)  # fmt: skip
PAST_TICKET_SHOWN = ("subject", "status", "created_at", "customer_id")  # the panel's past-ticket lines
MEMBER_COLUMNS = ("pk", "username", "first_name", "last_name", "staff__display_name", "staff__availability")


def _shown_ticket(pk: int, *scope: int, variant: str) -> QuerySet[Ticket]:
    own = [f.name for f in Ticket._meta.concrete_fields if f.name != "search_text"]
    related = ("customer__dedicated_agent__staff", "order", "team", "assignee")
    tickets = Ticket.objects.select_related(*related).only(*own, *SHOWN_RELATED)
    tags = joined(Ticket.tags.through.objects.filter(ticket_id=OuterRef("pk")), "ticket_id", "tickettag__name")
    details = customer_details("customer__")
    # One row by its key: no ORDER BY.
    return scoped(tickets, variant, scope).annotate(tag_names=tags, **details).filter(pk=pk).order_by()[:1]


_SHOWN_TICKET: Prepared[Ticket] = Prepared(_shown_ticket)


class TagName(NamedTuple):
    name: str


def tags_of(ticket: Ticket) -> list[TagName] | list[TicketTag]:
    """The ticket's tags, from its `tag_names` when `shown_ticket` read it, else by a query."""
    if not hasattr(ticket, "tag_names"):
        return ticket_tags(ticket.pk)
    return [TagName(name) for name in sorted(split_joined(ticket.tag_names))]


def shown_ticket(user: Any, pk: int) -> Ticket | None:
    """The ticket for display (its own columns but the search words, and the shown relations) with its
    tag names joined in one column (`tags_of`)."""
    scope = ticket_scope(user)
    if scope is None:
        return None
    found = _SHOWN_TICKET(pk, *scope[1], variant=scope[0])
    if not found:
        return None
    ticket = found[0]
    attach_details(
        ticket.customer, getattr(ticket, "customer_tag_names", None), getattr(ticket, "customer_identity_pairs", None)
    )
    return ticket


conversation: Prepared[TicketMessage] = Prepared(
    lambda ticket_id: (
        TicketMessage.objects.filter(ticket_id=ticket_id)
        .select_related("author")
        .only(*MESSAGE_SHOWN)
        .order_by("created_at", "id")
    )
)
attachments: Prepared[Attachment] = Prepared(
    lambda ticket_id: (
        Attachment.objects.filter(ticket_id=ticket_id)
        .select_related("uploaded_by")
        .only(*ATTACHMENT_SHOWN)
        .order_by("id")
    )
)
history: Prepared[Event] = Prepared(
    lambda ticket_id: Event.objects.filter(ticket_id=ticket_id).order_by("-id")[:HISTORY_SIZE]
)
ticket_tags: Prepared[TicketTag] = Prepared(lambda ticket_id: TicketTag.objects.filter(tickets=ticket_id))


def live_reads(ticket_id: int) -> list[Read]:
    """The conversation, attachments and history (`reads_ahead`: read together)."""
    return [conversation.ahead(ticket_id), attachments.ahead(ticket_id), history.ahead(ticket_id)]


def _members(*team: int, variant: str) -> QuerySet[Any]:
    return assignable_staff(team[0] if variant == "team" else None).values_list(*MEMBER_COLUMNS)


_MEMBERS: Prepared[tuple[Any, ...]] = Prepared(_members)


def members(team_id: int | None) -> list[tuple[Any, ...]]:
    """`assignable_staff` as the assign picker's tuples."""
    return _MEMBERS(team_id, variant="team") if team_id else _MEMBERS(variant="all")


def members_read(team_id: int | None) -> Read:
    """`members`' read, for `reads_ahead`."""
    return _MEMBERS.ahead(team_id, variant="team") if team_id else _MEMBERS.ahead(variant="all")


def _customer_tickets(customer_id: int, *scope: int, variant: tuple[str, int]) -> QuerySet[Ticket]:
    kind, size = variant
    tickets = Ticket.objects.only(*PAST_TICKET_SHOWN)  # not five tables' columns for a line each
    listed = scoped(tickets, kind, scope).filter(customer_id=customer_id).order_by("-id")
    return listed.annotate(listed=Window(Count("id")))[:size]


_CUSTOMER_TICKETS: Prepared[Ticket] = Prepared(_customer_tickets)


def customer_tickets(user: Any, customer_id: int, size: int) -> list[Ticket]:
    """The customer's newest `size` tickets this user may see, each carrying the total as `listed`."""
    scope = ticket_scope(user)
    if scope is None:
        return []
    return _CUSTOMER_TICKETS(customer_id, *scope[1], variant=(scope[0], size))


def customer_tickets_reads(user: Any, customer_id: int, size: int) -> list[Read]:
    """`customer_tickets`' read, for `reads_ahead` (none where the user may see no tickets)."""
    scope = ticket_scope(user)
    return [] if scope is None else [_CUSTOMER_TICKETS.ahead(customer_id, *scope[1], variant=(scope[0], size))]
