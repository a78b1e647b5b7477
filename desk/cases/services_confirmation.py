"""The customer's confirmation of a proposed solution (what, why, amounts, deadlines) before it is executed.

An agent proposes; the customer accepts or rejects in the portal (`by=None`) or on a channel, where
staff record the answer on the customer's behalf (`by=` the staff user). A solution with a fee for
the customer or a process change needs a written confirmation: an answer in writing (not by phone)
in which the customer typed their name, "同意", or the exact fee. Unanswered proposals get a
reminder at half time and expire at their deadline, which closes the case where its workflow allows
(`expire_unconfirmed_proposals`, called by the case sweep).

Services that carry out a solution with a fee the customer pays check the accepted, written answer
first (`require_accepted_solution`, `require_agreed_fees`: approving a case with a restocking fee,
carrying out a paid repair). A repair fee quote is itself a proposal: answering it takes the repair's
step (`_carry_out`). Proposals, their reminders and quotes reach the customer as notices.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.cases import machines, services
from desk.cases.errors import ConfirmationRequired, ProposalClosed
from desk.cases.models import ZERO, AfterSalesCase, CaseState, CaseType
from desk.core.errors import ValidationFailed
from desk.evidence.models import UNWRITTEN_CHANNELS, ConfirmationChannel, ProposalStatus, SolutionProposal

log = logging.getLogger(__name__)

DEFAULT_RESPONSE_TIME = timedelta(hours=48)
MIN_RESPONSE_TIME = timedelta(hours=1)
AGREEMENT_WORDS = {"同意", "我同意", "agree", "i agree"}
# The case steps that end a case the customer left unanswered, in order of preference.
_CLOSING_STEPS = ("expire", "withdraw")


def propose_solution(
    case: AfterSalesCase,
    *,
    by: Any,
    kind: str,
    summary: str,
    reason: str,
    refund_amount: Decimal = ZERO,
    compensation_amount: Decimal = ZERO,
    fee_amount: Decimal = ZERO,
    process_change: bool = False,
    respond_by: datetime | None = None,
    execute_by: datetime | None = None,
) -> SolutionProposal:
    """Offer the customer a solution; an earlier unanswered proposal is superseded.

    Money promised must be within the proposer's approval limits: nobody offers what they may not approve.
    """
    authorize(by, "case.handle", subject=case)
    if refund_amount > 0:
        authorize(by, "case.approve", amount=refund_amount, subject=case)
    if compensation_amount > 0:
        authorize(by, "compensation.approve", amount=compensation_amount, subject=case)
    now = timezone.now()
    respond_by = respond_by or now + DEFAULT_RESPONSE_TIME
    _check_proposal(kind, summary, reason, (refund_amount, compensation_amount, fee_amount), respond_by, now)
    with transaction.atomic():
        return write_proposal(
            services._lock(case),
            by,
            kind=kind,
            summary=summary,
            reason=reason,
            refund_amount=refund_amount,
            compensation_amount=compensation_amount,
            fee_amount=fee_amount,
            process_change=process_change,
            respond_by=respond_by,
            execute_by=execute_by,
        )


def write_proposal(
    case: AfterSalesCase, by: Any, *, kind: str, summary: str, reason: str, respond_by: datetime, **terms: Any
) -> SolutionProposal:
    """Inside the case's lock: supersede the open proposal, write this one and its event (which sends it).

    Shared by `propose_solution` and the services that put a quote to the customer (a repair fee), so
    every proposal is sent, reminded, expired and answered the same way.
    """
    now = timezone.now()
    superseded = list(case.proposals.filter(status=ProposalStatus.PROPOSED).values_list("pk", flat=True))
    SolutionProposal.objects.filter(pk__in=superseded).update(status=ProposalStatus.SUPERSEDED, remind_at=None)
    proposal = SolutionProposal.objects.create(
        case=case,
        kind=kind,
        summary=summary.strip(),
        reason=reason.strip(),
        currency=case.currency,
        respond_by=respond_by,
        remind_at=now + (respond_by - now) / 2,
        proposed_by=by if getattr(by, "is_authenticated", False) else None,
        proposed_at=now,
        **terms,
    )
    data = {**_terms(proposal), "superseded": superseded}
    services._event("case.solution_proposed", case, by, after={"proposal": proposal.pk}, data=data)
    return proposal


def _check_proposal(
    kind: str, summary: str, reason: str, amounts: tuple[Decimal, ...], respond_by: datetime, now: datetime
) -> None:
    if kind not in CaseType.values:
        raise ValidationFailed(_("Choose the kind of solution."), code="case.bad_solution", field="kind")
    if not summary.strip():
        raise ValidationFailed(_("Say what the solution is."), code="case.bad_solution", field="summary")
    if not reason.strip():
        raise ValidationFailed(_("Say why this solution is proposed."), code="case.bad_solution", field="reason")
    if any(amount < 0 for amount in amounts):
        raise ValidationFailed(_("Amounts cannot be negative."), code="case.bad_solution")
    if respond_by < now + MIN_RESPONSE_TIME:
        raise ValidationFailed(
            _("Give the customer at least an hour to answer."), code="case.bad_solution", field="respond_by"
        )


def accept_solution(
    proposal: SolutionProposal, *, channel: str, confirmation_text: str = "", by: Any = None
) -> SolutionProposal:
    """The customer accepts (in the portal, or on a channel where staff record it for them).

    Staff record an answer only by naming the channel it came on and, for fees, the customer's own
    written words; accepting a repair fee quote moves the repair on (`_carry_out`).
    """
    if by is not None:
        authorize(by, "case.handle", subject=proposal.case)
    channel = _check_channel(channel, by)
    text = " ".join((confirmation_text or "").split())[:200]
    if proposal.needs_written_confirmation:
        _check_written(proposal, channel, text)
    return _answer(proposal, ProposalStatus.ACCEPTED, by, channel=channel, confirmation_text=text)


def reject_solution(proposal: SolutionProposal, *, channel: str, reason: str = "", by: Any = None) -> SolutionProposal:
    """The customer says no (and maybe why); the agent proposes something else or the case goes on."""
    if by is not None:
        authorize(by, "case.handle", subject=proposal.case)
    channel = _check_channel(channel, by)
    return _answer(proposal, ProposalStatus.REJECTED, by, channel=channel, response_note=(reason or "").strip())


def _check_channel(channel: str, by: Any) -> str:
    if channel not in ConfirmationChannel.values:
        raise ValidationFailed(_("Say where the customer answered."), code="case.bad_channel", field="channel")
    if by is not None and channel == ConfirmationChannel.PORTAL:  # the portal records the customer's own answer
        raise ValidationFailed(
            _("Staff record an answer the customer gave on a channel: choose that channel, not the portal."),
            code="case.bad_channel",
            field="channel",
        )
    return channel


def _check_written(proposal: SolutionProposal, channel: str, text: str) -> None:
    """Fees or process changes: an answer in writing, in which the customer typed their name, 同意 or the fee."""
    facts = {"fee": proposal.fee_amount, "currency": proposal.currency}
    if channel in UNWRITTEN_CHANNELS:
        raise ConfirmationRequired(
            _(
                "This solution involves a fee (%(fee)s %(currency)s) or a process change: it must be confirmed "
                "in writing (portal, email or message), not by phone."
            )
            % facts,
            field="channel",
        )
    if not _is_written_agreement(proposal, text):
        raise ConfirmationRequired(
            _(
                "This solution involves a fee (%(fee)s %(currency)s) or a process change: to confirm, "
                "type your full name, 同意, or the fee amount."
            )
            % facts,
            field="confirmation_text",
        )


def _is_written_agreement(proposal: SolutionProposal, text: str) -> bool:
    if not text:
        return False
    if text.casefold() in AGREEMENT_WORDS or text == " ".join(proposal.case.customer.name.split()):
        return True
    try:
        return proposal.fee_amount > 0 and Decimal(text.removeprefix("¥").replace(",", "")) == proposal.fee_amount
    except InvalidOperation:
        return False


def _answer(proposal: SolutionProposal, status: str, by: Any, **fields: Any) -> SolutionProposal:
    """Claim the open proposal (a conditional update: the expiry may be racing us) and record the answer."""
    now = timezone.now()
    with transaction.atomic():
        case = services._lock(proposal.case)
        claimed = SolutionProposal.objects.filter(
            pk=proposal.pk, status=ProposalStatus.PROPOSED, respond_by__gt=now
        ).update(status=status, responded_at=now, remind_at=None, recorded_by=by, **fields)
        proposal.refresh_from_db()
        if not claimed:
            raise ProposalClosed(_("This proposal is no longer open (%(status)s).") % {"status": _status(proposal)})
        verb = "case.solution_accepted" if status == ProposalStatus.ACCEPTED else "case.solution_rejected"
        data = {"proposal": proposal.pk, "by_customer": by is None, **fields}
        services._event(
            verb, case, by, before={"proposal_status": "proposed"}, after={"proposal_status": status}, data=data
        )
        _carry_out(case, proposal, by)
    return proposal


def _carry_out(case: AfterSalesCase, proposal: SolutionProposal, by: Any) -> None:
    """Inside the answer's transaction: an answer that is itself a workflow step takes that step.

    A repair fee quote is answered here, so the fee is accepted only with the channel and the written
    confirmation recorded on its proposal: accepted → the repair goes ahead; rejected or expired → the
    unit goes back unrepaired.
    """
    if is_repair_quote(case, proposal):
        from desk.cases import services_repair  # it builds on this module

        services_repair.answer_fee_quote(case, proposal, by)


def is_repair_quote(case: AfterSalesCase, proposal: SolutionProposal) -> bool:
    """A repair proposal with a fee on a repair waiting for the customer's answer to its quote."""
    return (
        case.case_type == CaseType.REPAIR
        and case.state == CaseState.QUOTED
        and proposal.kind == CaseType.REPAIR
        and proposal.fee_amount > 0
    )


def _status(proposal: SolutionProposal) -> str:
    if proposal.status == ProposalStatus.PROPOSED:  # still open in the table, but its deadline has passed
        return str(ProposalStatus.EXPIRED.label)
    return str(proposal.get_status_display())


def accepted_solution(case: AfterSalesCase) -> SolutionProposal | None:
    return case.proposals.filter(status=ProposalStatus.ACCEPTED).order_by("-responded_at", "-pk").first()


def require_accepted_solution(case: AfterSalesCase, kind: str, *, fee: Decimal = ZERO) -> SolutionProposal:
    """For services that execute a solution: the customer must have accepted one of this kind, and,
    when the customer pays a fee, one stating exactly that fee (accepted in writing, `_check_written`)."""
    accepted = accepted_solution(case)
    if accepted is None or accepted.kind != kind:
        raise ConfirmationRequired(
            _("The customer has not accepted this solution yet; send a proposal and wait for the answer."),
            code="case.not_confirmed",
        )
    if fee > 0 and (accepted.fee_amount != fee or not accepted.confirmation_text):
        raise ConfirmationRequired(
            _(
                "The customer has not confirmed the fee of %(fee)s %(currency)s in writing; propose the "
                "solution with this fee and wait for the answer."
            )
            % {"fee": fee, "currency": case.currency},
            code="case.fee_not_confirmed",
        )
    return accepted


def require_agreed_fees(case: AfterSalesCase) -> SolutionProposal | None:
    """Before a solution with a fee the customer pays is carried out (a restocking fee taken off a
    no-reason refund): the customer accepted it, in writing, with that fee. Nothing to agree: None."""
    if case.restocking_fee <= 0:
        return None
    return require_accepted_solution(case, case.case_type, fee=case.restocking_fee)


def _terms(proposal: SolutionProposal) -> dict[str, Any]:
    return {
        "proposal": proposal.pk,
        "kind": proposal.kind,
        "summary": proposal.summary,
        "reason": proposal.reason,
        "currency": proposal.currency,
        "refund_amount": proposal.refund_amount,
        "compensation_amount": proposal.compensation_amount,
        "fee_amount": proposal.fee_amount,
        "process_change": proposal.process_change,
        "respond_by": proposal.respond_by,
        "execute_by": proposal.execute_by,
    }


# --- The timer: remind, then expire -------------------------------------------------------------
class ProposalSweepResult(TypedDict):
    reminded: int
    expired: int
    cases_closed: int


def expire_unconfirmed_proposals(now: datetime | None = None) -> ProposalSweepResult:
    """Remind the customer at half time, expire at the deadline (closing the case where its workflow allows).

    Each proposal is claimed with a conditional update in the transaction of its action (one row
    updated = this worker owns it), so a reminder or an expiry happens once even with two sweeps.
    """
    now = now or timezone.now()
    result = ProposalSweepResult(reminded=0, expired=0, cases_closed=0)
    due = SolutionProposal.objects.filter(status=ProposalStatus.PROPOSED, remind_at__lte=now, respond_by__gt=now)
    for pk in list(due.values_list("pk", flat=True)):
        result["reminded"] += _remind(pk, now)
    lapsed = SolutionProposal.objects.filter(status=ProposalStatus.PROPOSED, respond_by__lte=now)
    for pk in list(lapsed.values_list("pk", flat=True)):
        expired, closed = _expire(pk, now)
        result["expired"] += expired
        result["cases_closed"] += closed
    return result


def _remind(pk: int, now: datetime) -> int:
    with transaction.atomic():
        if not SolutionProposal.objects.filter(pk=pk, status=ProposalStatus.PROPOSED, remind_at__lte=now).update(
            remind_at=None
        ):
            return 0
        proposal = SolutionProposal.objects.select_related("case__customer").get(pk=pk)
        case = services._lock(proposal.case)
        message = _("Case %(number)s: please accept or reject the proposed solution by %(deadline)s.") % {
            "number": case.number,
            "deadline": timezone.localtime(proposal.respond_by).strftime("%Y-%m-%d %H:%M"),
        }
        data = {**_terms(proposal), "channel": case.customer.preferred_channel, "message": message}
        services._event("case.solution_reminder", case, None, data=data)  # its notice goes to the customer
    return 1


def _expire(pk: int, now: datetime) -> tuple[int, int]:
    try:
        with transaction.atomic():
            if not SolutionProposal.objects.filter(pk=pk, status=ProposalStatus.PROPOSED, respond_by__lte=now).update(
                status=ProposalStatus.EXPIRED, remind_at=None, responded_at=now
            ):
                return 0, 0
            proposal = SolutionProposal.objects.get(pk=pk)
            case = services._lock(proposal.case)
            quote = is_repair_quote(case, proposal)  # an unanswered fee: the unit goes back unrepaired
            step = None if quote else next((s for s in _CLOSING_STEPS if s in machines.allowed_events(case)), None)
            message = _("Case %(number)s was closed: the proposed solution was not confirmed in time.") % {
                "number": case.number
            }
            data = {"proposal": pk, "case_closed": step is not None, "channel": case.customer.preferred_channel}
            services._event(
                "case.solution_expired",
                case,
                None,
                before={"proposal_status": "proposed"},
                after={"proposal_status": "expired"},
                data={**data, "message": message if step else ""},
            )
            if step is not None:
                services._close(case, None, step, "unconfirmed")
            if quote:
                _carry_out(case, proposal, None)
    except Exception:  # one broken case must not stop the others; its proposal stays due
        log.exception("proposal sweep: expiry of proposal %s failed", pk)
        return 0, 0
    return 1, int(step is not None)
