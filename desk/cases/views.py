"""Staff pages of after-sales cases: the case list, the case page with its actions, the warehouse's
receiving and inspection screen, and finance's refunds page.

Views are thin: they parse a form, call one query or service, and render. The actions are a table
in `actions.py` (`CASE_ACTIONS`, `REFUND_ACTIONS`): one form and one service call each. A domain
error re-renders the page it was posted from with the message by the form and a 4xx status (403
refused, 409 conflict, 422 invalid input).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import wraps
from typing import Any, NamedTuple

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.messages import get_messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from desk.accounts.models import Team
from desk.accounts.permissions import authorize, can, grants_for, role_of
from desk.cases import money, queries, services
from desk.cases.actions import (
    ACTIONS_BY_VERB,
    REFUND_ACTIONS,
    REFUND_ACTIONS_BY_VERB,
    SUBJECT_ACTIONS,
    SUBJECT_ACTIONS_BY_VERB,
    offered_actions,
)
from desk.cases.forms import (
    CaseFilterForm,
    OpenCaseForm,
    RefundFilterForm,
    WarehouseSearchForm,
    action_fields,
    quantities,
)
from desk.cases.machines import MACHINES
from desk.cases.models import (
    CASE_PREFIX,
    AfterSalesCase,
    CaseState,
    CaseType,
    Grade,
    LedgerKind,
    Payer,
    Reason,
    Refund,
    RefundStatus,
)
from desk.cases.policy import MESSAGES
from desk.cases.policy import render as render_rule
from desk.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from desk.core.held import Held
from desk.core.jinja import url
from desk.customers.models import Tier
from desk.customers.queries import mask_event_document
from desk.orders import queries as order_queries
from desk.orders.models import Order
from desk.tickets import queries as ticket_queries
from desk.tickets.models import Ticket

PAGE_SIZE = 50
TEMPLATES = {"case": "cases/detail.html", "warehouse": "cases/warehouse.html", "refunds": "cases/refunds.html"}


# --- Rendering and errors -------------------------------------------------------------------------
def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {
        "can": _request_can(),
        "messages": get_messages(request),
        "lang": get_language(),
        "action_fields": action_fields,
        **context,
    }
    return render(request, template, context, status=status)


def _request_can() -> Callable[..., bool]:
    """`can` for one render: the role's grants read once (the layout's nav alone asks nine questions,
    each a cache read)."""
    grants: dict[Any, dict[str, Any]] = {}

    def request_can(user: Any, action: str, **kwargs: Any) -> bool:
        if kwargs:
            return can(user, action, **kwargs)
        key = getattr(user, "pk", None)
        if key not in grants:
            role = role_of(user)
            grants[key] = grants_for(role) if role is not None else {}
        return action in grants[key]

    return request_can


def _status(error: DomainError) -> int:
    """403 refused, 404 not found, 409 conflict, 422 input the rules reject."""
    if isinstance(error, ValidationFailed) or error.status == 400:
        return 422
    return error.status if 400 <= error.status < 500 else 400


def staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged-in staff only; Forbidden → the 403 page, NotFound → 404."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Forbidden as error:
            return _render(request, "403.html", {"error": error}, status=403)
        except NotFound as error:
            raise Http404(error.message) from error

    return wrapper


def _require_case_access(user: Any) -> None:
    if not queries.may_view_cases(user):
        raise Forbidden(_("Your role may not see after-sales cases."), code="permission.denied")


def _invalid(form: forms.Form) -> ValidationFailed:
    field, errors = next(iter(form.errors.items()), (None, [_("Check the form.")]))
    label = form.fields[field].label if field in form.fields else None
    message = f"{label}: {errors[0]}" if label else str(errors[0])
    return ValidationFailed(message, code="form.invalid", field=field)


# --- Labels ------------------------------------------------------------------------------------
EVENT_LABELS: dict[str, Promise] = {
    "case.opened": gettext_lazy("opened the case"),
    "case.approve": gettext_lazy("approved the request"),
    "case.reject": gettext_lazy("rejected"),
    "case.send_instructions": gettext_lazy("sent return instructions"),
    "case.ship_return": gettext_lazy("return shipped"),
    "case.receive": gettext_lazy("warehouse received the return"),
    "case.inspect": gettext_lazy("inspected the return"),
    "case.settle_inspection": gettext_lazy("decided the refund held by the inspection"),
    "case.start_refund": gettext_lazy("started the refund"),
    "case.confirm_refund": gettext_lazy("refund confirmed"),
    "case.refund_failed": gettext_lazy("refund failed"),
    "case.close": gettext_lazy("closed the case"),
    "case.withdraw": gettext_lazy("withdrew the request"),
    "case.expire": gettext_lazy("closed: the return was not shipped in time"),
    "case.answer_overdue": gettext_lazy("the request was not answered in time (escalated)"),
    "case.receipt_overdue": gettext_lazy("receipt was not confirmed in time"),
    "case.notice": gettext_lazy("notice sent to the customer"),
    "case.reserve": gettext_lazy("reserved the replacement in stock"),
    "case.ship_replacement": gettext_lazy("shipped the replacement"),
    "case.replacement_delivered": gettext_lazy("replacement delivered"),
    "case.return_overdue": gettext_lazy("the exchange return was not shipped in time"),
    "case.return_extended": gettext_lazy("gave the customer more time for the return"),
    "case.settle_unreturned": gettext_lazy("settled the goods never returned"),
    "case.complete": gettext_lazy("completed the case"),
    "case.arrange_service": gettext_lazy("arranged the repair service"),
    "case.ship_unit": gettext_lazy("the customer sent the unit for repair"),
    "case.start_diagnosis": gettext_lazy("started the diagnosis"),
    "case.diagnose": gettext_lazy("recorded the diagnosis"),
    "case.diagnosis_overdue": gettext_lazy("the diagnosis was not made in time (escalated)"),
    "case.accept_fee": gettext_lazy("repair fee accepted"),
    "case.decline_fee": gettext_lazy("repair fee declined"),
    "case.record_result": gettext_lazy("recorded the repair result"),
    "case.ship_back": gettext_lazy("shipped the unit back"),
    "case.give_guidance": gettext_lazy("gave guidance"),
    "case.resolve": gettext_lazy("resolved by guidance"),
    "case.convert": gettext_lazy("converted the case"),
    "case.compensation_proposed": gettext_lazy("proposed compensation"),
    "case.compensation_approved": gettext_lazy("approved compensation"),
    "case.compensation_issued": gettext_lazy("issued compensation"),
    "case.compensation_sent": gettext_lazy("sent the compensation payout"),
    "case.compensation_failed": gettext_lazy("compensation payout failed"),
    "case.compensation_cancelled": gettext_lazy("cancelled compensation"),
    "case.insurance_claim_filed": gettext_lazy("filed a shipping-insurance claim"),
    "case.insurance_claim_paid": gettext_lazy("shipping-insurance claim paid"),
    "case.insurance_claim_rejected": gettext_lazy("shipping-insurance claim rejected"),
    "case.solution_proposed": gettext_lazy("proposed a solution to the customer"),
    "case.solution_accepted": gettext_lazy("the customer accepted the solution"),
    "case.solution_rejected": gettext_lazy("the customer declined the solution"),
    "case.solution_expired": gettext_lazy("the proposed solution expired unanswered"),
    "case.solution_reminder": gettext_lazy("reminded the customer to answer the proposed solution"),
    "case.evidence_added": gettext_lazy("added evidence"),
    "case.evidence_withdrawn": gettext_lazy("withdrew evidence"),
    "case.dispute_opened": gettext_lazy("opened a dispute"),
    "case.dispute_mediating": gettext_lazy("started mediation"),
    "case.dispute_escalated": gettext_lazy("handed the dispute to legal"),
    "case.arbitration_recorded": gettext_lazy("recorded the arbitration"),
    "case.dispute_resolved": gettext_lazy("resolved the dispute"),
    "case.inspection_overdue": gettext_lazy("the return was not inspected in time (escalated)"),
    "case.result_notice_overdue": gettext_lazy("the result notice was not delivered within 24 h (escalated)"),
    "case.ship_reminder": gettext_lazy("reminded the customer to ship the return"),
    "case.refund_overdue": gettext_lazy("the refund was not made by its due date (escalated)"),
    "notice.delivered": gettext_lazy("notice delivered to the customer"),
    "notice.failed": gettext_lazy("notice could not be delivered"),
    "permission.denied": gettext_lazy("was refused an action"),
}


_LABELS: dict[str, dict[str, dict[str, str]]] = {}


def _labels() -> dict[str, dict[str, str]]:
    """Choice labels, translated once per language and process instead of once per cell (read only)."""
    language = get_language() or ""
    labels = _LABELS.get(language)
    if labels is None:
        labels = _LABELS[language] = _translated_labels()
    return labels


def _translated_labels() -> dict[str, dict[str, str]]:
    return {
        "state": {v: str(label) for v, label in CaseState.choices},
        "type": {v: str(label) for v, label in CaseType.choices},
        "reason": {v: str(label) for v, label in Reason.choices},
        "grade": {v: str(label) for v, label in Grade.choices},
        "payer": {v: str(label) for v, label in Payer.choices},
        "refund": {v: str(label) for v, label in RefundStatus.choices},
        "ledger": {v: str(label) for v, label in LedgerKind.choices},
        "event": {v: str(label) for v, label in EVENT_LABELS.items()},
        "tier": {v: str(label) for v, label in Tier.choices},
        "close": {v: str(label) for v, label in CLOSE_REASONS.items()},
    }


# Why a case ended (`close_reason`); a repair's result or another stored reason shows as it is.
CLOSE_REASONS: dict[str, Promise] = {
    "refunded": gettext_lazy("refunded"),
    "rejected": gettext_lazy("rejected"),
    "expired": gettext_lazy("the return was not sent in time"),
    "withdrawn": gettext_lazy("withdrawn by the customer"),
    "completed": gettext_lazy("completed"),
    "compensated": gettext_lazy("compensated"),
    "converted": gettext_lazy("converted into another case"),
    "unconfirmed": gettext_lazy("the customer did not answer the proposal"),
    "return_charged": gettext_lazy("goods not returned: charged to the customer"),
    "return_written_off": gettext_lazy("goods not returned: written off"),
}


_DETAILS: dict[str, dict[str, str]] = {}


def _event_details() -> dict[str, str]:
    """Which facts of an event the timeline shows, and what it calls them (once per language and process)."""
    language = get_language() or ""
    details = _DETAILS.get(language)
    if details is None:
        details = _DETAILS[language] = _translated_details()
    return details


def _translated_details() -> dict[str, str]:
    return {
        "reason": _("Reason"),
        "policy_exception": _("Policy exception"),
        "amount": _("Amount"),
        "carrier": _("Carrier"),
        "tracking_number": _("Tracking number"),
        "grade": _("Grade"),
        "refund": _("Refund"),
        "reference": _("Reference"),
        "message": _("Message"),
        "address": _("Return address"),
        "provider_message_id": _("Provider message id"),
        "error": _("Error"),
    }


def decision_message(decision: dict[str, Any]) -> str:
    """The stored decision's sentence, rendered again in the reader's language."""
    rule, params = decision.get("rule", ""), decision.get("params") or {}
    if rule in MESSAGES:
        try:
            return render_rule(rule, params)
        except (KeyError, TypeError, ValueError):
            pass
    return str(decision.get("message", ""))


# --- Case list -----------------------------------------------------------------------------------
class CaseRow(NamedTuple):
    """One case list row with every cell already a string: the template only escapes and joins.

    `cases/list.html` unpacks the fields in this order (attribute lookups cost ~1,500 calls a page).
    """

    link: str
    number: str
    type_label: str
    state: str
    state_label: str
    reason_label: str
    customer: str
    tier_label: str | None  # None for regular customers
    order: str
    amount: str  # "CNY 142.50"
    due: str  # the running deadline, "" when none runs
    overdue: bool
    opened: str


_ROW_DEADLINES = {state: queries.ROW_COLUMNS.index(column) for state, column in queries.DEADLINES.items()}


def _case_rows(found: list[tuple[Any, ...]], now: datetime) -> list[CaseRow]:
    labels = _labels()
    types, states, reasons, tiers = labels["type"], labels["state"], labels["reason"], labels["tier"]
    link = url("cases:detail", "AS0").replace("AS0", "{}")
    zone = timezone.get_current_timezone()
    rows = []
    for found_row in found:
        pk, case_type, state, reason, currency, amount, created, customer, tier, order = found_row[:10]
        column = _ROW_DEADLINES.get(state)
        due = found_row[column] if column is not None else None
        number = f"{CASE_PREFIX}{pk:07d}"
        rows.append(
            CaseRow(
                link.format(number),
                number,
                types.get(case_type, case_type),
                state,
                states.get(state, state),
                reasons.get(reason, reason),
                customer,
                None if tier == Tier.REGULAR else tiers.get(tier, tier),
                order,
                f"{currency} {amount}",
                _short(due, zone) if due is not None else "",
                due is not None and due < now,
                _short(created, zone),
            )
        )
    return rows


def _short(value: datetime, zone: tzinfo) -> str:
    """ "11-24 09:30" in the shop's zone, as the `shorttime` filter writes it."""
    local = value.astimezone(zone)
    return f"{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


_SELECTS: dict[str, dict[str, list[tuple[str, str]]]] = {}


def _filter_selects() -> dict[str, list[tuple[str, str]]]:
    """The filter form's (value, label) choices, translated once per language and process."""
    language = get_language() or ""
    selects = _SELECTS.get(language)
    if selects is None:
        fields = CaseFilterForm.base_fields
        selects = _SELECTS[language] = {
            name: [(str(v), str(label)) for v, label in fields[name].choices]  # type: ignore[attr-defined]
            for name in ("state", "type", "reason")
        }
    return selects


def _load_people() -> list[tuple[str, int, str]]:
    teams = [("team", pk, name) for pk, name in Team.objects.order_by("name").values_list("id", "name")]
    staff = ticket_queries.assignable_staff(None).values_list("id", "username", "first_name", "last_name")
    agents = [("assignee", pk, f"{first} {last}".strip() or username) for pk, username, first, last in staff]
    return teams + agents


# The team and assignee selects of the case list: held per process under a shared stamp, dropped
# when a team, a user or a staff profile is saved or deleted (connected in CasesConfig.ready).
FILTER_PEOPLE = Held("desk:cases:filter_people:v1", _load_people, 60)


def forget_filter_people(sender: Any, **kwargs: Any) -> None:
    FILTER_PEOPLE.forget()


def _people_selects() -> dict[str, list[tuple[str, str]]]:
    selects: dict[str, list[tuple[str, str]]] = {"team": [], "assignee": []}
    for kind, pk, label in FILTER_PEOPLE():
        selects[kind].append((str(pk), label))
    return selects


@require_GET
@staff_page
def case_list(request: HttpRequest) -> HttpResponse:
    _require_case_access(request.user)
    form = CaseFilterForm(request.GET or None)
    filters = form.filters()
    before = form.before_id()
    qs = queries.filter_cases(queries.cases_visible_to(request.user), filters)
    found = queries.case_rows(qs, before=before, size=PAGE_SIZE)
    params = request.GET.copy()
    params.pop("before", None)
    context = {
        "nav": "cases",
        "selects": _filter_selects() | _people_selects(),
        "f": filters,
        "state_value": form.cleaned_data.get("state", "") if form.is_bound and form.is_valid() else "",
        "rows": _case_rows(found[:PAGE_SIZE], timezone.now()),
        "next_before": found[PAGE_SIZE - 1][0] if len(found) > PAGE_SIZE else None,
        "paged": before is not None,
        "query": params.urlencode(),
    }
    return _render(request, "cases/list.html", context)


# --- Case page -----------------------------------------------------------------------------------
def _case(request: HttpRequest, ref: str) -> AfterSalesCase:
    return queries.get_case_for(request.user, ref)


def _deadlines(case: AfterSalesCase, now: datetime) -> list[tuple[str, datetime, bool]]:
    names = {
        "answer_due_at": _("Answer the request by"),
        "ship_due_at": _("Customer ships the return by"),
        "receive_due_at": _("Confirm receipt by"),
        "refund_due_at": _("Refund by"),
        "diagnosis_due_at": _("Diagnosis due by"),
        "return_due_at": _("Customer returns the old item by"),
    }
    running = queries.DEADLINES.get(case.state)
    return [
        (label, due, due < now and field == running)
        for field, label in names.items()
        if (due := getattr(case, field, None)) is not None
    ]


def _timeline_for(user: Any, case: AfterSalesCase) -> list[Any]:
    """The case's events, with contact details in their facts masked for roles that see masked data
    (an on-site repair's event carries the customer's address)."""
    events = queries.case_timeline(case)
    if can(user, "customer.view_pii"):
        return events
    return [event._replace(data=mask_event_document(event.data)) for event in events]


def _case_context(request: HttpRequest, case: AfterSalesCase) -> dict[str, Any]:
    now = timezone.now()
    return {
        "nav": "cases",
        "case": case,
        "ticket_number": Ticket(pk=case.ticket_id).number if case.ticket_id else "",
        "decision": case.decision or {},
        "decision_message": decision_message(case.decision or {}),
        "hold_message": decision_message(case.inspection.get("hold") or {}) if case.inspection else "",
        "items": queries.case_items(case),
        "refunds": queries.case_refunds(case),
        "timeline": _timeline_for(request.user, case),
        "actions": offered_actions(case, request.user),
        "refund_actions": REFUND_ACTIONS if can(request.user, "refund.execute") else [],
        "subjects": queries.case_subjects(case),
        "subject_actions": SUBJECT_ACTIONS,
        "user": request.user,
        "deadlines": _deadlines(case, now),
        "overdue": queries.is_overdue(case, now),
        "labels": _labels(),
        "event_details": _event_details(),
        "errors": {},
        "posted": {},
        "error_target": "",
        "page_error": None,
    }


@require_GET
@staff_page
def case_detail(request: HttpRequest, ref: str) -> HttpResponse:
    _require_case_access(request.user)
    case = queries.get_case_shown(request.user, ref)
    return _render(request, "cases/detail.html", _case_context(request, case))


@require_POST
@staff_page
def case_action(request: HttpRequest, ref: str, verb: str) -> HttpResponse:
    """Run one action from the table; errors go back to the page the form was on."""
    _require_case_access(request.user)
    action = ACTIONS_BY_VERB.get(verb)
    if action is None:
        raise Http404(_("No such action."))
    case = _case(request, ref)
    return_to = _return_to(request)
    form = action.form(request.POST, request.FILES)
    try:
        if not form.is_valid():
            raise _invalid(form)
        action.run(case, request.user, form.cleaned_data)
    except DomainError as error:
        return _failed(request, return_to, verb, error, case=case)
    messages.success(request, _("%(case)s: %(action)s — done.") % {"case": case.number, "action": action.label})
    return _back(request, return_to, case)


@require_POST
@staff_page
def subject_action(request: HttpRequest, ref: str, kind: str, pk: int, verb: str) -> HttpResponse:
    """An action on a grant, dispute, evidence file or proposal of the case; errors go back to the case page."""
    _require_case_access(request.user)
    action = SUBJECT_ACTIONS_BY_VERB.get(verb)
    if action is None or action.kind != kind:
        raise Http404(_("No such action."))
    case = _case(request, ref)
    subject = queries.get_subject(case, kind, pk)
    form = action.form(request.POST, request.FILES)
    try:
        if not form.is_valid():
            raise _invalid(form)
        action.run(subject, request.user, form.cleaned_data)
    except DomainError as error:
        return _failed(request, "case", verb, error, case=case, target=f"{kind}-{pk}")
    messages.success(request, _("%(case)s: %(action)s — done.") % {"case": case.number, "action": action.label})
    return _back(request, "case", case)


def _return_to(request: HttpRequest) -> str:
    value = request.POST.get("return_to", "case")
    return value if value in TEMPLATES else "case"


def _back(request: HttpRequest, return_to: str, case: AfterSalesCase) -> HttpResponse:
    if return_to == "warehouse":
        q = request.POST.get("q", "") or case.number
        return redirect(reverse("cases:warehouse") + "?" + urlencode({"q": q}))
    if return_to == "refunds":
        return redirect(reverse("cases:refunds") + "?" + urlencode({"status": request.POST.get("status", "sent")}))
    return redirect("cases:detail", ref=case.number)


def _failed(
    request: HttpRequest,
    return_to: str,
    verb: str,
    error: DomainError,
    *,
    case: AfterSalesCase,
    refund: Refund | None = None,
    target: str = "",
) -> HttpResponse:
    """The page the form was posted from, again, with the message by the form and a 4xx status.

    When that page does not show the form (the step is no longer offered), the message stands at
    the top of the page instead.
    """
    target = target or (refund.refund_number if refund is not None else case.number)
    if return_to == "warehouse":
        context = _warehouse_context(request, request.POST.get("q", "") or case.number)
    elif return_to == "refunds":
        context = _refunds_context(request, RefundFilterForm({"status": request.POST.get("status", "sent")}))
    else:
        fresh = queries.get_case_shown(request.user, case.pk)  # the stored state, not the attempt
        context = _case_context(request, fresh)
    context.update(errors={verb: error.message}, posted={verb: request.POST}, error_target=target)
    if not _form_shown(context, return_to, verb, target):
        context["page_error"] = {"verb": verb, "message": error.message}
    return _render(request, TEMPLATES[return_to], context, status=_status(error))


def _form_shown(context: dict[str, Any], return_to: str, verb: str, target: str) -> bool:
    """Whether the re-rendered page holds the form the error belongs to."""
    for kind, subjects in context.get("subjects", {}).items():
        for subject in subjects:
            if f"{kind}-{subject.pk}" == target:
                return any(a.verb == verb and a.offered(subject, context["user"]) for a in SUBJECT_ACTIONS)
    refunds = context.get("refunds") if return_to == "case" else context.get("rows")
    for refund in refunds or []:
        if refund.refund_number == target:
            return any(a.verb == verb and a.offered(refund) for a in context["refund_actions"])
    if return_to == "case":
        return verb in {a.verb for a in context["actions"]}
    if return_to == "warehouse":
        return any(c.number == target and verb in {a.verb for a in acts} for c, acts in context["found"])
    return verb == "start_refund" and any(c.number == target for c in context["ready"])


# --- Opening a case from a ticket or an order -------------------------------------------------------
def _new_case_source(request: HttpRequest) -> tuple[Order, Ticket | None]:
    """The order the request is about: the ticket's (`?ticket=`), or one named directly (`?order=`)."""
    params = request.POST if request.method == "POST" else request.GET
    ticket = None
    if ticket_id := str(params.get("ticket", "")).strip():
        ticket = ticket_queries.get_ticket_for(request.user, ticket_id)
        if ticket.order_id is None:
            raise NotFound(_("Ticket %(n)s names no order.") % {"n": ticket.number}, code="ticket.no_order")
        return order_queries.get_order_for(request.user, ticket.order_id), ticket
    return order_queries.get_order_for(request.user, str(params.get("order", ""))), None


def _new_case_context(request: HttpRequest, order: Order, ticket: Ticket | None, form: OpenCaseForm) -> dict[str, Any]:
    claimed = money.claimed_items(order)
    items = [(item, item.quantity - claimed.get(item.pk, (0, 0))[0]) for item in order.items.all()]
    return {"nav": "cases", "order": order, "ticket": ticket, "form": form, "items": items, "error": None}


def _lines(request: HttpRequest, order: Order) -> list[tuple[Any, int]]:
    items = {item.pk: item for item in order.items.all()}
    return [(items[pk], units) for pk, units in quantities(request.POST, list(items)).items()]


@staff_page
def new_case(request: HttpRequest) -> HttpResponse:
    """Open a case for the customer of a ticket (or an order): items, type, reason; judged by the policy."""
    authorize(request.user, "case.create")
    order, ticket = _new_case_source(request)
    form = OpenCaseForm(request.POST or None, types=list(MACHINES))
    if request.method != "POST":
        return _render(request, "cases/new.html", _new_case_context(request, order, ticket, form))
    try:
        if not form.is_valid():
            raise _invalid(form)
        data = form.cleaned_data
        case = services.open_case(
            by=request.user, order=order, case_type=data["case_type"], reason=data["reason"],
            items=_lines(request, order), reason_text=data["reason_text"], ticket=ticket, opened=data["opened"],
            serial_number=data["serial_number"], service_mode=data["service_mode"],
        )  # fmt: skip
    except DomainError as error:
        context = _new_case_context(request, order, ticket, form) | {"error": error.message}
        return _render(request, "cases/new.html", context, status=_status(error))
    messages.success(request, _("%(case)s opened.") % {"case": case.number})
    return redirect("cases:detail", ref=case.number)


@require_POST
@staff_page
def new_case_preview(request: HttpRequest) -> HttpResponse:
    """What the policy in force says about the request as it stands (htmx, while the form is filled in)."""
    authorize(request.user, "case.create")
    order, _ticket = _new_case_source(request)
    lines = _lines(request, order)
    case_type, reason = request.POST.get("case_type", ""), request.POST.get("reason", "")
    context: dict[str, Any] = {"decision": None, "error": None}
    if not lines and case_type not in services.ITEMS_OPTIONAL:
        context["error"] = _("Choose at least one item.")
    else:
        try:
            opened = forms.NullBooleanField().to_python(request.POST.get("opened"))
            context["decision"] = services.preview_decision(order, case_type, reason, lines, opened=opened)
        except (DomainError, ValueError, KeyError) as error:  # an incomplete form: say so, never a 500
            context["error"] = getattr(error, "message", _("Fill in the type and the reason."))
    return _render(request, "cases/partials/preview.html", context)


# --- Warehouse -----------------------------------------------------------------------------------
def _warehouse_context(request: HttpRequest, term: str) -> dict[str, Any]:
    found = queries.find_returns(request.user, term) if term else []
    return {
        "nav": "warehouse",
        "q": term,
        "found": [(c, offered_actions(c, request.user, "warehouse")) for c in found],
        "on_the_way": queries.returns_waiting(request.user, CaseState.RETURNING),
        "to_inspect": queries.returns_waiting(request.user, CaseState.RECEIVED),
        "grades": Grade.choices,
        "labels": _labels(),
        "errors": {},
        "posted": {},
        "error_target": "",
        "page_error": None,
    }


@require_GET
@staff_page
def warehouse(request: HttpRequest) -> HttpResponse:
    """Scan or type a tracking number (or case / order number): receive, then inspect, on one screen."""
    authorize(request.user, "case.inspect")
    form = WarehouseSearchForm(request.GET or None)
    term = (form.cleaned_data.get("q") or "").strip() if form.is_valid() else ""
    return _render(request, "cases/warehouse.html", _warehouse_context(request, term))


# --- Finance: refunds ----------------------------------------------------------------------------
def _refunds_context(request: HttpRequest, form: RefundFilterForm) -> dict[str, Any]:
    status = (form.cleaned_data.get("status") if form.is_valid() else "") or "sent"
    before = form.cleaned_data.get("before") if form.is_valid() else None
    rows = queries.refund_page(request.user, status, before=before, size=PAGE_SIZE)
    return {
        "nav": "refunds",
        "status": status,
        "tabs": form.fields["status"].choices,  # type: ignore[attr-defined]
        "rows": rows[:PAGE_SIZE],
        "next_before": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None,
        "paged": before is not None,
        "ready": queries.refunds_ready(request.user),
        "start_refund": ACTIONS_BY_VERB["start_refund"],
        "refund_actions": REFUND_ACTIONS,
        "labels": _labels(),
        "errors": {},
        "posted": {},
        "error_target": "",
        "page_error": None,
    }


@require_GET
@staff_page
def refunds(request: HttpRequest) -> HttpResponse:
    """Finance: refunds by status, retry and mark paid by hand, each with its ledger."""
    authorize(request.user, "refund.execute")
    return _render(request, "cases/refunds.html", _refunds_context(request, RefundFilterForm(request.GET or None)))


@require_POST
@staff_page
def refund_action(request: HttpRequest, number: str, verb: str) -> HttpResponse:
    authorize(request.user, "refund.execute")
    action = REFUND_ACTIONS_BY_VERB.get(verb)
    if action is None:
        raise Http404(_("No such action."))
    refund = queries.get_refund_for(request.user, number)
    return_to = _return_to(request)
    form = action.form(request.POST)
    try:
        if not form.is_valid():
            raise _invalid(form)
        action.run(refund, request.user, form.cleaned_data)
    except DomainError as error:
        return _failed(request, return_to, verb, error, case=refund.case, refund=refund)
    refund.refresh_from_db()
    label = RefundStatus(refund.status).label
    messages.success(request, _("Refund %(n)s: %(status)s.") % {"n": refund.refund_number, "status": label})
    return _back(request, return_to, refund.case)
