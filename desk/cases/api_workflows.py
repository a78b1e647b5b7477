"""The steps of exchange, reship, repair, guidance and compensation cases, confirmations and disputes.

Mounted beside `desk/cases/api.py` under /api/cases; each handler is one service call and answers the
case as `GET /api/cases/{ref}` does (grants, proposals and disputes are in it, with their ids).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from desk.cases import services_compensation as compensation
from desk.cases import services_confirmation as confirmation
from desk.cases import services_disputes as disputes
from desk.cases import services_exchange as exchange
from desk.cases import services_repair as repair
from desk.cases.api import _case, _fresh
from desk.cases.errors import IllegalTransition
from desk.cases.models import AfterSalesCase, CaseType, CompensationGrant, ShippingInsuranceClaim
from desk.cases.schemas import (
    AnswerIn,
    ArbitrationIn,
    ArrangeServiceIn,
    CaseDetailOut,
    CaseRef,
    CompensationIn,
    CompleteIn,
    ConvertIn,
    DiagnosisIn,
    DisputeIn,
    EvidenceIn,
    ExtendReturnIn,
    GuidanceIn,
    NoteIn,
    OutcomeIn,
    ProposalIn,
    ReasonIn,
    ReferenceIn,
    RepairResultIn,
    ReserveIn,
    ResolveIn,
    SettleUnreturnedIn,
    ShipmentIn,
    ShipReplacementIn,
    StartDiagnosisIn,
)
from desk.core.api import ERRORS, AuthedRequest, Id
from desk.core.errors import NotFound
from desk.evidence.models import Dispute, EvidenceFile, SolutionProposal

router = Router(tags=["cases"])
Answer = dict[str, Any]


def _grant(case: AfterSalesCase, grant_id: int) -> CompensationGrant:
    grant = case.compensations.filter(pk=grant_id).first()
    if grant is None:
        raise NotFound(_("Case %(case)s has no compensation %(id)s.") % {"case": case.number, "id": grant_id},
                       code="compensation.not_found")  # fmt: skip
    return grant


def _proposal(case: AfterSalesCase, proposal_id: int) -> SolutionProposal:
    proposal = case.proposals.filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFound(_("Case %(case)s has no proposal %(id)s.") % {"case": case.number, "id": proposal_id},
                       code="proposal.not_found")  # fmt: skip
    return proposal


def _dispute(case: AfterSalesCase, dispute_id: int) -> Dispute:
    dispute = case.disputes.filter(pk=dispute_id).first()
    if dispute is None:
        raise NotFound(_("Case %(case)s has no dispute %(id)s.") % {"case": case.number, "id": dispute_id},
                       code="dispute.not_found")  # fmt: skip
    return dispute


def _evidence(case: AfterSalesCase, evidence_id: int) -> EvidenceFile:
    evidence = case.evidence.filter(pk=evidence_id).first()
    if evidence is None:
        raise NotFound(_("Case %(case)s has no evidence file %(id)s.") % {"case": case.number, "id": evidence_id},
                       code="evidence.not_found")  # fmt: skip
    return evidence


def _claim(case: AfterSalesCase) -> ShippingInsuranceClaim:
    claim = ShippingInsuranceClaim.objects.filter(case=case).first()
    if claim is None:
        raise NotFound(_("Case %(case)s has no shipping-insurance claim.") % {"case": case.number},
                       code="insurance_claim.not_found")  # fmt: skip
    return claim


# --- Exchange and reship -----------------------------------------------------------------------------
@router.post("/{ref}/reserve", response={200: CaseDetailOut, **ERRORS})
def reserve(request: AuthedRequest, ref: CaseRef, payload: ReserveIn) -> Answer:
    """Hold the replacement (exchange, in a mode) or the missing parts (reship) in stock."""
    lines = [(r.sku, r.quantity) for r in payload.replacements] if payload.replacements is not None else None
    case = exchange.reserve_replacement(_case(request, ref), by=request.auth, mode=payload.mode or "",
                                        replacements=lines)  # fmt: skip
    return _fresh(request, case)


@router.post("/{ref}/ship-replacement", response={200: CaseDetailOut, **ERRORS})
def ship_replacement(request: AuthedRequest, ref: CaseRef, payload: ShipReplacementIn) -> Answer:
    """The warehouse ships the replacement; ship first also needs where the goods come back to."""
    return _fresh(request, exchange.ship_replacement(_case(request, ref), by=request.auth, **payload.model_dump()))


@router.post("/{ref}/replacement-delivered", response={200: CaseDetailOut, **ERRORS})
def replacement_delivered(request: AuthedRequest, ref: CaseRef) -> Answer:
    """The customer has the replacement."""
    return _fresh(request, exchange.record_replacement_delivery(_case(request, ref), by=request.auth))


@router.post("/{ref}/extend-return", response={200: CaseDetailOut, **ERRORS})
def extend_return(request: AuthedRequest, ref: CaseRef, payload: ExtendReturnIn) -> Answer:
    """Ship first: give the customer more days to send the goods back."""
    case = exchange.extend_exchange_return(_case(request, ref), by=request.auth, **payload.model_dump())
    return _fresh(request, case)


@router.post("/{ref}/settle-unreturned", response={200: CaseDetailOut, **ERRORS})
def settle_unreturned(request: AuthedRequest, ref: CaseRef, payload: SettleUnreturnedIn) -> Answer:
    """Ship first and the return is overdue: charge the customer for the goods kept, or write them off (closes)."""
    case = exchange.settle_unreturned_exchange(_case(request, ref), by=request.auth, **payload.model_dump())
    return _fresh(request, case)


_COMPLETE: dict[str, Callable[..., AfterSalesCase]] = {
    CaseType.EXCHANGE: exchange.complete_replacement,
    CaseType.RESHIP: exchange.complete_replacement,
    CaseType.REPAIR: repair.complete_repair,
}


@router.post("/{ref}/complete", response={200: CaseDetailOut, **ERRORS})
def complete(request: AuthedRequest, ref: CaseRef, payload: CompleteIn | None = None) -> Answer:
    """Finish an exchange, reship or repair (a compensation case completes when its grants are issued).
    An on-site repair that was not shipped back completes with the visit's result (`visit_result`)."""
    case = _case(request, ref)
    finish = _COMPLETE.get(case.case_type)
    if finish is None:
        raise IllegalTransition(_("A %(type)s case is not completed by hand.") % {"type": case.get_case_type_display()})
    if case.case_type == CaseType.REPAIR:
        visit_result = payload.visit_result if payload is not None else ""
        return _fresh(request, repair.complete_repair(case, by=request.auth, visit_result=visit_result))
    return _fresh(request, finish(case, by=request.auth))


# --- Repair and guidance -----------------------------------------------------------------------------
@router.post("/{ref}/arrange-service", response={200: CaseDetailOut, **ERRORS})
def arrange_service(request: AuthedRequest, ref: CaseRef, payload: ArrangeServiceIn) -> Answer:
    """Book the visit (on-site) or confirm the mail-in address."""
    case = repair.arrange_repair_service(_case(request, ref), by=request.auth, address=payload.address,
                                         appointment_at=payload.appointment_at)  # fmt: skip
    return _fresh(request, case)


@router.post("/{ref}/ship-unit", response={200: CaseDetailOut, **ERRORS})
def ship_unit(request: AuthedRequest, ref: CaseRef, payload: ShipmentIn) -> Answer:
    """Mail-in repair: the customer sent the unit (carrier + tracking, entered on their behalf)."""
    return _fresh(request, repair.ship_repair_unit(_case(request, ref), by=request.auth, **payload.model_dump()))


@router.post("/{ref}/start-diagnosis", response={200: CaseDetailOut, **ERRORS})
def start_diagnosis(request: AuthedRequest, ref: CaseRef, payload: StartDiagnosisIn) -> Answer:
    """The unit arrived (or the technician is there): the diagnosis clock starts."""
    return _fresh(request, repair.start_diagnosis(_case(request, ref), by=request.auth, **payload.model_dump()))


@router.post("/{ref}/diagnosis", response={200: CaseDetailOut, **ERRORS})
def diagnosis(request: AuthedRequest, ref: CaseRef, payload: DiagnosisIn) -> Answer:
    """Record the diagnosis; a fee (out of warranty, human damage) waits for the customer's answer."""
    return _fresh(request, repair.record_diagnosis(_case(request, ref), by=request.auth, **payload.model_dump()))


@router.post("/{ref}/accept-fee", response={200: CaseDetailOut, **ERRORS})
def accept_fee(request: AuthedRequest, ref: CaseRef, payload: AnswerIn) -> Answer:
    """The customer accepted the quoted repair fee in writing on a channel (entered on their behalf with
    the channel and the customer's words: their name, 同意 or the fee)."""
    case = repair.accept_repair_fee(_case(request, ref), by=request.auth, channel=payload.channel,
                                    confirmation_text=payload.confirmation_text)  # fmt: skip
    return _fresh(request, case)


@router.post("/{ref}/decline-fee", response={200: CaseDetailOut, **ERRORS})
def decline_fee(request: AuthedRequest, ref: CaseRef, payload: AnswerIn) -> Answer:
    """The customer declined the fee on a channel: the unit goes back unrepaired."""
    case = repair.decline_repair_fee(_case(request, ref), by=request.auth, channel=payload.channel,
                                     reason=payload.reason)  # fmt: skip
    return _fresh(request, case)


@router.post("/{ref}/repair-result", response={200: CaseDetailOut, **ERRORS})
def repair_result(request: AuthedRequest, ref: CaseRef, payload: RepairResultIn) -> Answer:
    """Repaired, replaced, or not repairable (with the offer: refund or exchange)."""
    case = repair.record_repair_result(_case(request, ref), by=request.auth, result=payload.result,
                                       notes=payload.notes, offer=payload.offer or "")  # fmt: skip
    return _fresh(request, case)


@router.post("/{ref}/ship-back", response={200: CaseDetailOut, **ERRORS})
def ship_back(request: AuthedRequest, ref: CaseRef, payload: ShipmentIn) -> Answer:
    """The repaired (or unrepaired) unit is on its way back to the customer."""
    return _fresh(request, repair.ship_repair_back(_case(request, ref), by=request.auth, **payload.model_dump()))


@router.post("/{ref}/guidance", response={200: CaseDetailOut, **ERRORS})
def guidance(request: AuthedRequest, ref: CaseRef, payload: GuidanceIn) -> Answer:
    """Record the technical guidance given to the customer."""
    case = _case(request, ref)
    repair.give_guidance(case, by=request.auth, **payload.model_dump())
    return _fresh(request, case)


@router.post("/{ref}/resolve", response={200: CaseDetailOut, **ERRORS})
def resolve(request: AuthedRequest, ref: CaseRef, payload: ResolveIn) -> Answer:
    """The guidance solved the problem."""
    return _fresh(request, repair.resolve_guidance(_case(request, ref), by=request.auth, note=payload.note))


@router.post("/{ref}/convert", response={201: CaseDetailOut, **ERRORS})
def convert(request: AuthedRequest, ref: CaseRef, payload: ConvertIn) -> Any:
    """The problem remains: close the guidance case and open a repair, return or exchange (the new case)."""
    new = repair.convert_guidance(
        _case(request, ref), by=request.auth, to=payload.to, reason=payload.reason,
        serial_number=payload.serial_number, service_mode=payload.service_mode or "",
    )  # fmt: skip
    return Status(201, _fresh(request, new))


# --- Compensation ------------------------------------------------------------------------------------
@router.post("/{ref}/compensations", response={201: CaseDetailOut, **ERRORS})
def propose_compensation(request: AuthedRequest, ref: CaseRef, payload: CompensationIn) -> Any:
    """Propose a goodwill grant (coupon, points, balance, goods, money) from the catalogue."""
    case = _case(request, ref)
    compensation.propose_compensation(case, by=request.auth, kind=payload.kind, amount=payload.amount,
                                      reason=payload.reason)  # fmt: skip
    return Status(201, _fresh(request, case))


@router.post("/{ref}/compensations/double-shipping", response={201: CaseDetailOut, **ERRORS})
def propose_double_shipping(request: AuthedRequest, ref: CaseRef) -> Any:
    """Propose the double shipping-fee compensation (双倍运费赔付) the policy decided."""
    case = _case(request, ref)
    compensation.propose_double_shipping(case, by=request.auth)
    return Status(201, _fresh(request, case))


@router.post("/{ref}/compensations/{grant_id}/approve", response={200: CaseDetailOut, **ERRORS})
def approve_compensation(request: AuthedRequest, ref: CaseRef, grant_id: Id) -> Answer:
    case = _case(request, ref)
    compensation.approve_compensation(_grant(case, grant_id), by=request.auth)
    return _fresh(request, case)


@router.post("/{ref}/compensations/{grant_id}/cancel", response={200: CaseDetailOut, **ERRORS})
def cancel_compensation(request: AuthedRequest, ref: CaseRef, grant_id: Id, payload: ReasonIn) -> Answer:
    case = _case(request, ref)
    compensation.cancel_compensation(_grant(case, grant_id), by=request.auth, reason=payload.reason)
    return _fresh(request, case)


@router.post("/{ref}/compensations/{grant_id}/issue", response={200: CaseDetailOut, **ERRORS})
def issue_compensation(request: AuthedRequest, ref: CaseRef, grant_id: Id, payload: ReferenceIn) -> Answer:
    """Issue an approved grant (money goes through the payment provider; others take a reference)."""
    case = _case(request, ref)
    compensation.issue_compensation(_grant(case, grant_id), by=request.auth, reference=payload.reference)
    return _fresh(request, case)


@router.post("/{ref}/compensations/{grant_id}/retry", response={200: CaseDetailOut, **ERRORS})
def retry_compensation(request: AuthedRequest, ref: CaseRef, grant_id: Id) -> Answer:
    case = _case(request, ref)
    compensation.retry_compensation_payout(_grant(case, grant_id), by=request.auth)
    return _fresh(request, case)


@router.post("/{ref}/compensations/{grant_id}/mark-paid", response={200: CaseDetailOut, **ERRORS})
def mark_compensation_paid(request: AuthedRequest, ref: CaseRef, grant_id: Id, payload: ReferenceIn) -> Answer:
    case = _case(request, ref)
    compensation.mark_compensation_paid(_grant(case, grant_id), by=request.auth, reference=payload.reference)
    return _fresh(request, case)


# --- The customer's confirmation of a solution ----------------------------------------------------------
@router.post("/{ref}/proposals", response={201: CaseDetailOut, **ERRORS})
def propose_solution(request: AuthedRequest, ref: CaseRef, payload: ProposalIn) -> Any:
    """Offer the customer a solution to confirm (in writing when fees or process changes are involved)."""
    case = _case(request, ref)
    confirmation.propose_solution(case, by=request.auth, **payload.model_dump())
    return Status(201, _fresh(request, case))


@router.post("/{ref}/proposals/{proposal_id}/accept", response={200: CaseDetailOut, **ERRORS})
def accept_solution(request: AuthedRequest, ref: CaseRef, proposal_id: Id, payload: AnswerIn) -> Answer:
    """The customer's acceptance, received on a channel and entered by staff."""
    case = _case(request, ref)
    confirmation.accept_solution(_proposal(case, proposal_id), by=request.auth, channel=payload.channel,
                                 confirmation_text=payload.confirmation_text)  # fmt: skip
    return _fresh(request, case)


@router.post("/{ref}/proposals/{proposal_id}/reject", response={200: CaseDetailOut, **ERRORS})
def reject_solution(request: AuthedRequest, ref: CaseRef, proposal_id: Id, payload: AnswerIn) -> Answer:
    case = _case(request, ref)
    confirmation.reject_solution(_proposal(case, proposal_id), by=request.auth, channel=payload.channel,
                                 reason=payload.reason)  # fmt: skip
    return _fresh(request, case)


# --- Disputes ------------------------------------------------------------------------------------------
@router.post("/{ref}/disputes", response={201: CaseDetailOut, **ERRORS})
def open_dispute(request: AuthedRequest, ref: CaseRef, payload: DisputeIn) -> Any:
    """Open a dispute (纠纷): minor ones are mediated by senior agents, major ones go to legal."""
    case = _case(request, ref)
    disputes.open_dispute(case, by=request.auth, tier=payload.tier, summary=payload.summary)
    return Status(201, _fresh(request, case))


@router.post("/{ref}/disputes/{dispute_id}/mediate", response={200: CaseDetailOut, **ERRORS})
def mediate_dispute(request: AuthedRequest, ref: CaseRef, dispute_id: Id, payload: NoteIn) -> Answer:
    case = _case(request, ref)
    disputes.mediate_dispute(_dispute(case, dispute_id), by=request.auth, note=payload.note)
    return _fresh(request, case)


@router.post("/{ref}/disputes/{dispute_id}/escalate", response={200: CaseDetailOut, **ERRORS})
def escalate_dispute(request: AuthedRequest, ref: CaseRef, dispute_id: Id, payload: ReasonIn) -> Answer:
    case = _case(request, ref)
    disputes.escalate_dispute(_dispute(case, dispute_id), by=request.auth, reason=payload.reason)
    return _fresh(request, case)


@router.post("/{ref}/disputes/{dispute_id}/arbitration", response={200: CaseDetailOut, **ERRORS})
def record_arbitration(request: AuthedRequest, ref: CaseRef, dispute_id: Id, payload: ArbitrationIn) -> Answer:
    """Record a third-party arbitration or inspection (consumer association, testing lab)."""
    case = _case(request, ref)
    disputes.record_arbitration(_dispute(case, dispute_id), by=request.auth, **payload.model_dump())
    return _fresh(request, case)


@router.post("/{ref}/disputes/{dispute_id}/resolve", response={200: CaseDetailOut, **ERRORS})
def resolve_dispute(request: AuthedRequest, ref: CaseRef, dispute_id: Id, payload: OutcomeIn) -> Answer:
    case = _case(request, ref)
    disputes.resolve_dispute(_dispute(case, dispute_id), by=request.auth, outcome=payload.outcome)
    return _fresh(request, case)


# --- Evidence and shipping insurance ---------------------------------------------------------------------
@router.post("/{ref}/evidence", response={201: CaseDetailOut, **ERRORS})
def add_evidence(request: AuthedRequest, ref: CaseRef, file: File[UploadedFile], form: Form[EvidenceIn]) -> Any:
    """Upload a photo, video or PDF (multipart `file`, optional `description`); its hash joins the case's chain."""
    case = _case(request, ref)
    disputes.add_evidence(case, file, by=request.auth, description=form.description)
    return Status(201, _fresh(request, case))


@router.post("/{ref}/evidence/{evidence_id}/withdraw", response={200: CaseDetailOut, **ERRORS})
def withdraw_evidence(request: AuthedRequest, ref: CaseRef, evidence_id: Id, payload: ReasonIn) -> Answer:
    """Mark a wrong upload withdrawn (kept and linked); refused once a dispute locks the evidence."""
    case = _case(request, ref)
    disputes.withdraw_evidence(_evidence(case, evidence_id), by=request.auth, reason=payload.reason)
    return _fresh(request, case)


@router.post("/{ref}/insurance-claim", response={201: CaseDetailOut, **ERRORS})
def file_insurance_claim(request: AuthedRequest, ref: CaseRef) -> Any:
    """Claim the shipping insurance (运费险) payout for the return postage of an insured order."""
    case = _case(request, ref)
    compensation.file_insurance_claim(case, by=request.auth)
    return Status(201, _fresh(request, case))


@router.post("/{ref}/insurance-claim/payout", response={200: CaseDetailOut, **ERRORS})
def record_insurance_payout(request: AuthedRequest, ref: CaseRef, payload: ReferenceIn) -> Answer:
    case = _case(request, ref)
    compensation.record_insurance_payout(_claim(case), by=request.auth, reference=payload.reference)
    return _fresh(request, case)


@router.post("/{ref}/insurance-claim/reject", response={200: CaseDetailOut, **ERRORS})
def reject_insurance_claim(request: AuthedRequest, ref: CaseRef, payload: ReasonIn) -> Answer:
    case = _case(request, ref)
    compensation.reject_insurance_claim(_claim(case), by=request.auth, reason=payload.reason)
    return _fresh(request, case)
