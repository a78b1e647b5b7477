"""The customer self-service portal: log in with an order number and a one-time code, then see
orders, ask for after-sales service, send a return back and follow each case.

Views are thin: parse a form, call one query or service, render. Every order and case is read
through `queries` scoped to the portal session's customer (others' ids are 404), and customers
act in the case services as `by=None`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from desk.cases import services as cases
from desk.cases import services_confirmation as confirmation
from desk.cases import services_repair as repair
from desk.cases.models import AfterSalesCase, CaseState, CaseType, Payer, RepairJob, ServiceMode
from desk.cases.policy import render as render_rule
from desk.cases.services_disputes import add_evidence
from desk.core.errors import DomainError, NotFound
from desk.customers.models import Customer
from desk.evidence.models import ConfirmationChannel
from desk.orders.models import Order
from desk.portal import queries, services
from desk.portal.forms import AcceptForm, CodeForm, LoginForm, PhotosForm, RejectForm, RequestForm, ShipmentForm

SESSION_KEY = "portal_token"
PENDING_KEY = "portal_pending"
PortalView = Callable[..., HttpResponse]

# The steps a customer sees for each workflow, in order (rejected and closed are shown apart).
STEPS = {
    CaseType.REFUND_ONLY: [CaseState.REQUESTED, CaseState.APPROVED, CaseState.REFUNDING, CaseState.REFUNDED],
    CaseType.RETURN_REFUND: [
        CaseState.REQUESTED, CaseState.APPROVED, CaseState.AWAITING_RETURN, CaseState.RETURNING,
        CaseState.RECEIVED, CaseState.INSPECTED, CaseState.REFUNDING, CaseState.REFUNDED,
    ],
}  # fmt: skip


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {"messages": get_messages(request), "lang": get_language(), **context}
    return render(request, template, context, status=status)


def portal_page(view: PortalView) -> PortalView:
    """Only with a live portal session; the view gets the session's customer. NotFound → 404 page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session = queries.session_for_token(request.session.get(SESSION_KEY))
        if session is None:
            return redirect(f"{reverse('portal:login')}?next={request.path}")
        try:
            return view(request, session.customer, *args, **kwargs)
        except NotFound:
            return _render(request, "portal/not_found.html", {"customer": session.customer}, status=404)

    return wrapper


# --- Logging in -----------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        number, contact = form.cleaned_data["order_number"], form.cleaned_data["contact"]
        try:
            services.send_login_code(number, contact)
        except DomainError as error:
            form.add_error(None, error.message)
            return _render(request, "portal/login.html", {"form": form}, status=error.status)
        request.session[PENDING_KEY] = {"order_number": number, "contact": contact, "next": _next(request)}
        messages.info(request, _("If the order number and the phone or email match, a 6-digit code is on its way."))
        return redirect("portal:code")
    return _render(request, "portal/login.html", {"form": form}, status=400 if form.errors else 200)


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    ok = target.startswith("/portal/") and url_has_allowed_host_and_scheme(target, allowed_hosts=None)
    return target if ok else reverse("portal:orders")


@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING_KEY)
    if not pending:
        return redirect("portal:login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _session, token = services.verify_login_code(
                pending["order_number"], pending["contact"], form.cleaned_data["code"]
            )
        except DomainError as error:
            form.add_error("code", error.message)
        else:
            request.session.cycle_key()  # a new session id on login: no fixation
            request.session.pop(PENDING_KEY, None)
            request.session[SESSION_KEY] = token
            return redirect(pending.get("next") or "portal:orders")
    context = {"form": form, "pending": pending}
    return _render(request, "portal/code.html", context, status=400 if form.errors else 200)


@require_POST
def resend(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING_KEY)
    if not pending:
        return redirect("portal:login")
    try:
        services.send_login_code(pending["order_number"], pending["contact"])
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.info(request, _("If the order number and the phone or email match, a new code is on its way."))
    return redirect("portal:code")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    session = queries.session_for_token(request.session.get(SESSION_KEY))
    if session is not None:
        services.end_portal_session(session)
    request.session.pop(SESSION_KEY, None)
    return redirect("portal:login")


# --- Orders and requests ----------------------------------------------------------------------------
@portal_page
def orders(request: HttpRequest, customer: Customer) -> HttpResponse:
    rows = list(queries.orders_of(customer)[:50])
    return _render(request, "portal/orders.html", {"customer": customer, "orders": rows, "nav": "orders"})


@portal_page
@require_http_methods(["GET", "POST"])
def order(request: HttpRequest, customer: Customer, pk: int) -> HttpResponse:
    the_order = queries.get_order_of(customer, pk)
    form = _request_form(request, the_order)
    if request.method == "POST" and form.is_valid():
        try:
            case = _open_request(the_order, form)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Your request %(number)s was sent.") % {"number": case.number})
            return redirect("portal:case", pk=case.pk)
    return _order_page(request, customer, the_order, form)


def _request_form(request: HttpRequest, order: Order) -> RequestForm:
    data = request.POST if request.method == "POST" else None
    files = request.FILES if request.method == "POST" else None
    return RequestForm(data, files, order=order, claimable=queries.claimable_units(order))


def _open_request(order: Order, form: RequestForm) -> AfterSalesCase:
    """Open the case and store its photos as evidence: all or nothing (a refused photo opens no case)."""
    with transaction.atomic():
        case = cases.open_case(
            by=None,
            order=order,
            case_type=form.cleaned_data["case_type"],
            reason=form.cleaned_data["reason"],
            items=form.lines(),
            reason_text=form.cleaned_data.get("description") or "",
            opened=form.cleaned_data.get("opened"),
            serial_number=_repair_field(form, "serial_number"),
            service_mode=_repair_field(form, "service_mode"),
        )
        _store_photos(case, form.cleaned_data.get("photos") or [])
    return case


def _repair_field(form: RequestForm, name: str) -> str:
    """Serial number and service mode matter for a repair only; other requests ignore what was typed."""
    return str(form.cleaned_data.get(name) or "") if form.cleaned_data["case_type"] == CaseType.REPAIR else ""


def _store_photos(case: AfterSalesCase, photos: list[UploadedFile]) -> None:
    """Each photo becomes evidence of the case (hashed into its tamper-evident chain), sent by the customer."""
    for photo in photos:
        add_evidence(case, photo, by=None)


def _order_page(
    request: HttpRequest, customer: Customer, order: Order, form: RequestForm, decision: dict[str, Any] | None = None
) -> HttpResponse:
    context = {
        "customer": customer,
        "order": order,
        "form": form,
        "decision": decision,
        "open_cases": list(queries.cases_of(customer).filter(order=order)),
        "nav": "orders",
    }
    return _render(request, "portal/order.html", context, status=400 if form.errors else 200)


@portal_page
@require_POST
def preview(request: HttpRequest, customer: Customer, pk: int) -> HttpResponse:
    """What the return policy says about the request as filled in so far (htmx partial, or the whole page)."""
    the_order = queries.get_order_of(customer, pk)
    form = RequestForm(request.POST, order=the_order, claimable=queries.claimable_units(the_order))
    form.fields["photos"].required = False
    decision = _decision(the_order, form)
    if request.htmx:  # type: ignore[attr-defined]
        return _render(request, "portal/partials/decision.html", {"decision": decision})
    return _order_page(request, customer, the_order, form, decision)


def _decision(order: Order, form: RequestForm) -> dict[str, Any]:
    if not form.is_valid():
        return {"empty": True}
    case_type = form.cleaned_data["case_type"]
    try:
        decision = cases.preview_decision(
            order, case_type, form.cleaned_data["reason"], form.lines(), opened=form.cleaned_data.get("opened")
        )
    except DomainError as error:
        return {"error": error.message}
    return {
        "outcome": decision.outcome,
        "message": decision.message,
        "window_ends": decision.window_ends,
        "payer": Payer(decision.shipping_payer).label if case_type == CaseType.RETURN_REFUND else None,
    }


# --- Cases --------------------------------------------------------------------------------------------
@portal_page
def case_list(request: HttpRequest, customer: Customer) -> HttpResponse:
    rows = list(queries.cases_of(customer)[:100])
    return _render(request, "portal/cases.html", {"customer": customer, "cases": rows, "nav": "cases"})


@portal_page
def case_detail(request: HttpRequest, customer: Customer, pk: int) -> HttpResponse:
    case = queries.get_case_of(customer, pk)
    return _case_page(request, customer, case)


def _case_page(
    request: HttpRequest,
    customer: Customer,
    case: AfterSalesCase,
    shipment_form: ShipmentForm | None = None,
    status: int = 200,
    **forms: Any,
) -> HttpResponse:
    actions = cases.allowed_actions(case)
    proposal = queries.open_proposal(case)
    context = {
        "proposal": proposal,
        "accept_form": forms.get("accept_form") or AcceptForm(),
        "reject_form": forms.get("reject_form") or RejectForm(),
        "photos_form": forms.get("photos_form") or PhotosForm(),
        "evidence": list(queries.evidence_of(case)),
        "answered": list(queries.answered_proposals(case)),
        "customer": customer,
        "case": case,
        "actions": actions,
        "steps": _steps(case),
        "decision": _decision_text(case),
        "instructions": _instructions(case),
        "history": list(queries.case_history(case)),
        "shipment_form": shipment_form or ShipmentForm(),
        "mail_in": _mail_in(case, actions),
        "nav": "cases",
    }
    return _render(request, "portal/case.html", context, status=status)


def _mail_in(case: AfterSalesCase, actions: list[str]) -> RepairJob | None:
    """A mail-in repair's job, while the customer sends the unit or after they entered its parcel."""
    if case.case_type != CaseType.REPAIR:
        return None
    job = RepairJob.objects.filter(case=case, service_mode=ServiceMode.MAIL_IN).first()
    if job is None or not ("ship_unit" in actions or job.inbound_tracking_number):
        return None
    return job


def _decision_text(case: AfterSalesCase) -> str:
    """The stored decision in the reader's language (the stored sentence if its rule is unknown here)."""
    decision = case.decision or {}
    try:
        return render_rule(decision["rule"], decision.get("params", {}))
    except (KeyError, TypeError, ValueError):
        return str(decision.get("message", ""))


def _steps(case: AfterSalesCase) -> list[dict[str, Any]]:
    steps = STEPS.get(CaseType(case.case_type), [])
    position = steps.index(CaseState(case.state)) if case.state in steps else -1
    if case.state == CaseState.CLOSED and case.close_reason == "refunded":
        position = len(steps) - 1
    return [{"label": s.label, "done": i < position, "current": i == position} for i, s in enumerate(steps)]


def _instructions(case: AfterSalesCase) -> dict[str, Any] | None:
    raw = case.return_instructions or {}
    if not raw:
        return None
    ship_by = raw.get("ship_by")
    payer = raw.get("shipping_payer") or case.return_shipping_payer
    return {
        **raw,
        "ship_by": datetime.fromisoformat(ship_by) if ship_by else None,
        "payer": Payer(payer).label if payer in Payer.values else "",
    }


@portal_page
@require_POST
def ship(request: HttpRequest, customer: Customer, pk: int) -> HttpResponse:
    case = queries.get_case_of(customer, pk)
    form = ShipmentForm(request.POST)
    if form.is_valid():
        try:
            if case.case_type == CaseType.REPAIR:  # the unit goes to the repair centre (mail-in)
                repair.ship_repair_unit(case, by=None, **form.cleaned_data)
            else:
                cases.record_return_shipment(case, by=None, **form.cleaned_data)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Thank you: the tracking number was saved."))
            return redirect("portal:case", pk=case.pk)
    return _case_page(request, customer, case, form, status=400)


@portal_page
@require_POST
def withdraw(request: HttpRequest, customer: Customer, pk: int) -> HttpResponse:
    case = queries.get_case_of(customer, pk)
    try:
        cases.withdraw_case(case, by=None)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your request %(number)s was withdrawn.") % {"number": case.number})
    return redirect("portal:case", pk=case.pk)


@portal_page
@require_POST
def add_photos(request: HttpRequest, customer: Customer, pk: int) -> HttpResponse:
    case = queries.get_case_of(customer, pk)
    form = PhotosForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            with transaction.atomic():
                _store_photos(case, form.cleaned_data["photos"])
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Thank you: the photos were added."))
            return redirect("portal:case", pk=case.pk)
    return _case_page(request, customer, case, status=400, photos_form=form)


@portal_page
@require_POST
def accept(request: HttpRequest, customer: Customer, pk: int, proposal: int) -> HttpResponse:
    case = queries.get_case_of(customer, pk)
    the_proposal = queries.get_proposal_of(case, proposal)
    form = AcceptForm(request.POST)
    if form.is_valid():
        try:
            confirmation.accept_solution(
                the_proposal,
                channel=ConfirmationChannel.PORTAL,
                confirmation_text=form.cleaned_data["confirmation_text"],
                by=None,
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("You accepted the proposed solution."))
            return redirect("portal:case", pk=case.pk)
    return _case_page(request, customer, case, status=400, accept_form=form)


@portal_page
@require_POST
def reject(request: HttpRequest, customer: Customer, pk: int, proposal: int) -> HttpResponse:
    case = queries.get_case_of(customer, pk)
    the_proposal = queries.get_proposal_of(case, proposal)
    form = RejectForm(request.POST)
    if form.is_valid():
        try:
            confirmation.reject_solution(
                the_proposal, channel=ConfirmationChannel.PORTAL, reason=form.cleaned_data["reason"], by=None
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("You declined the proposed solution; the shop will get back to you."))
            return redirect("portal:case", pk=case.pk)
    return _case_page(request, customer, case, status=400, reject_form=form)
