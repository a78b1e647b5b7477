"""Repair (维修) and technical guidance cases: one function per business action.

Repair: the warranty is judged when the case opens (`warranty.check_warranty`); the shop
approves, arranges the service (mail-in address, or an on-site appointment), tech support
receives the unit (a mail-in customer may first enter the parcel's carrier + tracking) and has the
policy version's `diagnosis_hours` (24 by default) to diagnose it (`diagnosis_due_at`; the sweep calls
`escalate_overdue_diagnoses`). Out of warranty, a repair fee is quoted: the quote is a solution
proposal (`services_confirmation`), sent to the customer, who accepts it in writing (portal, or a
channel staff name) or rejects it; unanswered, it expires and the unit goes back unrepaired. The
result (repaired, replaced, cannot repair → a refund or exchange is offered) is recorded; a mail-in
unit is sent back (carrier + tracking) and the case completes, an on-site repair completes at the
visit with its result recorded (the unit never left the customer).

Guidance: instructions are recorded (as often as needed); the customer's problem is resolved,
or the case is converted into a repair or a return.

Like `services.py`: permission before the transaction, one transaction, one event `case.<step>`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.cases import machines
from desk.cases import services_confirmation as confirmation
from desk.cases.errors import ProposalClosed
from desk.cases.models import (
    ZERO,
    AfterSalesCase,
    CaseState,
    CaseType,
    GuidanceNote,
    PolicyVersion,
    RepairJob,
    RepairOffer,
    RepairResult,
    ServiceMode,
)
from desk.cases.policy import RequestFacts
from desk.cases.services import Lines, _close, _event, _lock, _save, clean_parcel, open_case
from desk.cases.warranty import check_warranty, warranty_months
from desk.core.errors import ValidationFailed
from desk.evidence.models import ProposalStatus, SolutionProposal

log = logging.getLogger(__name__)

CONVERTIBLE = (CaseType.REPAIR, CaseType.RETURN_REFUND, CaseType.EXCHANGE)


# --- Opening (called by services.open_case) --------------------------------------------------------
def check_repair_request(serial_number: str, service_mode: str) -> None:
    if not serial_number.strip():
        raise ValidationFailed(
            _("Enter the unit's serial number (on the label or in the settings)."),
            code="repair.no_serial",
            field="serial_number",
        )
    if service_mode not in ServiceMode.values:
        raise ValidationFailed(
            _("Choose mail-in or on-site service."), code="repair.bad_service_mode", field="service_mode"
        )


def new_repair_job(
    case: AfterSalesCase, facts: RequestFacts, version: PolicyVersion, serial_number: str, service_mode: str
) -> RepairJob:
    """The unit's warranty verdict as of the request, from the product's or the policy's period."""
    months = warranty_months(version.warranty_months, [i.warranty_months for i in facts.items])
    purchased_at = facts.delivered_at or facts.paid_at or facts.now
    verdict = check_warranty(months=months, purchased_at=purchased_at, now=facts.now, serial_number=serial_number)
    return RepairJob.objects.create(
        case=case,
        serial_number=serial_number.strip()[:64],
        service_mode=service_mode,
        in_warranty=verdict.in_warranty,
        warranty_rule=verdict.rule,
        warranty_params=verdict.params,
        warranty_ends=verdict.ends,
    )


def job_snapshot(job: RepairJob) -> dict[str, Any]:
    return {
        "serial_number": job.serial_number,
        "service_mode": job.service_mode,
        "in_warranty": job.in_warranty,
        "warranty_rule": job.warranty_rule,
        "warranty_params": job.warranty_params,
    }


# --- Service: mail-in or on-site -------------------------------------------------------------------
def arrange_repair_service(
    case: AfterSalesCase, *, by: Any, address: str, appointment_at: datetime | None = None
) -> AfterSalesCase:
    """Mail-in: the address the customer sends the unit to. On-site: the visit's time and address."""
    authorize(by, "case.handle", subject=case)
    address = (address or "").strip()
    if not address:
        raise ValidationFailed(_("Enter the address."), code="repair.no_address", field="address")
    with transaction.atomic():
        case, job = _lock_repair(case)
        if job.service_mode == ServiceMode.ON_SITE and (appointment_at is None or appointment_at <= timezone.now()):
            raise ValidationFailed(
                _("An on-site repair needs a visit time in the future."), code="repair.bad_appointment", field="when"
            )
        before, after = machines.step(case, "arrange_service")
        job.service_address = address[:300]
        job.appointment_at = appointment_at if job.service_mode == ServiceMode.ON_SITE else None
        job.save(update_fields=["service_address", "appointment_at"])
        _save(case)
        data = {"mode": job.service_mode, "address": job.service_address, "appointment_at": job.appointment_at}
        _event("case.arrange_service", case, by, before={"state": before}, after={"state": after}, data=data)
    return case


def ship_repair_unit(case: AfterSalesCase, *, by: Any = None, carrier: str, tracking_number: str) -> AfterSalesCase:
    """Mail-in: the customer (`by=None`, the portal) or staff on their word records the parcel the unit
    travels in, so tech support and the warehouse can find it; entered again, the newer one counts."""
    if by is not None:
        authorize(by, "case.handle", subject=case)
    carrier, tracking_number = clean_parcel(carrier, tracking_number)
    with transaction.atomic():
        case, job = _lock_repair(case)
        if job.service_mode != ServiceMode.MAIL_IN:
            raise ValidationFailed(
                _("The technician comes to the customer: there is no parcel to send."),
                code="repair.not_mail_in",
                field="service_mode",
            )
        before, after = machines.step(case, "ship_unit")
        now = timezone.now()
        job.inbound_carrier, job.inbound_tracking_number = carrier[:50], tracking_number[:64]
        job.inbound_shipped_at = now
        job.save(update_fields=["inbound_carrier", "inbound_tracking_number", "inbound_shipped_at"])
        _save(case, now)
        data = {"carrier": job.inbound_carrier, "tracking_number": job.inbound_tracking_number}
        _event("case.ship_unit", case, by, before={"state": before}, after={"state": after}, data=data)
    return case


def diagnosis_target(version: PolicyVersion) -> timedelta:
    """How long tech support has to diagnose a unit it received, from the case's policy version."""
    return timedelta(hours=version.diagnosis_hours)


def start_diagnosis(case: AfterSalesCase, *, by: Any, carrier: str = "", tracking_number: str = "") -> AfterSalesCase:
    """The unit is in tech support's hands (parcel arrived, or the technician is on site): the policy's
    hours to diagnose. A parcel given here replaces the one the customer entered; none given keeps it."""
    authorize(by, "case.diagnose", subject=case)
    with transaction.atomic():
        case, job = _lock_repair(case)
        before, after = machines.step(case, "start_diagnosis")
        now = timezone.now()
        case.diagnosis_due_at = job.diagnose_by = now + diagnosis_target(case.policy_version)
        if carrier.strip() or tracking_number.strip():
            job.inbound_carrier, job.inbound_tracking_number = carrier.strip()[:50], tracking_number.strip()[:64]
        job.save(update_fields=["inbound_carrier", "inbound_tracking_number", "diagnose_by"])
        _save(case, now)
        data = {"due": case.diagnosis_due_at, "carrier": job.inbound_carrier, "tracking": job.inbound_tracking_number}
        _event("case.start_diagnosis", case, by, before={"state": before}, after={"state": after}, data=data)
    return case


def record_diagnosis(
    case: AfterSalesCase, *, by: Any, diagnosis: str, human_damage: bool = False, fee: Decimal = ZERO
) -> AfterSalesCase:
    """Tech support's finding. Human damage voids the warranty; out of warranty a fee > 0 is quoted."""
    authorize(by, "case.diagnose", subject=case)
    diagnosis = (diagnosis or "").strip()
    if not diagnosis:
        raise ValidationFailed(_("Describe the fault found."), code="repair.no_diagnosis", field="diagnosis")
    if fee < 0:
        raise ValidationFailed(_("The fee cannot be negative."), code="repair.bad_fee", field="fee")
    with transaction.atomic():
        case, job = _lock_repair(case)
        if human_damage and job.in_warranty:
            job.in_warranty, job.warranty_rule = False, "human_damage"
        if fee > 0 and job.in_warranty:
            raise ValidationFailed(
                _("The unit is under warranty: the repair is free."), code="repair.fee_in_warranty", field="fee"
            )
        now = timezone.now()
        # The job keeps the deadline: the sweep clears the case's column when it escalates.
        due = job.diagnose_by or case.diagnosis_due_at
        late = due is not None and now > due
        before, after = machines.step(case, "quote_fee" if fee > 0 else "diagnose")
        job.diagnosis, job.human_damage, job.diagnosed_at, job.fee = diagnosis, human_damage, now, fee
        job.save()
        case.diagnosis_due_at = None
        _save(case, now)
        data = {"diagnosis": diagnosis, "human_damage": human_damage, "in_warranty": job.in_warranty}
        data |= {"warranty_rule": job.warranty_rule, "fee": fee, "late": late}
        _event("case.diagnose", case, by, before={"state": before}, after={"state": after}, data=data)
        if fee > 0:
            _quote_fee(case, job, by, now)
    return case


# --- The fee quote: a proposal the customer answers --------------------------------------------------
FEE_QUOTE_RESPONSE_TIME = timedelta(days=3)


def _quote_fee(case: AfterSalesCase, job: RepairJob, by: Any, now: datetime) -> None:
    """Put the fee to the customer as a solution proposal: it is sent to them (notice), reminded and
    expired like any proposal, and answered in the portal or on a channel in writing."""
    reason = _("Not covered by the warranty: %(diagnosis)s") % {"diagnosis": job.diagnosis}
    confirmation.write_proposal(
        case,
        by,
        kind=CaseType.REPAIR,
        summary=_("Repair of the unit %(serial)s for a fee of %(fee)s %(currency)s")
        % {"serial": job.serial_number, "fee": job.fee, "currency": case.currency},
        reason=reason,
        fee_amount=job.fee,
        respond_by=now + FEE_QUOTE_RESPONSE_TIME,
    )


def open_fee_quote(case: AfterSalesCase) -> SolutionProposal:
    """The repair's fee quote waiting for the customer's answer."""
    proposal = case.proposals.filter(status=ProposalStatus.PROPOSED).first()
    if proposal is None or not confirmation.is_repair_quote(case, proposal):
        raise ProposalClosed(_("No repair fee quote is waiting for the customer's answer."), code="repair.no_quote")
    return proposal


def accept_repair_fee(case: AfterSalesCase, *, channel: str, confirmation_text: str, by: Any = None) -> AfterSalesCase:
    """The customer accepts the quoted fee in writing: in the portal (`by=None`), or on a channel where
    staff record it, naming the channel and the customer's written words (their name, 同意 or the fee)."""
    confirmation.accept_solution(open_fee_quote(case), channel=channel, confirmation_text=confirmation_text, by=by)
    return _fresh(case)


def decline_repair_fee(case: AfterSalesCase, *, channel: str, reason: str = "", by: Any = None) -> AfterSalesCase:
    """The customer declines the fee: nothing is repaired and the unit goes back as it came."""
    confirmation.reject_solution(open_fee_quote(case), channel=channel, reason=reason, by=by)
    return _fresh(case)


def answer_fee_quote(case: AfterSalesCase, proposal: SolutionProposal, by: Any) -> None:
    """Inside the answer's transaction (`services_confirmation._carry_out`), the case locked: the
    customer's answer to the quote moves the repair on. Accepted: the repair goes ahead for the fee
    of the proposal they accepted; rejected or expired: the unit goes back unrepaired."""
    accepted = proposal.status == ProposalStatus.ACCEPTED
    event = "accept_fee" if accepted else "decline_fee"
    job = RepairJob.objects.select_for_update().get(case=case)
    before, after = machines.step(case, event)
    now = timezone.now()
    if accepted:
        job.fee, job.fee_accepted_at = proposal.fee_amount, now
    else:
        job.result = RepairResult.UNREPAIRED
    job.save(update_fields=["fee", "fee_accepted_at", "result"])
    _save(case, now)
    data = {"fee": job.fee, "currency": case.currency, "proposal": proposal.pk, "channel": proposal.channel}
    if accepted:
        data["confirmation_text"] = proposal.confirmation_text
    _event(f"case.{event}", case, by, before={"state": before}, after={"state": after}, data=data)


def _require_fee_accepted(case: AfterSalesCase, job: RepairJob) -> None:
    """A paid repair is carried out only once the customer accepted its fee in writing."""
    if job.fee > 0:
        confirmation.require_accepted_solution(case, CaseType.REPAIR, fee=job.fee)


def _fresh(case: AfterSalesCase) -> AfterSalesCase:
    return AfterSalesCase.objects.select_related("repair").get(pk=case.pk)


def record_repair_result(
    case: AfterSalesCase, *, by: Any, result: str, notes: str = "", offer: str = ""
) -> AfterSalesCase:
    """Repaired or replaced; or cannot be repaired, and the customer is offered a refund or an exchange."""
    authorize(by, "case.diagnose", subject=case)
    if result not in (RepairResult.REPAIRED, RepairResult.REPLACED, RepairResult.CANNOT_REPAIR):
        raise ValidationFailed(_("Choose the repair result."), code="repair.bad_result", field="result")
    if (result == RepairResult.CANNOT_REPAIR) != (offer in RepairOffer.values):
        raise ValidationFailed(
            _("A unit that cannot be repaired needs an offer (refund or exchange); a repaired one none."),
            code="repair.bad_offer",
            field="offer",
        )
    with transaction.atomic():
        case, job = _lock_repair(case)
        before, after = machines.step(case, "record_result")
        _require_fee_accepted(case, job)  # after the step: a step out of order says so first
        job.result, job.result_notes, job.offer = result, notes.strip(), offer
        job.save(update_fields=["result", "result_notes", "offer"])
        _save(case)
        data = {"result": result, "notes": job.result_notes, "offer": offer or None}
        _event("case.record_result", case, by, before={"state": before}, after={"state": after}, data=data)
    return case


def ship_repair_back(case: AfterSalesCase, *, by: Any, carrier: str, tracking_number: str) -> AfterSalesCase:
    """The unit (repaired, replaced or unrepaired) is on its way back to the customer."""
    authorize(by, "case.handle", subject=case)
    carrier, tracking_number = clean_parcel(carrier, tracking_number)
    with transaction.atomic():
        case, job = _lock_repair(case)
        before, after = machines.step(case, "ship_back")
        now = timezone.now()
        job.back_carrier, job.back_tracking_number, job.shipped_back_at = carrier[:50], tracking_number[:64], now
        job.save(update_fields=["back_carrier", "back_tracking_number", "shipped_back_at"])
        _save(case, now)
        data = {"carrier": carrier, "tracking_number": tracking_number}
        _event("case.ship_back", case, by, before={"state": before}, after={"state": after}, data=data)
    return case


def complete_repair(case: AfterSalesCase, *, by: Any = None, visit_result: str = "") -> AfterSalesCase:
    """The customer has the unit back; or it could not be repaired and stays with the shop (refund/exchange).

    On site the unit never left the customer: the repair completes at the visit, with what the
    technician left (`visit_result`, required). A mail-in unit must be shipped back first.
    """
    if by is not None:
        authorize(by, "case.handle", subject=case)
    visit_result = (visit_result or "").strip()
    with transaction.atomic():
        case, job = _lock_repair(case)
        data: dict[str, Any] = {"offer": job.offer or None}
        if case.state == CaseState.REPAIRED and job.result != RepairResult.CANNOT_REPAIR:
            _check_finished_on_site(job, visit_result)
            job.visit_result = visit_result
            job.save(update_fields=["visit_result"])
            data |= {"on_site": True, "visit_result": visit_result}
        return _close(case, by, "complete", job.result or "completed", **data)


def _check_finished_on_site(job: RepairJob, visit_result: str) -> None:
    """A unit not shipped back may complete only where the technician repaired it at the customer's."""
    if job.service_mode != ServiceMode.ON_SITE:
        raise ValidationFailed(
            _("Send the unit back to the customer first."), code="repair.not_shipped_back", field="state"
        )
    if not visit_result:
        raise ValidationFailed(
            _("Describe the visit's result (what was done, the customer's sign-off)."),
            code="repair.no_visit_result",
            field="visit_result",
        )


# --- The 24 h diagnosis target -----------------------------------------------------------------------
def escalate_overdue_diagnoses(now: datetime | None = None) -> int:
    """Escalate each repair not diagnosed within its 24 h target, once: a `case.diagnosis_overdue`
    event and the supervisors told (the case sweep runs the same escalation). Returns how many."""
    from desk.cases import sweep  # owns the bulk escalation; imported here as it imports the case services

    return sweep.escalate_overdue(sweep.DIAGNOSIS_OVERDUE, now)


# --- Technical guidance ------------------------------------------------------------------------------
def give_guidance(case: AfterSalesCase, *, by: Any, text: str, article: str = "") -> GuidanceNote:
    """Record the instructions given to the customer (again, if the first ones did not help)."""
    authorize(by, "case.handle", subject=case)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("Write the instructions given."), code="guidance.empty", field="text")
    with transaction.atomic():
        case = _lock(case)
        before, after = machines.step(case, "give_guidance")
        now = timezone.now()
        note = GuidanceNote.objects.create(
            case=case, text=text, article=article.strip()[:200], given_by=_staff(by), created_at=now
        )
        _save(case, now)
        data = {"text": text, "article": note.article}
        _event("case.give_guidance", case, by, before={"state": before}, after={"state": after}, data=data)
    return note


def resolve_guidance(case: AfterSalesCase, *, by: Any = None, note: str = "") -> AfterSalesCase:
    """The instructions solved the problem (confirmed by the customer, or by staff on their word)."""
    if by is not None:
        authorize(by, "case.handle", subject=case)
    with transaction.atomic():
        return _close(_lock(case), by, "resolve", "resolved", note=note.strip())


def convert_guidance(
    case: AfterSalesCase,
    *,
    by: Any,
    to: str,
    reason: str,
    items: Lines | None = None,
    serial_number: str = "",
    service_mode: str = "",
) -> AfterSalesCase:
    """The problem remains: close the guidance case as converted and open a repair or a return; returns the new case.

    Both happen in one transaction; the guidance case's items are released and claimed by the new one.
    """
    authorize(by, "case.handle", subject=case)
    authorize(by, "case.create", subject=case.order)
    if to not in CONVERTIBLE:
        raise ValidationFailed(_("Convert into a repair, a return or an exchange."), code="guidance.bad_target")
    if case.case_type != CaseType.GUIDANCE:
        raise ValidationFailed(_("Only guidance cases are converted."), code="guidance.not_guidance")
    chosen = list(items) if items is not None else [(ci.order_item, ci.quantity) for ci in case.items.all()]
    with transaction.atomic():
        old = _lock(case)
        before, after = machines.step(old, "convert")  # closed first: its items are released for the new case
        now = timezone.now()
        old.close_reason, old.closed_at = "converted", now
        _save(old, now)
        new = open_case(
            by=by,
            order=old.order,
            case_type=to,
            reason=reason,
            items=chosen,
            reason_text=old.reason_text,
            ticket=old.ticket,
            serial_number=serial_number,
            service_mode=service_mode,
        )
        data = {"reason": "converted", "into": new.number, "type": to}
        _event("case.convert", old, by, before={"state": before}, after={"state": after}, data=data)
    return new


# --- Helpers -----------------------------------------------------------------------------------------
def _lock_repair(case: AfterSalesCase) -> tuple[AfterSalesCase, RepairJob]:
    case = _lock(case)
    try:
        return case, RepairJob.objects.select_for_update().get(case=case)
    except RepairJob.DoesNotExist:
        raise ValidationFailed(_("This is not a repair case."), code="repair.not_repair") from None


def _staff(by: Any) -> Any:
    return by if getattr(by, "is_authenticated", False) else None
