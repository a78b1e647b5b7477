"""Tickets over the API: thin handlers that parse, call one service or query, and answer a schema."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile

from desk.accounts.models import Team
from desk.accounts.permissions import authorize
from desk.core.api import ERRORS, MAX_ID, MAX_LIMIT, AuthedRequest, Id, PageParams, paginate, rendered
from desk.core.errors import NotFound, ValidationFailed
from desk.core.models import Event
from desk.core.uploads import download_response
from desk.customers import queries as customer_queries
from desk.customers import services as customer_services
from desk.customers.models import Customer
from desk.orders.models import Order, OrderItem
from desk.tickets import queries, services
from desk.tickets.models import OPEN_STATUSES, Attachment, RequestType, Ticket, TicketMessage
from desk.tickets.schemas import (
    AssignIn,
    AttachmentOut,
    AttachmentPage,
    MergeIn,
    MessageOut,
    MessagePage,
    NoteIn,
    ReplyIn,
    RequestTypeOut,
    TicketEventPage,
    TicketFilters,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketRef,
    TicketUpdateIn,
)

router = Router(tags=["tickets"])
User = get_user_model()


# --- Presenting ----------------------------------------------------------------------------------
def _user_ref(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name() or user.get_username()}


def _ticket_out(ticket: Ticket, tags: list[str] | None = None) -> dict[str, Any]:
    """The ticket as `TicketOut`, its fields in the schema's order (so `create_ticket` can answer it
    without validating it again). `tags`: the ticket's tag names when the caller knows them (it just set
    them), else they are read."""
    team, assignee = ticket.team, ticket.assignee
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "description": ticket.description,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "request_type": ticket.request_type.code,
        "customer": {"id": ticket.customer_id, "name": ticket.customer.name},
        "customer_tier": ticket.customer_tier,
        "order_id": ticket.order_id,
        "team": {"id": team.pk, "code": team.code, "name": team.name} if team else None,
        "assignee": _user_ref(assignee) if assignee is not None else None,
        "tags": sorted(t.name for t in ticket.tags.all()) if tags is None else tags,
        **{f: getattr(ticket, f) for f in _LATER_FIELDS},
    }


_LATER_FIELDS = (
    "sla_state", "sla_due_at", "merged_into_id", "created_at", "updated_at", "first_responded_at", "accepted_at",
    "resolved_at", "closed_at",
)  # fmt: skip


def _message_out(message: TicketMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "kind": message.kind,
        "author": _user_ref(message.author),
        "channel": message.channel,
        "body": message.body,
        "created_at": message.created_at,
    }


def _attachment_out(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "original_name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": reverse("api:attachment_file", args=[attachment.ticket_id, attachment.pk]),
        "message_id": attachment.message_id,
        "created_at": attachment.created_at,
    }


# --- Lookups of what the input names -------------------------------------------------------------
def _ticket(request: AuthedRequest, ref: str) -> Ticket:
    """By id (123) or number (TK0000123); one the caller may not see is simply not found."""
    pk = Ticket.pk_from_number(ref)
    if pk is None or not 0 < pk <= MAX_ID:
        raise NotFound(_("No ticket %(ref)s.") % {"ref": ref[:20]}, code="ticket.not_found")
    return queries.get_ticket_for(request.auth, pk)


def _request_type(code: str, field: str = "request_type") -> RequestType:
    """An active type by code, from the cached list (queries.request_types: dropped when a type is saved)."""
    found = next((t for t in queries.request_types() if t.code == code and t.active), None)
    if found is None:
        raise ValidationFailed(
            _("Unknown request type %(code)s.") % {"code": code}, code="ticket.unknown_request_type", field=field
        )
    return found


def _team(team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise NotFound(_("No team %(id)s.") % {"id": team_id}, code="team.not_found", field="team_id")
    return team


def _staff_user(user_id: int | None) -> Any:
    if user_id is None:
        return None
    user = User.objects.select_related("staff").filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound(_("No staff member %(id)s.") % {"id": user_id}, code="user.not_found", field="assignee_id")
    return user


def _customer(request: AuthedRequest, payload: TicketIn) -> Customer:
    """An existing customer by id, or the one behind a channel identity (created when new)."""
    who = payload.customer
    if payload.customer_id is not None and who is None:
        return customer_queries.get_customer_for(request.auth, payload.customer_id, details=False)
    if who is not None and payload.customer_id is None:
        return customer_services.resolve_customer(who.channel, who.value, name=who.name, by=request.auth)
    raise ValidationFailed(_("Give exactly one of customer_id or customer."), code="invalid", field="customer")


def _order(customer: Customer, payload: TicketIn) -> tuple[Order | None, list[OrderItem]]:
    if payload.order_id is None:
        if payload.order_item_ids:
            raise ValidationFailed(_("Order items need their order."), code="invalid", field="order_id")
        return None, []
    order = Order.objects.filter(pk=payload.order_id, customer=customer).first()
    if order is None:
        raise NotFound(_("No order %(id)s for this customer.") % {"id": payload.order_id}, code="order.not_found",
                       field="order_id")  # fmt: skip
    items = list(OrderItem.objects.filter(order=order, pk__in=payload.order_item_ids))
    if len(items) != len(set(payload.order_item_ids)):
        raise NotFound(_("Some order items are not in this order."), code="order_item.not_found",
                       field="order_item_ids")  # fmt: skip
    return order, items


def _filtered(user: Any, f: TicketFilters, *, keywords: bool = True) -> QuerySet[Ticket]:
    qs = queries.tickets_visible_to(user).prefetch_related("tags").order_by("-id")
    exact = {
        "status": f.status, "priority": f.priority, "request_type__code": f.request_type, "team_id": f.team,
        "assignee_id": f.assignee, "customer_id": f.customer, "channel": f.channel, "customer_tier": f.tier,
        "sla_state": f.sla_state, "tags__name": f.tag,
    }  # fmt: skip
    qs = qs.filter(**{k: v for k, v in exact.items() if v is not None})
    if f.open is not None:
        qs = qs.filter(status__in=OPEN_STATUSES) if f.open else qs.exclude(status__in=OPEN_STATUSES)
    if f.unassigned is not None:
        qs = qs.filter(assignee__isnull=f.unassigned)
    if keywords and f.q:
        qs = queries.search_tickets(qs, f.q)
    return qs


# --- Operations ----------------------------------------------------------------------------------
@router.get("/request-types", response={200: list[RequestTypeOut], **ERRORS})
def list_request_types(request: AuthedRequest) -> Any:
    """The active request types (诉求类型) a ticket can have."""
    return list(RequestType.objects.filter(active=True))


@router.get("/tickets", response={200: TicketPage, **ERRORS})
def list_tickets(request: AuthedRequest, filters: Query[TicketFilters], page: Query[PageParams]) -> Any:
    """Tickets the caller may see, newest first; every filter narrows the list."""
    result = _keyword_page(request.auth, filters, page) if filters.q else None
    if result is None:
        result = paginate(_filtered(request.auth, filters), page)
    return result | {"items": [_ticket_out(t) for t in result["items"]]}


def _keyword_page(user: Any, filters: TicketFilters, page: PageParams) -> dict[str, Any] | None:
    """A keyword page found as the queue finds it, walking the index newest first (several common
    words on PostgreSQL: ~20 ms through the plain filter at a million tickets, ~1-2 ms walked); None
    where the walk does not apply. The walked queryset holds only this page's rows."""
    limit = min(page.limit, MAX_LIMIT)
    unsearched = _filtered(user, filters, keywords=False)
    walked = queries.keyword_page(unsearched, filters.q or "", offset=page.offset, limit=limit + 1)
    if walked is None:
        return None
    result = paginate(walked, PageParams(limit=limit, offset=0))
    more = result["next_offset"] is not None
    return result | {"offset": page.offset, "next_offset": page.offset + limit if more else None}


@router.post("/tickets", response={201: TicketOut, **ERRORS})
def create_ticket(request: AuthedRequest, payload: TicketIn) -> Any:
    """Open a ticket: it is routed, assigned and its SLA clock starts, as from any channel."""
    authorize(request.auth, "ticket.create")  # before a new customer could be created for it
    customer = _customer(request, payload)
    order, items = _order(customer, payload)
    ticket = services.create_ticket(
        by=request.auth, customer=customer, subject=payload.subject, description=payload.description,
        request_type=_request_type(payload.request_type), channel=payload.channel, priority=payload.priority,
        order=order, order_items=items, tags=payload.tags,
    )  # fmt: skip
    # Answered without validating the dict again: `_ticket_out` builds TicketOut's fields in order from
    # what the service just wrote, and ninja's validation and dump of it cost as much as the routing
    # (test_create_answers_what_the_schema_renders holds the two the same).
    body = _ticket_out(ticket, tags=services.clean_tag_names(payload.tags))
    return rendered(request, body, status=201)


@router.get("/tickets/{ref}", response={200: TicketOut, **ERRORS})
def get_ticket(request: AuthedRequest, ref: TicketRef) -> Any:
    """One ticket by id or number (TK0000123)."""
    return _ticket_out(_ticket(request, ref))


@router.patch("/tickets/{ref}", response={200: TicketOut, **ERRORS})
def update_ticket(request: AuthedRequest, ref: TicketRef, payload: TicketUpdateIn) -> Any:
    """Change status, priority, request type, team or tags (illegal status moves are a 409)."""
    ticket = _ticket(request, ref)
    ticket = services.update_ticket(
        ticket, by=request.auth, status=payload.status, priority=payload.priority,
        request_type=_request_type(payload.request_type) if payload.request_type else None,
        team=_team(payload.team_id), tags=payload.tags,
    )  # fmt: skip
    return _ticket_out(_fresh(request, ticket))


@router.post("/tickets/{ref}/reply", response={201: MessageOut, **ERRORS})
def reply(request: AuthedRequest, ref: TicketRef, payload: ReplyIn) -> Any:
    """A public reply to the customer, optionally moving the status."""
    message = services.reply_to_ticket(
        _ticket(request, ref), payload.body, by=request.auth, new_status=payload.status,
        proposes_solution=payload.proposes_solution,
    )  # fmt: skip
    return Status(201, _message_out(message))


@router.post("/tickets/{ref}/notes", response={201: MessageOut, **ERRORS})
def add_note(request: AuthedRequest, ref: TicketRef, payload: NoteIn) -> Any:
    """An internal note; @username mentions notify colleagues."""
    return Status(201, _message_out(services.add_note(_ticket(request, ref), payload.body, by=request.auth)))


@router.post("/tickets/{ref}/assign", response={200: TicketOut, **ERRORS})
def assign(request: AuthedRequest, ref: TicketRef, payload: AssignIn) -> Any:
    """Give the ticket an owner (or none), optionally moving it to a team."""
    ticket = _ticket(request, ref)
    assignee = _staff_user(payload.assignee_id)
    services.assign_ticket(ticket, assignee, by=request.auth, team=_team(payload.team_id))
    return _ticket_out(_fresh(request, ticket))


@router.post("/tickets/{ref}/accept", response={200: TicketOut, **ERRORS})
def accept(request: AuthedRequest, ref: TicketRef) -> Any:
    """The owner confirms the ticket (确认受理)."""
    ticket = services.accept_ticket(_ticket(request, ref), by=request.auth)
    return _ticket_out(_fresh(request, ticket))


@router.post("/tickets/{ref}/merge", response={200: TicketOut, **ERRORS})
def merge(request: AuthedRequest, ref: TicketRef, payload: MergeIn) -> Any:
    """Fold this duplicate into `into`; answers the ticket that remains."""
    source = _ticket(request, ref)
    target = services.merge_tickets(source, _ticket(request, payload.into), by=request.auth)
    return _ticket_out(_fresh(request, target))


@router.get("/tickets/{ref}/messages", response={200: MessagePage, **ERRORS})
def list_messages(request: AuthedRequest, ref: TicketRef, page: Query[PageParams]) -> Any:
    """The conversation and internal notes, oldest first."""
    ticket = _ticket(request, ref)
    rows = TicketMessage.objects.filter(ticket=ticket).select_related("author").order_by("created_at", "id")
    result = paginate(rows, page)
    return result | {"items": [_message_out(m) for m in result["items"]]}


@router.get("/tickets/{ref}/attachments", response={200: AttachmentPage, **ERRORS})
def list_attachments(request: AuthedRequest, ref: TicketRef, page: Query[PageParams]) -> Any:
    """The ticket's attachments, oldest first, a page at a time."""
    ticket = _ticket(request, ref)
    result = paginate(Attachment.objects.filter(ticket=ticket).order_by("id"), page)
    return result | {"items": [_attachment_out(a) for a in result["items"]]}


@router.get(
    "/tickets/{ref}/attachments/{attachment_id}/file",
    response={200: None, **ERRORS},
    url_name="attachment_file",
    openapi_extra={"responses": {"200": {"description": "The file's bytes, with its stored content type."}}},
)
def download_attachment(request: AuthedRequest, ref: TicketRef, attachment_id: Id) -> Any:
    """The attachment's bytes (photos, videos and PDFs inline, `X-Content-Type-Options: nosniff`);
    404 for a ticket the caller may not open, an unknown id, or an attachment of another ticket."""
    found = queries.get_attachment_for(request.auth, _ticket(request, ref).pk, attachment_id)
    return download_response(found.file, found.original_name, found.content_type)


@router.post("/tickets/{ref}/attachments", response={201: AttachmentOut, **ERRORS})
def upload_attachment(request: AuthedRequest, ref: TicketRef, file: File[UploadedFile]) -> Any:
    """A photo, video or PDF (multipart field `file`); type and size limits answer 400."""
    attachment = services.add_attachment(_ticket(request, ref), file, by=request.auth)
    return Status(201, _attachment_out(attachment))


@router.get("/tickets/{ref}/events", response={200: TicketEventPage, **ERRORS})
def list_ticket_events(request: AuthedRequest, ref: TicketRef, page: Query[PageParams]) -> Any:
    """The ticket's full history, oldest first."""
    ticket = _ticket(request, ref)
    result = paginate(Event.objects.filter(ticket_id=ticket.pk).order_by("id"), page)
    result["items"] = [_event_out(e, request.auth) for e in result["items"]]
    return result


def _event_out(event: Event, user: Any) -> dict[str, Any]:
    """Contact details in the documents are masked for roles without customer.view_pii."""
    before, after, data = customer_queries.event_documents_for(user, event.before, event.after, event.data)
    return {"id": event.pk, "created_at": event.created_at, "actor": event.actor_label, "verb": event.verb,
            "before": before, "after": after, "data": data}  # fmt: skip


def _fresh(request: AuthedRequest, ticket: Ticket) -> Ticket:
    """Re-read after a write so related rows are current; the caller acted on it, so it may see it
    even if the action moved it out of the caller's queues."""
    return Ticket.objects.select_related("request_type", "customer", "team", "assignee").get(pk=ticket.pk)
