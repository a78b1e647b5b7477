"""Compensation grants (赔付) and shipping-insurance claims (运费险): one function per business action.

A grant is proposed on any case (or on a case of type `compensation`), approved within the
approver's `compensation.approve` limit (amount × the kind's unit value, so 1000 points count as
10.00), then issued: coupons, points, balance and goods with the reference of what was given,
money through the payment provider. The double shipping-fee compensation the policy computed
(`AfterSalesCase.compensation_amount`) becomes a money grant through `propose_double_shipping`.

Money is paid like refunds (`services._send`): the grant is marked `sent` and committed before the
provider is called with its payout number; a lost answer leaves it `sent`, and a retry sends the
same number, which the provider pays at most once.

Lock order: the case, then its grants; for insurance claims the case, then its order.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.cases import machines, payments
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    ClaimStatus,
    CompensationGrant,
    CompensationKind,
    GrantSource,
    GrantStatus,
    Payer,
    ShippingInsuranceClaim,
)
from desk.cases.money import cents
from desk.cases.services import _event, _lock, _save
from desk.core.errors import Conflict, DomainError, ValidationFailed
from desk.orders import services_confirm
from desk.orders.models import Order

log = logging.getLogger(__name__)

MONEY_KIND = "money"
INSURED_RETURNS = (CaseType.RETURN_REFUND, CaseType.EXCHANGE)
FINISHED_GRANTS = (GrantStatus.ISSUED, GrantStatus.CANCELLED)
STALE_PAYOUT_AFTER = timedelta(minutes=10)  # an automatic provider answers in seconds


# --- Proposing and approving --------------------------------------------------------------------------
def propose_compensation(
    case: AfterSalesCase,
    *,
    by: Any,
    kind: CompensationKind | str,
    amount: Decimal,
    reason: str,
    source: str = GrantSource.GOODWILL,
) -> CompensationGrant:
    """Propose giving the customer `amount` of `kind` (a code or a catalogue row) on this case."""
    authorize(by, "case.handle", subject=case)
    kind = _kind(kind)
    amount, reason = cents(Decimal(amount)), (reason or "").strip()
    if amount <= 0:
        raise ValidationFailed(_("The amount must be above zero."), code="compensation.bad_amount", field="amount")
    if not reason:
        raise ValidationFailed(_("Say why the customer is compensated."), code="compensation.no_reason", field="reason")
    with transaction.atomic():
        case = _lock(case)
        if case.state == CaseState.REJECTED or (case.state == CaseState.CLOSED and case.close_reason != "refunded"):
            raise Conflict(_("This case ended without a solution."), code="compensation.case_ended")
        if case.case_type == CaseType.COMPENSATION and case.state == CaseState.COMPLETED:
            raise Conflict(_("This compensation case is completed; open a new one."), code="compensation.case_ended")
        return _create_grant(case, by, kind, amount, reason, source)


def propose_double_shipping(case: AfterSalesCase, *, by: Any) -> CompensationGrant:
    """Make the policy's double shipping-fee compensation (双倍运费赔付) payable: a money grant, once per case."""
    authorize(by, "case.handle", subject=case)
    if case.compensation_amount <= 0:
        raise ValidationFailed(
            _("The policy owes no shipping-fee compensation on this case."), code="compensation.nothing_due"
        )
    duplicate = Conflict(
        _("The shipping-fee compensation of this case is already proposed."), code="compensation.duplicate"
    )
    reason = _("Double shipping-fee compensation (双倍运费赔付)")
    with transaction.atomic():
        case = _lock(case)
        live = case.compensations.filter(source=GrantSource.DOUBLE_SHIPPING).exclude(status=GrantStatus.CANCELLED)
        if live.exists():
            raise duplicate
        try:
            with transaction.atomic():
                kind = _kind(MONEY_KIND)
                return _create_grant(case, by, kind, case.compensation_amount, reason, GrantSource.DOUBLE_SHIPPING)
        except IntegrityError:  # the unique constraint: another request proposed it at the same moment
            raise duplicate from None


def _create_grant(
    case: AfterSalesCase, by: Any, kind: CompensationKind, amount: Decimal, reason: str, source: str
) -> CompensationGrant:
    now = timezone.now()
    grant = CompensationGrant.objects.create(
        case=case,
        kind=kind,
        amount=amount,
        currency=case.currency,
        reason=reason[:300],
        source=source,
        payout_number=f"CP{case.pk:07d}{case.compensations.count() + 1:02d}",
        proposed_by=_staff(by),
        created_at=now,
    )
    _save(case, now)
    _event("case.compensation_proposed", case, by, after=_grant_facts(grant), data={"reason": grant.reason})
    return grant


def approve_compensation(grant: CompensationGrant, *, by: Any) -> CompensationGrant:
    """Approve within the approver's limit; the first approval also approves a compensation case."""
    authorize(by, "compensation.approve", amount=cents(grant.amount * grant.kind.unit_value), subject=grant.case)
    with transaction.atomic():
        case = _lock(grant.case)
        grant = _claim(grant, [GrantStatus.PROPOSED], GrantStatus.APPROVED)
        grant.approved_by, grant.approved_at = _staff(by), timezone.now()
        grant.save(update_fields=["approved_by", "approved_at"])
        before = {"status": GrantStatus.PROPOSED, "case_state": case.state}
        if case.case_type == CaseType.COMPENSATION and case.state == CaseState.REQUESTED:
            machines.step(case, "approve")
            case.approved_by, case.approved_at, case.answer_due_at = _staff(by), grant.approved_at, None
        _save(case)
        after = {**_grant_facts(grant), "case_state": case.state}
        _event("case.compensation_approved", case, by, before=before, after=after)
    return grant


def cancel_compensation(grant: CompensationGrant, *, by: Any, reason: str) -> CompensationGrant:
    """Withdraw a grant not paid yet (a declined payout may be cancelled too)."""
    authorize(by, "case.handle", subject=grant.case)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the grant is cancelled."), code="compensation.no_reason", field="reason")
    with transaction.atomic():
        case = _lock(grant.case)
        before = grant.status
        grant = _claim(grant, [GrantStatus.PROPOSED, GrantStatus.APPROVED, GrantStatus.FAILED], GrantStatus.CANCELLED)
        case_before, case_after = _complete_if_done(case)
        data = {"reason": reason, "case_state": case_after}
        _event(
            "case.compensation_cancelled",
            case,
            by,
            before={"status": before, "case_state": case_before},
            after=_grant_facts(grant),
            data=data,
        )
    return grant


# --- Issuing -------------------------------------------------------------------------------------------
def issue_compensation(grant: CompensationGrant, *, by: Any, reference: str = "") -> CompensationGrant:
    """Give an approved grant: money goes to the payment provider; other kinds record their reference
    (coupon code, points or balance transaction, goods shipment)."""
    grant.refresh_from_db()
    if grant.kind.pays_money:
        authorize(by, "refund.execute", amount=grant.amount, subject=grant.case)
        return _send(grant, by)
    authorize(by, "case.handle", subject=grant.case)
    reference = (reference or "").strip()
    if not reference:
        raise ValidationFailed(
            _("Enter the coupon code or the transaction reference."),
            code="compensation.no_reference",
            field="reference",
        )
    return _issue(grant, by, reference=reference, claimable=[GrantStatus.APPROVED])


def retry_compensation_payout(grant: CompensationGrant, *, by: Any) -> CompensationGrant:
    """Send an unanswered or declined payout again, with the same payout number: never paid twice."""
    if by is not None:
        authorize(by, "refund.execute", subject=grant.case)
    grant.refresh_from_db()
    if grant.status == GrantStatus.ISSUED:
        raise Conflict(_("This compensation is already paid."), code="compensation.already_issued")
    return _send(grant, by, retry=True)


def retry_stale_payouts(now: datetime | None = None) -> int:
    """For the sweep: payouts sent to an automatic provider and unanswered for 10 minutes go again
    (same payout number); returns how many were sent."""
    now = now or timezone.now()
    stale = CompensationGrant.objects.filter(status=GrantStatus.SENT, sent_at__lte=now - STALE_PAYOUT_AFTER).exclude(
        provider=payments.manual.name
    )
    retried = 0
    for grant in stale:
        try:
            retry_compensation_payout(grant, by=None)
        except DomainError:  # another worker is sending it, or it was confirmed meanwhile
            log.warning("payout %s: stale retry skipped", grant.payout_number, exc_info=True)
            continue
        retried += 1
    return retried


def mark_compensation_paid(grant: CompensationGrant, *, by: Any, reference: str) -> CompensationGrant:
    """Finance paid a manual payout by hand and records the bank or platform reference."""
    authorize(by, "refund.execute", subject=grant.case)
    if not reference.strip():
        raise ValidationFailed(_("Enter the payment reference."), code="compensation.no_reference", field="reference")
    return _issue(grant, by, reference=reference.strip(), claimable=[GrantStatus.SENT])


def _send(grant: CompensationGrant, by: Any, *, retry: bool = False) -> CompensationGrant:
    """Claim the grant (→ sent) and commit, then call the provider outside any transaction."""
    claimable = [GrantStatus.SENT, GrantStatus.FAILED] if retry else [GrantStatus.APPROVED]
    with transaction.atomic():
        claimed = CompensationGrant.objects.filter(pk=grant.pk, status__in=claimable).update(
            status=GrantStatus.SENT,
            sent_at=timezone.now(),
            attempts=F("attempts") + 1,
            provider=payments.get_provider(grant.provider or None).name,
        )
        if not claimed:
            raise Conflict(_("Only an approved payout can be sent, and only once at a time."), code="compensation.busy")
        grant.refresh_from_db()
        data = {"payout": grant.payout_number, "amount": grant.amount, "attempt": grant.attempts}
        _event("case.compensation_sent", grant.case, by, data=data)
    provider = payments.get_provider(grant.provider)
    payment_reference = grant.case.order.payment_reference
    order = payments.RefundOrder(grant.payout_number, payment_reference, grant.amount, grant.currency)
    try:
        result = provider.send_payout(order)
    except payments.ProviderUnavailable:
        log.warning("payout %s: no answer from %s; it stays sent for a retry", grant.payout_number, provider.name)
        return grant
    if result.status == payments.CONFIRMED:
        return _issue(grant, by, reference=result.reference, claimable=[GrantStatus.SENT])
    if result.status == payments.FAILED:
        return _fail(grant, by, result.message)
    return grant  # pending: finance pays it and marks it paid (manual provider)


def _issue(grant: CompensationGrant, by: Any, *, reference: str, claimable: list[str]) -> CompensationGrant:
    with transaction.atomic():
        case = _lock(grant.case)
        now = timezone.now()
        claimed = CompensationGrant.objects.filter(pk=grant.pk, status__in=claimable).update(
            status=GrantStatus.ISSUED, issued_at=now, reference=reference[:100]
        )
        grant.refresh_from_db()
        if not claimed:
            if grant.status == GrantStatus.ISSUED and grant.kind.pays_money:
                return grant  # another attempt confirmed it first
            raise Conflict(
                _("This grant is %(status)s; it cannot be issued now.") % {"status": grant.get_status_display()},
                code="compensation.not_issuable",
            )
        case_before, case_after = _complete_if_done(case)
        after = {**_grant_facts(grant), "case_state": case_after}
        _event("case.compensation_issued", case, by, before={"case_state": case_before}, after=after)
    return grant


def _fail(grant: CompensationGrant, by: Any, message: str) -> CompensationGrant:
    with transaction.atomic():
        claimed = CompensationGrant.objects.filter(pk=grant.pk, status=GrantStatus.SENT).update(
            status=GrantStatus.FAILED
        )
        grant.refresh_from_db()
        if claimed:
            data = {"payout": grant.payout_number, "message": message}
            _event("case.compensation_failed", grant.case, by, data=data)
    return grant


def _complete_if_done(case: AfterSalesCase) -> tuple[str, str]:
    """A compensation case completes when each of its grants is issued or cancelled, one at least issued."""
    before = case.state
    if case.case_type != CaseType.COMPENSATION or case.state != CaseState.APPROVED:
        return before, before
    statuses = set(case.compensations.values_list("status", flat=True))
    if statuses <= set(FINISHED_GRANTS) and GrantStatus.ISSUED in statuses:
        machines.step(case, "complete")
        case.close_reason, case.closed_at = "compensated", timezone.now()
        _save(case, case.closed_at)
        services_confirm.resume_after_cases([case.order_id], by=None)
    return before, case.state


# --- Shipping insurance (运费险) -------------------------------------------------------------------
def file_insurance_claim(case: AfterSalesCase, *, by: Any) -> ShippingInsuranceClaim:
    """Claim the insurer's fixed payout for the return postage of an insured order the customer shipped."""
    authorize(by, "case.handle", subject=case)
    with transaction.atomic():
        case = _lock(case)
        order = Order.objects.select_for_update().get(pk=case.order_id)
        _check_claimable(case, order)
        try:
            with transaction.atomic():
                claim = ShippingInsuranceClaim.objects.create(
                    case=case,
                    order=order,
                    payment_reference=order.payment_reference,
                    amount=case.policy_version.shipping_insurance_payout,
                    currency=case.currency,
                    carrier=case.return_carrier,
                    tracking_number=case.return_tracking_number,
                    filed_at=timezone.now(),
                )
        except IntegrityError:  # the unique constraint is the last word when two requests race
            raise _already_claimed(order) from None
        _event("case.insurance_claim_filed", case, by, after=_claim_facts(claim))
    return claim


def _check_claimable(case: AfterSalesCase, order: Order) -> None:
    if case.case_type not in INSURED_RETURNS or case.return_shipping_payer != Payer.INSURANCE:
        raise ValidationFailed(
            _("Only the return of an insured order whose postage the insurance pays can be claimed."),
            code="insurance.not_insured",
        )
    if not case.return_tracking_number:
        raise ValidationFailed(
            _("The customer has not shipped the return yet (no tracking number)."), code="insurance.not_shipped"
        )
    if case.policy_version.shipping_insurance_payout <= 0:
        raise ValidationFailed(_("The policy sets no shipping-insurance payout."), code="insurance.no_payout")
    if ShippingInsuranceClaim.objects.filter(order=order).exists():
        raise _already_claimed(order)


def _already_claimed(order: Order) -> Conflict:
    return Conflict(
        _("The shipping insurance of order %(order)s has already been claimed: one claim per payment.")
        % {"order": order.number},
        code="insurance.already_claimed",
    )


def record_insurance_payout(claim: ShippingInsuranceClaim, *, by: Any, reference: str) -> ShippingInsuranceClaim:
    """The insurer paid the claim (its reference is recorded)."""
    reference = (reference or "").strip()
    if not reference:
        raise ValidationFailed(_("Enter the insurer's reference."), code="insurance.no_reference", field="reference")
    return _settle(claim, by, ClaimStatus.PAID, reference=reference)


def reject_insurance_claim(claim: ShippingInsuranceClaim, *, by: Any, reason: str) -> ShippingInsuranceClaim:
    """The insurer refused the claim (its reason is recorded)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the insurer refused."), code="insurance.no_reason", field="reason")
    return _settle(claim, by, ClaimStatus.REJECTED, note=reason)


def _settle(
    claim: ShippingInsuranceClaim, by: Any, status: str, *, reference: str = "", note: str = ""
) -> ShippingInsuranceClaim:
    authorize(by, "refund.execute", subject=claim.case)
    with transaction.atomic():
        case = _lock(claim.case)
        now = timezone.now()
        updated = ShippingInsuranceClaim.objects.filter(pk=claim.pk, status=ClaimStatus.FILED).update(
            status=status, reference=reference[:100], note=note[:300], settled_at=now
        )
        claim.refresh_from_db()
        if not updated:
            raise Conflict(
                _("This claim is already %(status)s.") % {"status": claim.get_status_display()},
                code="insurance.already_settled",
            )
        verb = "case.insurance_claim_paid" if status == ClaimStatus.PAID else "case.insurance_claim_rejected"
        _event(verb, case, by, before={"claim": ClaimStatus.FILED}, after=_claim_facts(claim))
    return claim


# --- Helpers --------------------------------------------------------------------------------------------
def _kind(kind: CompensationKind | str) -> CompensationKind:
    if isinstance(kind, CompensationKind):
        found = CompensationKind.objects.filter(pk=kind.pk, active=True).first()
    else:
        found = CompensationKind.objects.filter(code=kind, active=True).first()
    if found is None:
        raise ValidationFailed(_("Choose a kind of compensation from the catalogue."), code="compensation.bad_kind")
    return found


def _claim(grant: CompensationGrant, claimable: list[str], status: str) -> CompensationGrant:
    """Move the grant from one of `claimable` to `status` (one row updated = this request owns the step)."""
    if not CompensationGrant.objects.filter(pk=grant.pk, status__in=claimable).update(status=status):
        grant.refresh_from_db()
        raise Conflict(
            _("This grant is %(status)s; that step is not possible from there.")
            % {"status": grant.get_status_display()},
            code="compensation.illegal_step",
        )
    grant.refresh_from_db()
    return grant


def _grant_facts(grant: CompensationGrant) -> dict[str, Any]:
    return {
        "grant": grant.payout_number,
        "kind": grant.kind.code,
        "amount": grant.amount,
        "unit": grant.kind.unit,
        "status": grant.status,
        "source": grant.source,
        "reference": grant.reference or None,
    }


def _claim_facts(claim: ShippingInsuranceClaim) -> dict[str, Any]:
    return {
        "claim": claim.pk,
        "status": claim.status,
        "amount": claim.amount,
        "payment": claim.payment_reference,
        "reference": claim.reference or None,
        "note": claim.note or None,
    }


def _staff(by: Any) -> Any:
    return by if getattr(by, "is_authenticated", False) else None
