"""The agent console: queues, the ticket page with its actions, and the supervisor overview.

Views are thin: they parse a form, call one query or service, and render. Domain errors become
form errors on the page (4xx, never 500); Forbidden becomes the 403 page; tickets outside the
user's scope are 404 so outsiders cannot tell they exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import wraps
from html import escape
from typing import Any, NamedTuple

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.messages import get_messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from desk.accounts.models import Availability
from desk.accounts.permissions import authorize, can
from desk.core.errors import DomainError, Forbidden, NotFound
from desk.core.prepared import Read, reads_ahead
from desk.core.uploads import download_response
from desk.customers.models import Channel, Tier
from desk.customers.queries import get_customer_for
from desk.customers.views import panel_context, panel_reads
from desk.tickets import page_reads, services
from desk.tickets.forms import AssignForm, AttachmentForm, MergeForm, NoteForm, QueueFilterForm, ReplyForm, UpdateForm
from desk.tickets.models import (
    TICKET_PREFIX,
    Attachment,
    CannedReply,
    Priority,
    RequestType,
    SlaState,
    Status,
    Ticket,
    fill_placeholders,
)
from desk.tickets.queries import (
    active_canned_replies,
    assignable_staff,
    get_attachment_for,
    get_ticket_for,
    keyword_page,
    note_unseen,
    overview_figures,
    request_types,
    tickets_visible_to,
)

PAGE_SIZE = 50
HISTORY_SIZE = page_reads.HISTORY_SIZE
# The queue's columns, read as tuples: model instances for 50 rows and their relations cost more
# than the rest of the page.
QUEUE_COLUMNS = (
    "id", "subject", "priority", "status", "customer_tier", "sla_state", "sla_due_at", "updated_at",
    "customer__name", "request_type__name_zh", "request_type__name_en",
    "assignee__username", "assignee__first_name", "assignee__last_name",
)  # fmt: skip
SLA_DUE_SHOWN = frozenset({SlaState.OK, SlaState.WARNING, SlaState.BREACHED})


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {"can": _request_can(), "messages": get_messages(request), "lang": get_language(), **context}
    return render(request, template, context, status=status)


def _request_can() -> Callable[..., bool]:
    """`can` for one render: the layout asks the same few questions, each answered once."""
    answers: dict[tuple[Any, str], bool] = {}

    def cached_can(user: Any, action: str, **kwargs: Any) -> bool:
        if kwargs:
            return can(user, action, **kwargs)
        key = (getattr(user, "pk", None), action)
        if key not in answers:
            answers[key] = can(user, action)
        return answers[key]

    return cached_can


def _forbidden(request: HttpRequest, error: DomainError) -> HttpResponse:
    return _render(request, "403.html", {"error": error}, status=403)


def staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged-in staff only; Forbidden → the 403 page, NotFound → 404."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Forbidden as error:
            return _forbidden(request, error)
        except NotFound as error:
            raise Http404(error.message) from error

    return wrapper


# --- Queues ---------------------------------------------------------------------------------------
class QueueRow(NamedTuple):
    """One queue row with every cell already an HTML-escaped string: the template only joins them.

    The row loop of `queue_table.html` runs with autoescape off, because markupsafe's escape of
    ~15 cells in 50 rows was a quarter of the page's time. Text from the database is escaped here
    (`html.escape`), labels once per language, numbers and times are digits.
    """

    link: str
    number: str
    subject: str
    customer: str
    tier: str  # the tier's label, or "" for regular customers
    request_type: str
    priority: int
    priority_label: str
    status: str
    status_label: str
    sla: str
    sla_label: str
    sla_due: str
    assignee: str
    updated: str


def _queue(request: HttpRequest) -> dict[str, Any]:
    form = QueueFilterForm(request.GET or None)
    data = form.valid_part()
    tab = data.get("tab") or "mine"
    if tab == "all":
        authorize(request.user, "ticket.view_all")
    page = data.get("page") or 1
    found = _queue_page(form, request.user, tab, page)
    params = request.GET.copy()
    params.pop("page", None)
    return {
        "form": form,
        "chosen": {k: "" if v is None else str(v) for k, v in data.items() if k in FILTER_SELECTS},
        "filter_selects": _filter_selects(),
        "chosen_type": data["type"].code if data.get("type") else "",
        "q": data.get("q") or "",
        "tag": data.get("tag") or "",
        "tab": tab,
        "rows": _queue_rows(found[:PAGE_SIZE]),
        "page": page,
        "has_next": len(found) > PAGE_SIZE,
        "query": params.urlencode(),
        "tabs": _tabs(request.user),
        "ignored": [str(form.fields[name].label or name) for name in form.errors] if form.is_bound else [],
    }


def _queue_page(form: QueueFilterForm, user: Any, tab: str, page: int) -> list[tuple[Any, ...]]:
    """PAGE_SIZE + 1 rows of QUEUE_COLUMNS (the extra one tells whether there is a next page)."""
    offset, q = (page - 1) * PAGE_SIZE, form.value("q")
    if q and tab != "breaching":  # newest first: walk the keyword index newest first too
        unsearched = form.apply(tickets_visible_to(user), user, keywords=False)
        found = keyword_page(unsearched, q, offset=offset, limit=PAGE_SIZE + 1)
        if found is not None:
            return list(_queue_columns(found))
    qs = form.apply(tickets_visible_to(user), user)
    return list(_queue_columns(qs)[offset : offset + PAGE_SIZE + 1])


def _queue_columns(qs: QuerySet[Ticket]) -> QuerySet[Any]:
    """Only what the table shows: descriptions and search tokens stay in the database."""
    return qs.select_related(None).values_list(*QUEUE_COLUMNS)


def _queue_rows(found: list[tuple[Any, ...]]) -> list[QueueRow]:
    labels = _row_labels()
    priorities, statuses, slas, tiers = labels["priority"], labels["status"], labels["sla"], labels["tier"]
    english = (get_language() or "").startswith("en")
    link = reverse("tickets:detail", args=[0]).replace("/0/", "/{}/")
    zone = timezone.get_current_timezone()
    rows = []
    for pk, subject, prio, status, tier, sla, due, updated, customer, zh, en, username, first, last in found:
        rows.append(
            QueueRow(
                link.format(pk),
                f"{TICKET_PREFIX}{pk:07d}",
                escape(subject),
                escape(customer),
                "" if tier == Tier.REGULAR else tiers.get(tier) or escape(tier),
                escape((en if english else zh) or ""),
                int(prio),
                priorities.get(prio) or escape(str(prio)),
                escape(status),
                statuses.get(status) or escape(status),
                escape(sla),
                slas.get(sla) or escape(sla),
                _short(due, zone) if due and sla in SLA_DUE_SHOWN else "",
                escape((f"{first} {last}".strip() or username) if username else ""),
                _short(updated, zone),
            )
        )
    return rows


def _short(value: datetime, zone: tzinfo) -> str:
    """ "11-24 09:30" in the shop's zone, as the `shorttime` filter writes it."""
    local = value.astimezone(zone)
    return f"{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


_LABELS: dict[str, dict[str, dict[Any, str]]] = {}
_FILTERS: dict[str, list[tuple[str, str, list[tuple[str, str]]]]] = {}
FILTER_SELECTS = ("status", "priority", "tier", "channel", "sla")


def _filter_selects() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(name, label, [(value, label)]) of the filter form's fixed selects, once per language and process."""
    language = get_language() or ""
    selects = _FILTERS.get(language)
    if selects is None:
        fields = QueueFilterForm.base_fields
        selects = _FILTERS[language] = [
            (name, str(fields[name].label), [(str(v), str(label)) for v, label in fields[name].choices])  # type: ignore[attr-defined]
            for name in FILTER_SELECTS
        ]
    return selects


def _row_labels() -> dict[str, dict[Any, str]]:
    """Choice labels, translated and HTML-escaped once per language and process instead of once per cell."""
    language = get_language() or ""
    labels = _LABELS.get(language)
    if labels is None:
        labels = _LABELS[language] = {
            "priority": {value: escape(str(label)) for value, label in Priority.choices},
            "status": {value: escape(str(label)) for value, label in Status.choices},
            "sla": {value: escape(str(label)) for value, label in SlaState.choices},
            "tier": {value: escape(str(label)) for value, label in Tier.choices},
        }
    return labels


def _tabs(user: Any) -> list[tuple[str, str]]:
    tabs = [("mine", _("Mine")), ("team", _("My team")), ("unassigned", _("Unassigned")),
            ("breaching", _("Breaching soon"))]  # fmt: skip
    if can(user, "ticket.view_all"):
        tabs.append(("all", _("All")))
    return tabs


@require_GET
@staff_page
def queue(request: HttpRequest) -> HttpResponse:
    context = _queue(request) | {"nav": "queue", "request_types": [t for t in request_types() if t.active]}
    return _render(request, "tickets/queue.html", context)


@require_GET
@staff_page
def queue_rows(request: HttpRequest) -> HttpResponse:
    """The table body alone, polled by htmx every 10 s with the same filters."""
    return _render(request, "tickets/partials/queue_table.html", _queue(request))


# --- Ticket page ----------------------------------------------------------------------------------
def _ticket(request: HttpRequest, pk: int) -> Ticket:
    """The ticket if the user may see it (404 otherwise), with its order for canned replies."""
    ticket = tickets_visible_to(request.user).select_related("order").filter(pk=pk).first()
    if ticket is None:
        note_unseen(request.user, pk)
        raise Http404(_("No such ticket."))
    return ticket


def _shown_ticket(request: HttpRequest, pk: int) -> Ticket:
    """The ticket for display only (GET): its own columns but the search words, and the shown relations."""
    ticket = page_reads.shown_ticket(request.user, pk)
    if ticket is None:
        note_unseen(request.user, pk)
        raise Http404(_("No such ticket."))
    types = {t.pk: t for t in request_types()}  # cached; set so that ticket.request_type costs no query
    ticket.request_type = types.get(ticket.request_type_id) or ticket.request_type
    return ticket


def _live_context(ticket: Ticket, types: list[RequestType]) -> dict[str, Any]:
    """The conversation, attachments and history: the part two agents must see change."""
    conversation = page_reads.conversation(ticket.pk)
    attachments = page_reads.attachments(ticket.pk)
    events = page_reads.history(ticket.pk)
    by_message: dict[int | None, list[Attachment]] = {}
    for attachment in attachments:
        by_message.setdefault(attachment.message_id, []).append(attachment)
    return {
        "ticket": ticket,
        "conversation": conversation,
        "attachments_by_message": by_message,
        "loose_attachments": by_message.get(None, []),
        "history": events,
        "event_fields": _event_fields(types),
        "tags": page_reads.tags_of(ticket),
    }


def _detail_context(request: HttpRequest, ticket: Ticket) -> dict[str, Any]:
    user = request.user
    types = request_types()
    context = _live_context(ticket, types)
    context.update(
        nav="queue",
        statuses=[(s, Status(s).label) for s in sorted(services.ALLOWED_STATUS_CHANGES[ticket.status])],
        priorities=Priority.choices,
        request_types=[t for t in types if t.active],
        canned=_canned_choices(ticket, user),
        members=_member_choices(ticket) if can(user, "ticket.assign") else [],
        errors={},
        panel=_panel(request, ticket),
    )
    return context


def _panel(request: HttpRequest, ticket: Ticket) -> dict[str, Any] | None:
    """The customer-360 panel's context: from the customer `shown_ticket` read with the ticket, or (a page
    re-rendered after a failed action, whose ticket was read whole) from the customer's own read."""
    customer = ticket.customer
    if "_prefetched_objects_cache" not in customer.__dict__:
        try:
            customer = get_customer_for(request.user, ticket.customer_id)
        except NotFound:
            return None
    return panel_context(request, customer, ticket.pk)


def _member_choices(ticket: Ticket) -> list[tuple[int, str]]:
    """(user id, "name (availability)") for the assign picker, read as tuples."""
    availability = {value: str(label) for value, label in Availability.choices}
    return [
        (pk, f"{shown or f'{first} {last}'.strip() or username} ({availability.get(state, state)})")
        for pk, username, first, last, shown, state in page_reads.members(ticket.team_id)
    ]


def _members(ticket: Ticket) -> Any:
    """The assign form's choices (the picker shows the same people as `page_reads.members`)."""
    return assignable_staff(ticket.team_id).select_related("staff")


@require_GET
@staff_page
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _shown_ticket(request, pk)
    with reads_ahead(_page_reads(request, ticket)):
        context = _detail_context(request, ticket)
    return _render(request, "tickets/detail.html", context)


def _page_reads(request: HttpRequest, ticket: Ticket) -> list[Read]:
    """Every read the page makes once it has its ticket: they need only its ids, so they go out together."""
    reads = page_reads.live_reads(ticket.pk)
    if can(request.user, "ticket.assign"):
        reads.append(page_reads.members_read(ticket.team_id))
    return reads + panel_reads(request, ticket.customer_id)


@require_GET
@staff_page
def live(request: HttpRequest, pk: int) -> HttpResponse:
    """The conversation and status strip, polled by htmx so colleagues' changes appear."""
    ticket = _shown_ticket(request, pk)
    with reads_ahead(page_reads.live_reads(ticket.pk)):
        context = _live_context(ticket, request_types())
    return _render(request, "tickets/partials/live_response.html", context)


@require_GET
@staff_page
def attachment(request: HttpRequest, pk: int, attachment_id: int) -> HttpResponse:
    """An attachment's bytes, for whoever may open its ticket (404 for everyone else, like the ticket)."""
    found = get_attachment_for(request.user, pk, attachment_id)
    return download_response(found.file, found.original_name, found.content_type)


# --- Actions --------------------------------------------------------------------------------------
def ticket_action(action: str) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
    """POST-only: run the action; a domain error re-renders the page with the message by the form."""

    def decorate(run: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @wraps(run)
        @require_POST
        @staff_page
        def view(request: HttpRequest, pk: int) -> HttpResponse:
            ticket = _ticket(request, pk)
            try:
                done = run(request, ticket)
            except Forbidden:
                raise
            except DomainError as error:
                return _action_failed(request, ticket, action, error)
            messages.success(request, done)
            return redirect("tickets:detail", pk=ticket.pk)

        return view

    return decorate


def _action_failed(request: HttpRequest, ticket: Ticket, action: str, error: DomainError) -> HttpResponse:
    ticket = _ticket(request, ticket.pk)  # the service may have refreshed it; show the stored state
    context = _detail_context(request, ticket)
    context["errors"] = {action: error.message}
    context["posted"] = {action: request.POST}
    return _render(request, "tickets/detail.html", context, status=error.status if error.status < 500 else 400)


def _invalid(form: Any) -> DomainError:
    first = next(iter(form.errors.values()))[0] if form.errors else _("Check the form.")
    return DomainError(first, code="form.invalid")


@ticket_action("accept")
def accept(request: HttpRequest, ticket: Ticket) -> str:
    services.accept_ticket(ticket, by=request.user)
    return _("You accepted %(n)s.") % {"n": ticket.number}


@ticket_action("assign")
def assign(request: HttpRequest, ticket: Ticket) -> str:
    form = AssignForm(request.POST, members=_members(ticket))
    if not form.is_valid():
        raise _invalid(form)
    assignee = form.cleaned_data["assignee"]
    services.assign_ticket(ticket, assignee, by=request.user)
    if assignee is None:
        return _("%(n)s is now unassigned.") % {"n": ticket.number}
    return _("%(n)s assigned to %(who)s.") % {"n": ticket.number, "who": assignee.get_username()}


@ticket_action("take")
def take(request: HttpRequest, ticket: Ticket) -> str:
    services.assign_ticket(ticket, request.user, by=request.user)
    return _("You now own %(n)s.") % {"n": ticket.number}


@ticket_action("update")
def update(request: HttpRequest, ticket: Ticket) -> str:
    form = UpdateForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    data = form.cleaned_data
    tags = form.tag_list() if "tags" in request.POST else None
    current_tags = sorted(t.name for t in ticket.tags.all())
    services.update_ticket(
        ticket,
        by=request.user,
        status=data["status"] or None,
        priority=data["priority"],
        request_type=data["request_type"],
        tags=tags if tags is not None and sorted(tags) != current_tags else None,
    )
    return _("%(n)s updated.") % {"n": ticket.number}


@ticket_action("reply")
def reply(request: HttpRequest, ticket: Ticket) -> str:
    form = ReplyForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    data = form.cleaned_data
    canned = CannedReply.objects.filter(pk=data["canned"], active=True).first() if data["canned"] else None
    services.reply_to_ticket(
        ticket, data["body"], by=request.user, new_status=data["new_status"] or None,
        proposes_solution=data["proposes_solution"], canned=canned,
    )  # fmt: skip
    return _("Reply sent.")


@ticket_action("note")
def note(request: HttpRequest, ticket: Ticket) -> str:
    form = NoteForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    services.add_note(ticket, form.cleaned_data["body"], by=request.user)
    return _("Note added.")


@ticket_action("merge")
def merge(request: HttpRequest, ticket: Ticket) -> str:
    form = MergeForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    number = form.cleaned_data["target"]
    try:
        target = get_ticket_for(request.user, number)
    except NotFound as error:
        raise DomainError(_("No ticket %(n)s that you can see.") % {"n": number}, code="ticket.not_found") from error
    services.merge_tickets(ticket, target, by=request.user)
    return _("%(a)s merged into %(b)s.") % {"a": ticket.number, "b": target.number}


@ticket_action("attach")
def attach(request: HttpRequest, ticket: Ticket) -> str:
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        raise _invalid(form)
    attachment = services.add_attachment(ticket, form.cleaned_data["file"], by=request.user)
    return _("%(name)s attached.") % {"name": attachment.original_name}


# --- Supervisor overview --------------------------------------------------------------------------
@require_GET
@staff_page
def overview(request: HttpRequest) -> HttpResponse:
    authorize(request.user, "overview.view")
    return _render(request, "tickets/overview.html", overview_figures() | {"nav": "overview"})


@require_GET
@staff_page
def overview_live(request: HttpRequest) -> HttpResponse:
    authorize(request.user, "overview.view")
    return _render(request, "tickets/partials/overview_body.html", overview_figures())


def _event_fields(types: list[RequestType]) -> dict[str, tuple[str, dict[Any, str]]]:
    """How the history names the fields an event changed (ids of teams and people are left out)."""
    language = get_language()
    return {
        "status": (_("Status"), dict(Status.choices)),
        "priority": (_("Priority"), dict(Priority.choices)),
        "request_type": (_("Type"), {t.code: t.label(language) for t in types}),
        "channel": (_("Channel"), dict(Channel.choices)),
        "subject": (_("Subject"), {}),
    }


def _canned_choices(ticket: Ticket, user: Any) -> list[dict[str, Any]]:
    """Canned replies with their variables already filled in, so the picker only copies text."""
    values = {
        "customer_name": ticket.customer.name,
        "ticket_number": ticket.number,
        "order_number": ticket.order.number if ticket.order_id and ticket.order else "",
        "agent_name": _display_name(user),
    }
    language = (get_language() or "zh-hans")[:2]
    replies = active_canned_replies()
    return [
        {"id": c.pk, "title": c.title, "body": _fill(c.body, values)}
        for c in replies
        if not c.language or c.language[:2] == language or not c.language.strip()
    ]


def _fill(body: str, values: dict[str, str]) -> str:
    """Known placeholders filled in; `{order.number}` or a stray brace stays as typed (never a 500)."""
    return fill_placeholders(body, values)


def _display_name(user: Any) -> str:
    profile = getattr(user, "staff", None)
    return (profile.display_name if profile else "") or user.get_full_name() or user.get_username()
