"""What staff can do to a case from its pages: one entry per action, each a form and one service call.

An action is offered when its workflow step is allowed from the case's state (or, for actions that
are not workflow steps, when its `when` condition holds), the case's type is one it applies to, and
the user's role holds its permission. The page renders the action's form from its fields, so adding
an action is one small form (forms.py) and one entry here. `verb` is the service function's name:
it is the URL, the button's `data-action` and the key of the form's error message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from statemachine.exceptions import InvalidStateValue

from desk.accounts.permissions import can
from desk.cases import services
from desk.cases import services_compensation as compensation
from desk.cases import services_confirmation as confirmation
from desk.cases import services_disputes as disputes
from desk.cases import services_exchange as exchange
from desk.cases import services_repair as repair
from desk.cases.forms import (
    AcceptSolutionForm,
    ApproveForm,
    ArbitrationForm,
    ArrangeRepairForm,
    CompleteRepairForm,
    ConvertGuidanceForm,
    DiagnosisForm,
    EvidenceForm,
    ExtendReturnForm,
    GuidanceForm,
    InspectForm,
    InstructionsForm,
    MarkDoneForm,
    MediateForm,
    NoFields,
    OpenDisputeForm,
    ProposeCompensationForm,
    ProposeSolutionForm,
    ReasonForm,
    ReferenceForm,
    RejectForm,
    RejectSolutionForm,
    RepairResultForm,
    ReplacementShipmentForm,
    ReserveForm,
    ResolveDisputeForm,
    ResolveGuidanceForm,
    SettleInspectionForm,
    SettleUnreturnedForm,
    ShipmentForm,
    StartDiagnosisForm,
)
from desk.cases.models import (
    FINISHED_CASE_STATES,
    ZERO,
    AfterSalesCase,
    CaseState,
    CaseType,
    ClaimStatus,
    ExchangeMode,
    GrantStatus,
    Payer,
    Refund,
    RefundStatus,
)
from desk.evidence.models import DisputeStatus, ProposalStatus

log = logging.getLogger(__name__)

Runner = Callable[[AfterSalesCase, Any, dict[str, Any]], Any]
CASE_PAGE = ("case",)
WAREHOUSE = ("case", "warehouse")
FINANCE = ("case", "refunds")
REPLACEMENT_TYPES = (CaseType.EXCHANGE, CaseType.RESHIP)


@dataclass(frozen=True)
class CaseAction:
    step: str | None  # the workflow event that must be allowed; None: not a workflow step (see `when`)
    verb: str  # the service function's name
    label: Promise
    permission: str
    form: type[forms.Form]
    run: Runner
    primary: bool = False
    where: tuple[str, ...] = CASE_PAGE  # the pages that show it
    types: tuple[str, ...] = ()  # the case types it applies to (empty: every type)
    when: Callable[[AfterSalesCase], bool] | None = None  # an extra condition

    def offered(self, case: AfterSalesCase, user: Any, steps: list[str]) -> bool:
        if self.step is not None and self.step not in steps:
            return False
        if self.types and case.case_type not in self.types:
            return False
        return can(user, self.permission) and (self.when is None or self.when(case))


def _kw(service: Callable[..., Any]) -> Runner:
    """A runner that passes the form's cleaned fields as keyword arguments."""
    return lambda case, by, data: service(case, by=by, **data)


def _ship_first_return(case: AfterSalesCase, by: Any, data: dict[str, Any]) -> Any:
    return exchange.ship_replacement(case, by=by, **data)


def _diagnose(case: AfterSalesCase, by: Any, data: dict[str, Any]) -> Any:
    return repair.record_diagnosis(case, by=by, **{**data, "fee": data.get("fee") or ZERO})


def _replacement_on_its_way(case: AfterSalesCase) -> bool:
    return case.state in (CaseState.REPLACEMENT_SHIPPED, CaseState.RETURNING, CaseState.RECEIVED)


def _ship_first_return_awaited(case: AfterSalesCase) -> bool:
    return case.state == CaseState.REPLACEMENT_SHIPPED and case.exchange_mode == ExchangeMode.SHIP_FIRST


def _open(case: AfterSalesCase) -> bool:
    return case.state not in FINISHED_CASE_STATES


def _propose_solution(case: AfterSalesCase, by: Any, data: dict[str, Any]) -> Any:
    amounts = {k: data.get(k) or ZERO for k in ("refund_amount", "compensation_amount", "fee_amount")}
    return confirmation.propose_solution(case, by=by, **{**data, **amounts})


CASE_ACTIONS: list[CaseAction] = [
    CaseAction("approve", "approve_case", _("Approve"), "case.approve", ApproveForm, _kw(services.approve_case), True),
    CaseAction("reject", "reject_case", _("Reject"), "case.approve", RejectForm, _kw(services.reject_case)),
    CaseAction(
        "reserve", "reserve_replacement", _("Reserve the replacement"), "case.handle", ReserveForm,
        lambda case, by, data: exchange.reserve_replacement(case, by=by, mode=data["mode"]), True,
        types=REPLACEMENT_TYPES,
    ),
    CaseAction(
        "send_instructions", "send_return_instructions", _("Send return instructions"), "case.handle",
        InstructionsForm, _kw(services.send_return_instructions), True,
    ),
    CaseAction(
        "ship_return", "record_return_shipment", _("Record the return shipment"), "case.handle", ShipmentForm,
        _kw(services.record_return_shipment),
    ),
    CaseAction(
        "receive", "receive_return", _("Receive the return"), "case.inspect", NoFields,
        lambda case, by, data: services.receive_return(case, by=by), True, WAREHOUSE,
    ),
    CaseAction(
        "inspect", "inspect_return", _("Record the inspection"), "case.inspect", InspectForm,
        _kw(services.inspect_return), True, WAREHOUSE,
    ),
    CaseAction(
        None, "settle_inspection", _("Decide the held refund"), "case.approve", SettleInspectionForm,
        _kw(services.settle_inspection), True, when=services.refund_held,
    ),
    CaseAction(
        "ship_replacement", "ship_replacement", _("Ship the replacement"), "stock.manage", ReplacementShipmentForm,
        _ship_first_return, True, WAREHOUSE, types=REPLACEMENT_TYPES,
    ),
    CaseAction(
        None, "record_replacement_delivery", _("Replacement delivered"), "case.handle", NoFields,
        lambda case, by, data: exchange.record_replacement_delivery(case, by=by),
        types=REPLACEMENT_TYPES, when=_replacement_on_its_way,
    ),
    CaseAction(
        "complete", "complete_replacement", _("Complete the exchange"), "case.handle", NoFields,
        lambda case, by, data: exchange.complete_replacement(case, by=by), True, types=REPLACEMENT_TYPES,
    ),
    CaseAction(
        None, "extend_exchange_return", _("Give more time for the return"), "case.handle", ExtendReturnForm,
        _kw(exchange.extend_exchange_return), types=(CaseType.EXCHANGE,), when=_ship_first_return_awaited,
    ),
    CaseAction(
        "settle_unreturned", "settle_unreturned_exchange", _("Settle the unreturned goods"), "case.approve",
        SettleUnreturnedForm, _kw(exchange.settle_unreturned_exchange), types=(CaseType.EXCHANGE,),
    ),
    # Repair (维修)
    CaseAction(
        "arrange_service", "arrange_repair_service", _("Arrange the repair service"), "case.handle",
        ArrangeRepairForm, _kw(repair.arrange_repair_service), True, types=(CaseType.REPAIR,),
    ),
    CaseAction(
        "start_diagnosis", "start_diagnosis", _("Start the diagnosis"), "case.diagnose", StartDiagnosisForm,
        _kw(repair.start_diagnosis), True, types=(CaseType.REPAIR,),
    ),
    CaseAction(
        "diagnose", "record_diagnosis", _("Record the diagnosis"), "case.diagnose", DiagnosisForm, _diagnose, True,
        types=(CaseType.REPAIR,),
    ),
    CaseAction(
        "accept_fee", "accept_repair_fee", _("Customer accepted the fee"), "case.handle", AcceptSolutionForm,
        _kw(repair.accept_repair_fee), True, types=(CaseType.REPAIR,),
    ),
    CaseAction(
        "decline_fee", "decline_repair_fee", _("Customer declined the fee"), "case.handle", RejectSolutionForm,
        _kw(repair.decline_repair_fee), types=(CaseType.REPAIR,),
    ),
    CaseAction(
        "record_result", "record_repair_result", _("Record the repair result"), "case.diagnose", RepairResultForm,
        _kw(repair.record_repair_result), True, types=(CaseType.REPAIR,),
    ),
    CaseAction(
        "ship_back", "ship_repair_back", _("Ship the unit back"), "case.handle", ShipmentForm,
        _kw(repair.ship_repair_back), True, types=(CaseType.REPAIR,),
    ),
    CaseAction(
        "complete", "complete_repair", _("Complete the repair"), "case.handle", CompleteRepairForm,
        _kw(repair.complete_repair), True, types=(CaseType.REPAIR,),
    ),
    # Technical guidance
    CaseAction(
        "give_guidance", "give_guidance", _("Send guidance"), "case.handle", GuidanceForm,
        _kw(repair.give_guidance), True, types=(CaseType.GUIDANCE,),
    ),
    CaseAction(
        "resolve", "resolve_guidance", _("Resolved"), "case.handle", ResolveGuidanceForm,
        _kw(repair.resolve_guidance), types=(CaseType.GUIDANCE,),
    ),
    CaseAction(
        "convert", "convert_guidance", _("Convert into another case"), "case.handle", ConvertGuidanceForm,
        _kw(repair.convert_guidance), types=(CaseType.GUIDANCE,),
    ),
    # Compensation, disputes, evidence and the customer's confirmation (not workflow steps)
    CaseAction(
        None, "propose_compensation", _("Propose compensation"), "case.handle", ProposeCompensationForm,
        _kw(compensation.propose_compensation), when=_open,
    ),
    CaseAction(
        None, "propose_solution", _("Propose a solution to the customer"), "case.handle", ProposeSolutionForm,
        _propose_solution, when=_open,
    ),
    CaseAction(
        None, "propose_double_shipping", _("Propose the double shipping-fee compensation"), "case.handle", NoFields,
        lambda case, by, data: compensation.propose_double_shipping(case, by=by),
        when=lambda case: _open(case) and case.compensation_amount > 0,
    ),
    CaseAction(
        None, "file_insurance_claim", _("File the shipping-insurance claim"), "case.handle", NoFields,
        lambda case, by, data: compensation.file_insurance_claim(case, by=by),
        when=lambda case: case.return_shipping_payer == Payer.INSURANCE and bool(case.return_tracking_number),
    ),
    CaseAction(
        None, "add_evidence", _("Add evidence"), "case.handle", EvidenceForm,
        lambda case, by, data: disputes.add_evidence(
            case, data["file"], by=by, description=data["description"]
        ),
    ),
    CaseAction(
        None, "open_dispute", _("Open a dispute"), "case.dispute", OpenDisputeForm, _kw(disputes.open_dispute),
        when=_open,
    ),
    # Money and the end
    CaseAction(
        "start_refund", "start_refund", _("Start the refund"), "refund.execute", NoFields,
        lambda case, by, data: services.start_refund(case, by=by), True, FINANCE,
    ),
    CaseAction(
        "close", "close_case", _("Close the case"), "case.handle", NoFields,
        lambda case, by, data: services.close_case(case, by=by),
    ),
    CaseAction(
        "withdraw", "withdraw_case", _("Withdraw the request"), "case.handle", NoFields,
        lambda case, by, data: services.withdraw_case(case, by=by),
    ),
]  # fmt: skip
ACTIONS_BY_VERB = {a.verb: a for a in CASE_ACTIONS}


def offered_actions(case: AfterSalesCase, user: Any, page: str = "case") -> list[CaseAction]:
    """The next steps of the case's workflow that this user's role may take, in workflow order."""
    try:
        steps = services.allowed_actions(case)
    except InvalidStateValue:  # a state its type's workflow does not know: show the case, offer nothing
        log.warning("case %s: state %s is not in the %s workflow", case.number, case.state, case.case_type)
        steps = []
    return [a for a in CASE_ACTIONS if page in a.where and a.offered(case, user, steps)]


# --- Grants, disputes, evidence files and proposals of a case ---------------------------------------
@dataclass(frozen=True)
class SubjectAction:
    """An action on one thing that hangs off a case (a compensation grant, a dispute, ...)."""

    kind: str  # grant / dispute / evidence / proposal (queries.SUBJECT_MODELS)
    verb: str  # the service function's name
    label: Promise
    permissions: tuple[str, ...]  # any of them shows it (the service decides in the end)
    form: type[forms.Form]
    statuses: tuple[str, ...]  # the subject's statuses that offer it
    run: Callable[[Any, Any, dict[str, Any]], Any]
    primary: bool = False

    def offered(self, subject: Any, user: Any) -> bool:
        return status_of(subject) in self.statuses and any(can(user, p) for p in self.permissions)


def status_of(subject: Any) -> str:
    if hasattr(subject, "status"):
        return str(subject.status)
    return "withdrawn" if getattr(subject, "withdrawn_at", None) else "active"  # evidence files


_MONEY = ("refund.execute",)
_DISPUTE = ("case.dispute", "case.legal")
_LIVE_DISPUTE = (DisputeStatus.OPEN, DisputeStatus.MEDIATING, DisputeStatus.ARBITRATION)
SUBJECT_ACTIONS: list[SubjectAction] = [
    SubjectAction(
        "grant", "approve_compensation", _("Approve"), ("compensation.approve",), NoFields, (GrantStatus.PROPOSED,),
        lambda grant, by, data: compensation.approve_compensation(grant, by=by), True,
    ),
    SubjectAction(
        "grant", "cancel_compensation", _("Cancel"), ("case.handle",), ReasonForm,
        (GrantStatus.PROPOSED, GrantStatus.APPROVED), _kw(compensation.cancel_compensation),
    ),
    SubjectAction(
        "grant", "issue_compensation", _("Issue"), _MONEY, ReferenceForm, (GrantStatus.APPROVED,),
        _kw(compensation.issue_compensation), True,
    ),
    SubjectAction(
        "grant", "retry_compensation_payout", _("Retry"), _MONEY, NoFields, (GrantStatus.FAILED, GrantStatus.SENT),
        lambda grant, by, data: compensation.retry_compensation_payout(grant, by=by),
    ),
    SubjectAction(
        "grant", "mark_compensation_paid", _("Mark paid"), _MONEY, MarkDoneForm, (GrantStatus.SENT,),
        _kw(compensation.mark_compensation_paid),
    ),
    SubjectAction(
        "claim", "record_insurance_payout", _("Insurer paid"), _MONEY, MarkDoneForm, (ClaimStatus.FILED,),
        _kw(compensation.record_insurance_payout), True,
    ),
    SubjectAction(
        "claim", "reject_insurance_claim", _("Insurer refused"), _MONEY, ReasonForm, (ClaimStatus.FILED,),
        _kw(compensation.reject_insurance_claim),
    ),
    SubjectAction(
        "dispute", "mediate_dispute", _("Mediate"), _DISPUTE, MediateForm, (DisputeStatus.OPEN,),
        _kw(disputes.mediate_dispute), True,
    ),
    SubjectAction(
        "dispute", "escalate_dispute", _("Hand to legal"), ("case.dispute",), ReasonForm,
        (DisputeStatus.OPEN, DisputeStatus.MEDIATING), _kw(disputes.escalate_dispute),
    ),
    SubjectAction(
        "dispute", "record_arbitration", _("Record arbitration"), _DISPUTE, ArbitrationForm, _LIVE_DISPUTE,
        _kw(disputes.record_arbitration),
    ),
    SubjectAction(
        "dispute", "resolve_dispute", _("Resolve"), _DISPUTE, ResolveDisputeForm, _LIVE_DISPUTE,
        _kw(disputes.resolve_dispute), True,
    ),
    SubjectAction(
        "evidence", "withdraw_evidence", _("Withdraw"), ("case.handle",), ReasonForm, ("active",),
        _kw(disputes.withdraw_evidence),
    ),
    SubjectAction(
        "proposal", "accept_solution", _("Customer accepted"), ("case.handle",), AcceptSolutionForm,
        (ProposalStatus.PROPOSED,), _kw(confirmation.accept_solution), True,
    ),
    SubjectAction(
        "proposal", "reject_solution", _("Customer rejected"), ("case.handle",), RejectSolutionForm,
        (ProposalStatus.PROPOSED,), _kw(confirmation.reject_solution),
    ),
]  # fmt: skip
SUBJECT_ACTIONS_BY_VERB = {a.verb: a for a in SUBJECT_ACTIONS}


# --- Refunds --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefundAction:
    verb: str
    label: Promise
    form: type[forms.Form]
    statuses: tuple[str, ...]  # refund statuses that offer it
    run: Callable[[Refund, Any, dict[str, Any]], Any]
    primary: bool = False

    def offered(self, refund: Refund) -> bool:
        return refund.status in self.statuses


REFUND_ACTIONS: list[RefundAction] = [
    RefundAction(
        "retry_refund", _("Retry"), NoFields, (RefundStatus.FAILED, RefundStatus.SENT),
        lambda refund, by, data: services.retry_refund(refund, by=by),
    ),
    RefundAction(
        "mark_refund_done", _("Mark paid"), MarkDoneForm, (RefundStatus.SENT,),
        lambda refund, by, data: services.mark_refund_done(refund, by=by, reference=data["reference"]), True,
    ),
]  # fmt: skip
REFUND_ACTIONS_BY_VERB = {a.verb: a for a in REFUND_ACTIONS}
