"""Every change to a ticket goes through one of these functions (one business action each).

Each checks permission, validates, writes in one transaction, records one event and tells the
SLA clock what happened. Permission checks run before the transaction opens, so a refusal is
recorded even though the action does not happen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import UploadedFile
from django.db import router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.models import Notification, Team
from desk.accounts.permissions import authorize
from desk.core.bulk import insert_rows
from desk.core.errors import ValidationFailed
from desk.core.events import EventRow, diff, record_event, record_event_rows
from desk.core.uploads import content_matches, disguised_message
from desk.customers.models import Channel, Customer
from desk.orders.models import Order, OrderItem
from desk.tickets import routing
from desk.tickets.errors import EMPTY_BODY, BadAttachment, CannotMerge, IllegalStatusChange, TicketClosed
from desk.tickets.models import (
    OPEN_STATUSES,
    Attachment,
    CannedReply,
    MessageKind,
    Priority,
    RequestType,
    RoutingRule,
    Status,
    Ticket,
    TicketMessage,
    TicketTag,
)
from desk.tickets.queries import scoped, ticket_scope
from desk.tickets.search import search_text_for

User = get_user_model()

ALLOWED_STATUS_CHANGES: dict[str, set[str]] = {
    Status.NEW: {Status.OPEN, Status.PENDING_CUSTOMER, Status.PENDING_INTERNAL, Status.RESOLVED, Status.CLOSED},
    Status.OPEN: {Status.PENDING_CUSTOMER, Status.PENDING_INTERNAL, Status.RESOLVED, Status.CLOSED},
    Status.PENDING_CUSTOMER: {Status.OPEN, Status.PENDING_INTERNAL, Status.RESOLVED, Status.CLOSED},
    Status.PENDING_INTERNAL: {Status.OPEN, Status.PENDING_CUSTOMER, Status.RESOLVED, Status.CLOSED},
    Status.RESOLVED: {Status.CLOSED, Status.OPEN},
    Status.CLOSED: {Status.OPEN},
}

ATTACHMENT_TYPES = {
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
    "video/mp4", "video/quicktime", "video/webm",
    "application/pdf",
}  # fmt: skip

_MENTION = re.compile(r"@([\w.\-]+)")


def _snapshot(ticket: Ticket) -> dict[str, Any]:
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "request_type": ticket.request_type.code,
        "team": ticket.team_id,
        "assignee": ticket.assignee_id,
    }


def _event(verb: str, ticket: Ticket, by: Any, **kwargs: Any) -> None:
    record_event(verb, actor=by, subject=ticket, ticket_id=ticket.pk, customer_id=ticket.customer_id, **kwargs)


def _sla() -> Any:
    from desk.sla import services as sla_services  # the SLA app builds on tickets

    return sla_services


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(EMPTY_BODY, code="ticket.empty_body", field="body")
    return body


# --- Creation ------------------------------------------------------------------------------------
def create_ticket(
    *,
    by: Any,
    customer: Customer,
    subject: str,
    description: str = "",
    request_type: RequestType,
    channel: str = Channel.WEB,
    priority: int | None = None,
    order: Order | None = None,
    order_items: Sequence[OrderItem] = (),
    tags: Iterable[str] = (),
    from_customer: bool = True,
) -> Ticket:
    """Open a ticket, route it to a team, assign an owner and start its SLA clock.

    `by` is the staff user or integration creating it, or None when the customer wrote in.
    """
    if by is not None:
        authorize(by, "ticket.create")
    subject = (subject or "").strip()
    if not subject:
        raise ValidationFailed(_("A ticket needs a subject."), code="ticket.no_subject", field="subject")
    _check_order(customer, order, order_items)
    now = timezone.now()
    ticket = Ticket(
        subject=subject[:200],
        description=description,
        request_type=request_type,
        priority=priority or Priority.NORMAL,
        channel=channel,
        customer=customer,
        customer_tier=customer.tier,
        order=order,
        created_by=by if getattr(by, "is_authenticated", False) else None,
        created_at=now,
        updated_at=now,
        search_text=search_text_for(subject, description),
    )
    # Routing, assignment and the SLA plan only read, so they run before the write transaction: on
    # SQLite the one writer's lock is then held for the inserts alone.
    rule = routing.route(ticket)
    if rule is not None:
        ticket.team = rule.team
        if rule.set_priority and priority is None:
            ticket.priority = rule.set_priority
    ticket.assignee = routing.pick_assignee(ticket.team, ticket)
    clock = _sla().plan_clock(ticket)  # the SLA summary goes in with the ticket's INSERT
    with transaction.atomic():
        _insert_ticket(ticket)
        if order_items:
            ticket.order_items.set(order_items)
        _set_tags(ticket, tags)
        if description and from_customer:
            insert_rows(TicketMessage, _MESSAGE_FIELDS, [(ticket.pk, MessageKind.CUSTOMER, channel, description, now)])
        _record_creation(ticket, by, rule, channel)
        _sla().start_clock(ticket, clock)
    return ticket


_TICKET_FIELDS = [f.attname for f in Ticket._meta.concrete_fields if not f.primary_key]
_MESSAGE_FIELDS = ["ticket_id", "kind", "channel", "body", "created_at"]


def _insert_ticket(ticket: Ticket) -> None:
    """The new ticket's row from its values (what `save()` would write, for less per-field Python:
    tickets have no save() override or signal receivers; the database's search triggers still run)."""
    ticket.pk = insert_rows(Ticket, _TICKET_FIELDS, [[getattr(ticket, name) for name in _TICKET_FIELDS]])[0]
    ticket._state.adding, ticket._state.db = False, router.db_for_write(Ticket)


def _record_creation(ticket: Ticket, by: Any, rule: RoutingRule | None, channel: str) -> None:
    """ticket.created and, when it got an owner, ticket.assigned: written in one INSERT, as rows (two
    `Event` instances cost more Python than the insert; the outbox writers and listeners get the same)."""
    user = by if getattr(by, "is_authenticated", False) else None
    head = (ticket.created_at, user.pk if user is not None else None,
            user.get_username() if user is not None else "system")  # fmt: skip
    tail: tuple[str, int, int, int, dict[str, Any]] = ("ticket", ticket.pk, ticket.customer_id, ticket.pk, {})
    after = _snapshot(ticket) | {"subject": ticket.subject, "channel": channel}
    rows: list[EventRow] = [(*head, "ticket.created", *tail, after, {"routing_rule": rule.name if rule else None})]
    if ticket.assignee_id:
        rows.append((*head, "ticket.assigned", *tail, {"assignee": ticket.assignee_id}, {"auto": True}))
    record_event_rows(rows)


def _check_order(customer: Customer, order: Order | None, items: Sequence[OrderItem]) -> None:
    if order is not None and order.customer_id != customer.pk:
        raise ValidationFailed(
            _("That order belongs to another customer."), code="ticket.order_mismatch", field="order"
        )
    for item in items:
        if order is None or item.order_id != order.pk:
            raise ValidationFailed(
                _("Order items must belong to the ticket's order."), code="ticket.item_mismatch", field="order_items"
            )


def clean_tag_names(names: Iterable[str]) -> list[str]:
    """The tag names a ticket ends up with for `names`: trimmed, at most 50 characters, sorted, unique."""
    return sorted({n.strip()[:50] for n in names if n and n.strip()})


def _set_tags(ticket: Ticket, names: Iterable[str]) -> None:
    clean = clean_tag_names(names)
    if not clean:
        return
    existing = {t.name: t for t in TicketTag.objects.filter(name__in=clean)}
    missing = [TicketTag(name=n) for n in clean if n not in existing]
    TicketTag.objects.bulk_create(missing, ignore_conflicts=True)
    ticket.tags.set(TicketTag.objects.filter(name__in=clean))


# --- Ownership -----------------------------------------------------------------------------------
def assign_ticket(ticket: Ticket, assignee: Any, *, by: Any, team: Team | None = None) -> Ticket:
    """Give the ticket an owner (or none). Taking a ticket yourself needs only reply rights."""
    taking_it = assignee is not None and assignee.pk == getattr(by, "pk", None)
    authorize(by, "ticket.reply" if taking_it else "ticket.assign", subject=ticket)
    if assignee is not None and not hasattr(assignee, "staff"):
        raise ValidationFailed(_("Only staff members can own tickets."), code="ticket.bad_assignee", field="assignee")
    with transaction.atomic():
        ticket = _lock(ticket)
        before = _snapshot(ticket)
        ticket.assignee = assignee
        if team is not None:
            ticket.team = team
        elif assignee is not None and assignee.staff.team_id:
            ticket.team_id = assignee.staff.team_id
        _touch(ticket)
        ticket.save()
        b, a = diff(before, _snapshot(ticket))
        _event("ticket.assigned", ticket, by, before=b, after=a)
        _notify(assignee, by, "ticket.assigned", _("You now own %(n)s") % {"n": ticket.number}, ticket)
    return ticket


def accept_ticket(ticket: Ticket, *, by: Any) -> Ticket:
    """The owner confirms the ticket (确认受理): the 2-hour confirmation target is met."""
    authorize(by, "ticket.reply", subject=ticket)
    with transaction.atomic():
        ticket = _lock(ticket)
        _ensure_open(ticket)
        before = _snapshot(ticket)
        if ticket.assignee_id is None:
            ticket.assignee = by
            if getattr(by, "staff", None) and by.staff.team_id:
                ticket.team_id = ticket.team_id or by.staff.team_id
        if ticket.status == Status.NEW:
            ticket.status = Status.OPEN
        ticket.accepted_at = ticket.accepted_at or timezone.now()
        _touch(ticket)
        ticket.save()
        b, a = diff(before, _snapshot(ticket))
        _event("ticket.accepted", ticket, by, before=b, after=a)
        _sla().on_ticket_changed(ticket)
    return ticket


# --- Conversation --------------------------------------------------------------------------------
def reply_to_ticket(
    ticket: Ticket,
    body: str,
    *,
    by: Any,
    new_status: str | None = None,
    proposes_solution: bool = False,
    canned: CannedReply | None = None,
) -> TicketMessage:
    """A public reply to the customer; the first one meets the first-response target."""
    authorize(by, "ticket.reply", subject=ticket)
    body = _clean_body(body)
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.status == Status.CLOSED:
            raise TicketClosed(_("This ticket is closed; reopen it to reply."))
        before = _snapshot(ticket)
        now = timezone.now()
        message = TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.REPLY, author=by, channel=ticket.channel, body=body, created_at=now
        )
        ticket.first_responded_at = ticket.first_responded_at or now
        ticket.human_contacted_at = ticket.human_contacted_at or now
        if proposes_solution:
            ticket.solution_proposed_at = ticket.solution_proposed_at or now
        if ticket.assignee_id is None:
            ticket.assignee = by
        target = new_status or (Status.OPEN if ticket.status == Status.NEW else ticket.status)
        _apply_status(ticket, target, now)
        ticket.search_text = f"{ticket.search_text} {search_text_for(body)}"[:20000]
        _touch(ticket, now)
        ticket.save()
        b, a = diff(before, _snapshot(ticket))
        _event(
            "ticket.replied",
            ticket,
            by,
            before=b,
            after=a,
            data={"message": message.pk, "canned": canned.pk if canned else None, "solution": proposes_solution},
        )
        _sla().on_ticket_changed(ticket)
    return message


def add_note(ticket: Ticket, body: str, *, by: Any) -> TicketMessage:
    """An internal note; @username mentions notify colleagues."""
    authorize(by, "ticket.note", subject=ticket)
    body = _clean_body(body)
    with transaction.atomic():
        message = TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.NOTE, author=by, channel=ticket.channel, body=body,
            created_at=timezone.now(),
        )  # fmt: skip
        named = User.objects.filter(username__in=set(_MENTION.findall(body)), is_active=True).select_related("staff")
        mentioned, unseen = _split_by_sight(ticket, list(named))
        if mentioned:
            message.mentions.set(mentioned)
        data = {"message": message.pk, "mentions": [u.pk for u in mentioned]}
        if unseen:
            data["not_notified"] = [u.pk for u in unseen]
        _event("ticket.noted", ticket, by, data=data)
        for user in mentioned:
            _notify(user, by, "ticket.mentioned", _("You were mentioned on %(n)s") % {"n": ticket.number}, ticket)
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
    return message


def _split_by_sight(ticket: Ticket, users: list[Any]) -> tuple[list[Any], list[Any]]:
    """Those of `users` who may open `ticket`, and the others: a mention must not send a colleague
    of another team a link to a ticket they cannot read (nor tell them what it is about)."""
    sees: list[Any] = []
    unseen: list[Any] = []
    for user in users:
        scope = ticket_scope(user)
        visible = scope is not None and scoped(Ticket.objects.filter(pk=ticket.pk), *scope).exists()
        (sees if visible else unseen).append(user)
    return sees, unseen


def add_customer_message(ticket: Ticket, body: str, *, channel: str | None = None) -> TicketMessage:
    """The customer wrote again: stored first, then the ticket reopens and its clock runs."""
    body = _clean_body(body)
    with transaction.atomic():
        ticket = _lock(ticket)
        before = _snapshot(ticket)
        now = timezone.now()
        message = TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.CUSTOMER, channel=channel or ticket.channel, body=body, created_at=now
        )
        if ticket.status in (Status.PENDING_CUSTOMER, Status.RESOLVED, Status.CLOSED):
            _apply_status(ticket, Status.OPEN, now)
        ticket.search_text = f"{ticket.search_text} {search_text_for(body)}"[:20000]
        _touch(ticket, now)
        ticket.save()
        b, a = diff(before, _snapshot(ticket))
        record_event(
            "ticket.customer_replied", actor_label=f"customer:{ticket.customer_id}", subject=ticket,
            ticket_id=ticket.pk, customer_id=ticket.customer_id, before=b, after=a, data={"message": message.pk},
        )  # fmt: skip
        _sla().on_ticket_changed(ticket)
    return message


# --- Fields and status ---------------------------------------------------------------------------
def update_ticket(
    ticket: Ticket,
    *,
    by: Any,
    status: str | None = None,
    priority: int | None = None,
    request_type: RequestType | None = None,
    team: Team | None = None,
    tags: Iterable[str] | None = None,
) -> Ticket:
    """Change status, priority, type, team or tags; illegal status moves are refused."""
    authorize(by, "ticket.update", subject=ticket)
    with transaction.atomic():
        ticket = _lock(ticket)
        before = _snapshot(ticket)
        now = timezone.now()
        if status is not None and status != ticket.status:
            _check_status_change(ticket.status, status)
            _apply_status(ticket, status, now)
        if priority is not None:
            ticket.priority = priority
        if request_type is not None:
            ticket.request_type = request_type
        if team is not None:
            ticket.team = team
        if tags is not None:
            ticket.tags.clear()
            _set_tags(ticket, tags)
        _touch(ticket, now)
        ticket.save()
        b, a = diff(before, _snapshot(ticket))
        verb = "ticket.reopened" if b.get("status") in (Status.RESOLVED, Status.CLOSED) and a else "ticket.updated"
        _event(verb, ticket, by, before=b, after=a, data={"tags": sorted(tags)} if tags is not None else None)
        _sla().on_ticket_changed(ticket, policy_inputs_changed=bool({"priority", "request_type"} & set(a)))
    return ticket


def _check_status_change(current: str, target: str) -> None:
    if target not in Status.values:
        raise ValidationFailed(_("Unknown status %(s)s.") % {"s": target}, code="ticket.bad_status", field="status")
    if target not in ALLOWED_STATUS_CHANGES[current]:
        raise IllegalStatusChange(
            _("A ticket cannot go from %(a)s to %(b)s.") % {"a": Status(current).label, "b": Status(target).label},
            field="status",
        )


def _apply_status(ticket: Ticket, status: str, now: Any) -> None:
    if status == ticket.status:
        return
    _check_status_change(ticket.status, status)
    ticket.status = status
    if status == Status.RESOLVED:
        ticket.resolved_at = now
    elif status == Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif status == Status.OPEN:
        ticket.resolved_at = None
        ticket.closed_at = None


def merge_tickets(source: Ticket, target: Ticket, *, by: Any) -> Ticket:
    """Fold a duplicate into another ticket of the same customer; the duplicate closes."""
    authorize(by, "ticket.merge", subject=source)
    if source.pk == target.pk:
        raise CannotMerge(_("A ticket cannot be merged into itself."))
    if source.customer_id != target.customer_id:
        raise CannotMerge(_("Only tickets of the same customer can be merged."))
    with transaction.atomic():
        first, second = sorted([source.pk, target.pk])  # lock order: lower id first
        locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[first, second])}
        source, target = locked[source.pk], locked[target.pk]
        if source.merged_into_id or target.merged_into_id:
            raise CannotMerge(_("One of these tickets was already merged."))
        TicketMessage.objects.filter(ticket=source).update(ticket=target)
        Attachment.objects.filter(ticket=source).update(ticket=target)
        carried = _carry_over(source, target)
        target.search_text = f"{target.search_text} {source.search_text}"[:20000]
        _touch(target)
        target.save()
        before = _snapshot(source)
        source.merged_into = target
        if source.status != Status.CLOSED:
            _apply_status(source, Status.CLOSED, timezone.now())
        _touch(source)
        source.save()
        _event("ticket.merged", source, by, before=before, after=_snapshot(source), data={"into": target.pk})
        _event("ticket.merge_received", target, by, data={"from": source.pk, **carried})
        _sla().on_ticket_changed(source)
        _sla().on_ticket_changed(target)  # it may now hold the reply or the acceptance the duplicate had
    return target


def _carry_over(source: Ticket, target: Ticket) -> dict[str, Any]:
    """What the duplicate knew that the kept ticket did not: its tags, and its order with the items
    (when the kept ticket has no order, or the same one). Another order stays on the duplicate."""
    carried: dict[str, Any] = {}
    new_tags = set(source.tags.values_list("name", flat=True)) - set(target.tags.values_list("name", flat=True))
    if new_tags:
        _set_tags(target, [*target.tags.values_list("name", flat=True), *new_tags])
        carried["tags"] = sorted(new_tags)
    if source.order_id is not None and target.order_id in (None, source.order_id):
        if target.order_id is None:
            target.order_id = source.order_id
            carried["order"] = source.order_id
        items = set(source.order_items.values_list("pk", flat=True)) - set(
            target.order_items.values_list("pk", flat=True)
        )
        if items:
            target.order_items.add(*items)
            carried["order_items"] = sorted(items)
    return carried


# --- Attachments ---------------------------------------------------------------------------------
def add_attachment(
    ticket: Ticket, upload: UploadedFile, *, by: Any, message: TicketMessage | None = None
) -> Attachment:
    """Photos, videos and PDFs only (checked by their first bytes too), within the size limit, so
    evidence stays viewable and nothing executable hides behind an image type."""
    authorize(by, "ticket.note", subject=ticket)
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    if content_type not in ATTACHMENT_TYPES:
        raise BadAttachment(
            _("%(name)s is not a photo, video or PDF (got %(type)s).")
            % {"name": upload.name, "type": content_type or "?"},
            field="file",
        )
    limit = settings.DESK_ATTACHMENT_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise BadAttachment(
            _("%(name)s is larger than %(mb)s MB.") % {"name": upload.name, "mb": limit // (1024 * 1024)},
            field="file",
        )
    if not content_matches(upload, content_type):  # the declared type is a claim: the bytes must agree
        raise BadAttachment(disguised_message(upload.name, content_type), field="file")
    with transaction.atomic():
        attachment = Attachment.objects.create(
            ticket=ticket, message=message, file=upload, original_name=(upload.name or "file")[:200],
            content_type=content_type, size=upload.size, uploaded_by=by,
        )  # fmt: skip
        _event("ticket.attachment_added", ticket, by, data={"attachment": attachment.pk, "name": upload.name})
    return attachment


# --- Helpers -------------------------------------------------------------------------------------
def _lock(ticket: Ticket) -> Ticket:
    # of=("self",): PostgreSQL would otherwise lock the joined request type and customer rows too, and
    # every change to a ticket of the same type or customer would queue behind this one's commit.
    return Ticket.objects.select_for_update(of=("self",)).select_related("request_type", "customer").get(pk=ticket.pk)


def _ensure_open(ticket: Ticket) -> None:
    if ticket.status == Status.CLOSED:
        raise TicketClosed(_("This ticket is closed; reopen it first."))


def _touch(ticket: Ticket, now: Any = None) -> None:
    ticket.updated_at = now or timezone.now()


def _notify(user: Any, by: Any, verb: str, text: str, ticket: Ticket) -> None:
    if user is None or user.pk == getattr(by, "pk", None):
        return
    Notification.objects.create(user=user, verb=verb, text=text, link=f"/tickets/{ticket.pk}/")


# --- Following the customer ----------------------------------------------------------------------
def follow_customer_tier(events: Sequence[Any]) -> None:
    """A customer who became VIP (or stopped being one) is served as such on the tickets still open:
    their tier, and with it the SLA policy chosen by tier, change in the same transaction as the
    customer record (an event writer, `desk.core.events.on_event_written`)."""
    for event in events:
        after = event.after or {}
        if event.verb == "customer.updated" and "tier" in after and event.customer_id is not None:
            _retier(event.customer_id, after["tier"], by_id=event.actor_id)


def _retier(customer_id: int, tier: str, *, by_id: int | None) -> None:
    open_ids = Ticket.objects.filter(customer_id=customer_id, status__in=OPEN_STATUSES).exclude(customer_tier=tier)
    by = User.objects.filter(pk=by_id).first() if by_id is not None else None
    for ticket_id in open_ids.values_list("pk", flat=True):
        ticket = _lock(Ticket(pk=ticket_id))
        before = ticket.customer_tier
        ticket.customer_tier = tier
        ticket.save(update_fields=["customer_tier"])
        _event("ticket.tier_changed", ticket, by, before={"customer_tier": before}, after={"customer_tier": tier})
        _sla().on_ticket_changed(ticket, policy_inputs_changed=True)
