"""After-sales cases over the API: thin handlers that parse, call one service or query, and answer a schema.

Mounted under /api/cases. A case is addressed by id (123) or number (AS0000123); one the caller may
not see is simply not found. Every step is one POST that calls one service; the service checks the
caller's permission (403), the workflow (409) and the input (400), and the error body is the API's
`{"code", "message", "field"}`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from desk.cases import queries, services
from desk.cases.models import AfterSalesCase, Refund, RepairJob, ShippingInsuranceClaim
from desk.cases.policy import render
from desk.cases.schemas import (
    ApproveIn,
    CaseDetailOut,
    CaseFilters,
    CaseIn,
    CasePage,
    CaseRef,
    DecisionOut,
    InspectIn,
    InstructionsIn,
    MarkDoneIn,
    RefundIn,
    RefundNumber,
    RejectIn,
    RequestIn,
    SettleInspectionIn,
    ShipmentIn,
)
from desk.core.api import ERRORS, AuthedRequest, PageParams, paginate
from desk.core.errors import NotFound
from desk.orders import queries as order_queries
from desk.orders.models import Order, OrderItem
from desk.tickets import queries as ticket_queries
from desk.tickets.models import Ticket

router = Router(tags=["cases"])

# Workflow steps as the API names them (the URL of their POST); system-only steps are not offered.
_ACTION_NAMES = {
    "send_instructions": "return-instructions", "ship_return": "return-shipment", "start_refund": "refund",
    "diagnose": "diagnosis", "quote_fee": "diagnosis", "record_result": "repair-result", "give_guidance": "guidance",
    "settle_unreturned": "settle-unreturned",
}  # fmt: skip
_SYSTEM_STEPS = {"expire", "confirm_refund"}


# --- Presenting ------------------------------------------------------------------------------------
def _case_out(case: AfterSalesCase) -> dict[str, Any]:
    return {
        **{f: getattr(case, f) for f in _PLAIN_FIELDS},
        "number": case.number,
        "type": case.case_type,
        "customer": {"id": case.customer_id, "name": case.customer.name},
        "order": {"id": case.order_id, "number": case.order.number},
        "decision": _decision_out(case.decision),
        "amounts": {
            "currency": case.currency,
            "goods": case.goods_amount,
            "shipping_refund": case.shipping_refund,
            "restocking_fee": case.restocking_fee,
            "deduction": case.deduction,
            "refund": case.refund_amount,
            "compensation": case.compensation_amount,
        },  # fmt: skip
        "tracking": _tracking_out(case),
        "inspection": {"grade": case.grade, **case.inspection} if case.grade else None,
        "allowed_actions": allowed_actions(case),
        "deadlines": {f: getattr(case, f) for f in _DEADLINES},
    }


_PLAIN_FIELDS = (
    "id", "state", "reason", "reason_text", "ticket_id", "return_shipping_payer", "return_instructions",
    "close_reason", "created_at", "updated_at", "approved_at", "received_at", "closed_at",
)  # fmt: skip
_DEADLINES = ("answer_due_at", "ship_due_at", "receive_due_at", "refund_due_at")


def _decision_out(decision: dict[str, Any]) -> dict[str, Any] | None:
    """The stored decision, its sentence rendered again in the reader's language."""
    if not decision.get("rule"):
        return None
    try:
        message = render(decision["rule"], decision.get("params") or {})
    except (KeyError, TypeError, ValueError):  # a rule of another version: keep the stored sentence
        message = decision.get("message", "")
    fields = DecisionOut.model_fields
    return {k: decision.get(k) for k in fields if k != "message"} | {"message": message}


def _tracking_out(case: AfterSalesCase) -> dict[str, Any] | None:
    if not case.return_tracking_number:
        return None
    return {
        "carrier": case.return_carrier,
        "tracking_number": case.return_tracking_number,
        "shipped_at": case.shipped_at,
    }


def _detail_out(case: AfterSalesCase) -> dict[str, Any]:
    items = case.items.select_related("order_item").order_by("pk")
    return _case_out(case) | {
        "items": [
            {
                "order_item_id": i.order_item_id,
                "sku": i.order_item.sku,
                "name": i.order_item.name,
                "quantity": i.quantity,
                "amount": i.amount,
            }
            for i in items
        ],  # fmt: skip
        "refunds": list(case.refunds.order_by("pk")),
        "replacements": list(case.replacements.order_by("pk")),
        "compensations": [_grant_out(g) for g in case.compensations.select_related("kind").order_by("pk")],
        "proposals": list(case.proposals.order_by("pk")),
        "disputes": list(case.disputes.order_by("pk")),
        "evidence": list(case.evidence.order_by("pk")),
        "insurance_claim": ShippingInsuranceClaim.objects.filter(case=case).first(),
        "repair": RepairJob.objects.filter(case=case).first(),
    }


def _grant_out(grant: Any) -> dict[str, Any]:
    fields = ("id", "amount", "currency", "reason", "source", "status", "payout_number", "reference")
    return {f: getattr(grant, f) for f in fields} | {"kind": grant.kind.code}


def allowed_actions(case: AfterSalesCase) -> list[str]:
    """The next steps as API action names (`return-instructions`, `refund`, ...)."""
    steps = [s for s in services.allowed_actions(case) if s not in _SYSTEM_STEPS]
    return list(dict.fromkeys(_ACTION_NAMES.get(s, s.replace("_", "-")) for s in steps))


# --- Lookups of what the input names ---------------------------------------------------------------
def _case(request: AuthedRequest, ref: str) -> AfterSalesCase:
    return queries.get_case_for(request.auth, ref)


def _fresh(request: AuthedRequest, case: AfterSalesCase) -> dict[str, Any]:
    """The case as it is after the step, read again through the caller's scope."""
    return _detail_out(queries.get_case_for(request.auth, case.pk))


def _refund(case: AfterSalesCase, number: str) -> Refund:
    refund = case.refunds.filter(refund_number=number).first()
    if refund is None:
        raise NotFound(_("Case %(case)s has no refund %(number)s.") % {"case": case.number, "number": number[:32]},
                       code="refund.not_found")  # fmt: skip
    return refund


def _lines(order: Order, payload: RequestIn) -> list[tuple[OrderItem, int]]:
    """The order items named by the request, each once; one that is not in the order is not found."""
    ids = [line.order_item_id for line in payload.items]
    found = {i.pk: i for i in OrderItem.objects.filter(order=order, pk__in=ids)}
    if len(found) != len(ids):
        raise NotFound(_("Each item must be a different item of order %(order)s.") % {"order": order.number},
                       code="order_item.not_found", field="items")  # fmt: skip
    return [(found[line.order_item_id], line.quantity) for line in payload.items]


def _ticket(request: AuthedRequest, ticket_id: int | None) -> Ticket | None:
    if ticket_id is None:
        return None
    return ticket_queries.get_ticket_for(request.auth, ticket_id)


def _filtered(user: Any, f: CaseFilters) -> QuerySet[AfterSalesCase]:
    qs = queries.cases_visible_to(user).order_by("-id")
    exact = {"state": f.state, "case_type": f.type, "order_id": f.order, "customer_id": f.customer,
             "updated_at__gte": f.updated_since}  # fmt: skip
    qs = qs.filter(**{k: v for k, v in exact.items() if v is not None})
    return qs.filter(queries.tracking_q(f.tracking)) if f.tracking else qs


# --- Reading ---------------------------------------------------------------------------------------
@router.get("", response={200: CasePage, **ERRORS})
def list_cases(request: AuthedRequest, filters: Query[CaseFilters], page: Query[PageParams]) -> Any:
    """Cases the caller may see, newest first; every filter narrows the list."""
    result = paginate(_filtered(request.auth, filters), page)
    return result | {"items": [_case_out(c) for c in result["items"]]}


@router.post("/preview", response={200: DecisionOut, **ERRORS})
def preview(request: AuthedRequest, payload: RequestIn) -> Any:
    """What the policy in force says about a request for these items, before it is made."""
    order = order_queries.get_order_for(request.auth, payload.order_id)
    decision = services.preview_decision(
        order, payload.type, payload.reason, _lines(order, payload), opened=payload.opened,
    )  # fmt: skip
    return decision.as_dict()


@router.get("/{ref}", response={200: CaseDetailOut, **ERRORS})
def get_case(request: AuthedRequest, ref: CaseRef) -> Any:
    """One case by id or number (AS0000123): items, amounts, decision, return leg, refunds, next steps."""
    return _detail_out(_case(request, ref))


# --- Writing: one service per operation -------------------------------------------------------------
@router.post("", response={201: CaseDetailOut, **ERRORS})
def open_case(request: AuthedRequest, payload: CaseIn) -> Any:
    """Record a customer's request, judged by the policy in force now (recorded even when refused)."""
    order = order_queries.get_order_for(request.auth, payload.order_id)
    case = services.open_case(
        by=request.auth, order=order, case_type=payload.type, reason=payload.reason, items=_lines(order, payload),
        reason_text=payload.reason_text, ticket=_ticket(request, payload.ticket_id), opened=payload.opened,
        serial_number=payload.serial_number,
        service_mode=payload.service_mode or "",
    )  # fmt: skip
    return Status(201, _fresh(request, case))


@router.post("/{ref}/approve", response={200: CaseDetailOut, **ERRORS})
def approve(request: AuthedRequest, ref: CaseRef, payload: ApproveIn) -> Any:
    """Approve within the caller's limit (403 above it); a refused request needs `policy_exception`."""
    case = services.approve_case(_case(request, ref), by=request.auth, policy_exception=payload.policy_exception)
    return _fresh(request, case)


@router.post("/{ref}/reject", response={200: CaseDetailOut, **ERRORS})
def reject(request: AuthedRequest, ref: CaseRef, payload: RejectIn) -> Any:
    """Refuse the request (or a return that failed inspection) with a reason the customer reads."""
    return _fresh(request, services.reject_case(_case(request, ref), by=request.auth, reason=payload.reason))


@router.post("/{ref}/return-instructions", response={200: CaseDetailOut, **ERRORS})
def return_instructions(request: AuthedRequest, ref: CaseRef, payload: InstructionsIn) -> Any:
    """Tell the customer where and how to send the goods back; the ship-by timer starts."""
    case = services.send_return_instructions(_case(request, ref), by=request.auth, **payload.model_dump())
    return _fresh(request, case)


@router.post("/{ref}/return-shipment", response={200: CaseDetailOut, **ERRORS})
def return_shipment(request: AuthedRequest, ref: CaseRef, payload: ShipmentIn) -> Any:
    """The customer shipped the return (entered on their behalf); the receipt timer starts."""
    case = services.record_return_shipment(
        _case(request, ref), by=request.auth, carrier=payload.carrier, tracking_number=payload.tracking_number
    )
    return _fresh(request, case)


@router.post("/{ref}/receive", response={200: CaseDetailOut, **ERRORS})
def receive(request: AuthedRequest, ref: CaseRef) -> Any:
    """The warehouse has the parcel."""
    return _fresh(request, services.receive_return(_case(request, ref), by=request.auth))


@router.post("/{ref}/inspect", response={200: CaseDetailOut, **ERRORS})
def inspect(request: AuthedRequest, ref: CaseRef, payload: InspectIn) -> Any:
    """Record the inspection and the grade of the returned goods."""
    case = services.inspect_return(_case(request, ref), by=request.auth, **payload.model_dump())
    return _fresh(request, case)


@router.post("/{ref}/settle-inspection", response={200: CaseDetailOut, **ERRORS})
def settle_inspection(request: AuthedRequest, ref: CaseRef, payload: SettleInspectionIn) -> Any:
    """Decide a refund the inspection held (goods not intact): refund less a deduction, or in full as an exception."""
    case = services.settle_inspection(
        _case(request, ref), by=request.auth, deduction=payload.deduction, reason=payload.reason
    )
    return _fresh(request, case)


@router.post("/{ref}/refund", response={200: CaseDetailOut, **ERRORS})
def refund(request: AuthedRequest, ref: CaseRef, payload: RefundIn) -> Any:
    """Create the case's refund and send it to the payment provider (its answer is in `refunds`)."""
    case = _case(request, ref)
    services.start_refund(case, by=request.auth, provider=payload.provider)
    return _fresh(request, case)


@router.post("/{ref}/refunds/{number}/retry", response={200: CaseDetailOut, **ERRORS})
def retry_refund(request: AuthedRequest, ref: CaseRef, number: RefundNumber) -> Any:
    """Send a failed or unanswered refund again with the same refund number (never paid twice)."""
    case = _case(request, ref)
    services.retry_refund(_refund(case, number), by=request.auth)
    return _fresh(request, case)


@router.post("/{ref}/refunds/{number}/mark-done", response={200: CaseDetailOut, **ERRORS})
def mark_refund_done(request: AuthedRequest, ref: CaseRef, number: RefundNumber, payload: MarkDoneIn) -> Any:
    """Finance paid a manual refund by hand: record the bank or platform reference."""
    case = _case(request, ref)
    services.mark_refund_done(_refund(case, number), by=request.auth, reference=payload.reference)
    return _fresh(request, case)


@router.post("/{ref}/close", response={200: CaseDetailOut, **ERRORS})
def close(request: AuthedRequest, ref: CaseRef) -> Any:
    """Close a refunded or rejected case."""
    return _fresh(request, services.close_case(_case(request, ref), by=request.auth))


@router.post("/{ref}/withdraw", response={200: CaseDetailOut, **ERRORS})
def withdraw(request: AuthedRequest, ref: CaseRef) -> Any:
    """The customer no longer wants the service (before anything was shipped back)."""
    return _fresh(request, services.withdraw_case(_case(request, ref), by=request.auth))
