"""The periodic case sweep: act on each due timeout exactly once.

Deadlines are columns on the case (answer_due_at, ship_due_at, receive_due_at), so whatever came
due while no worker ran is still due at the next run. Each case is claimed with a conditional
update that clears its deadline (`... WHERE state = 'requested' AND answer_due_at <= now`): one
row updated means this worker owns the timeout; zero means another worker (or the shop, just in
time) got there first. The claim and the action share one transaction, so a failed action puts
the deadline back for the next run.

- The shop did not answer: a refund-only request the policy allows (and under the policy's
  auto-approve cap, if any) is approved and refunded; anything else is escalated.
- The customer did not ship the return: the case closes, with a notice to the customer.
- The shop did not confirm receipt of a shipped return: the refund is made automatically.
- A refund sent to an automatic provider without an answer is sent again (same refund number).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypedDict

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.cases import services
from desk.cases.models import AfterSalesCase, CaseState, CaseType, Refund, RefundStatus
from desk.cases.policy import ALLOWED
from desk.core.errors import DomainError
from desk.core.events import record_event

log = logging.getLogger(__name__)

STALE_REFUND_AFTER = timedelta(minutes=10)  # an automatic provider answers in seconds
SHIP_STATES = [CaseState.APPROVED, CaseState.AWAITING_RETURN]


class SweepResult(TypedDict):
    auto_approved: int
    escalated: int
    expired: int
    auto_refunded: int
    refunds_retried: int
    seconds: float


def run(now: datetime | None = None) -> SweepResult:
    started = time.perf_counter()
    now = now or timezone.now()
    answers = _sweep(
        AfterSalesCase.objects.filter(state=CaseState.REQUESTED, answer_due_at__lte=now), "answer_due_at", _answer
    )
    expired = _sweep(AfterSalesCase.objects.filter(state__in=SHIP_STATES, ship_due_at__lte=now), "ship_due_at", _expire)
    refunded = _sweep(
        AfterSalesCase.objects.filter(state=CaseState.RETURNING, receive_due_at__lte=now),
        "receive_due_at",
        _auto_refund,
    )
    result = SweepResult(
        auto_approved=answers["auto_approved"],
        escalated=answers["escalated"],
        expired=expired["expired"],
        auto_refunded=refunded["auto_refunded"],
        refunds_retried=_retry_stale_refunds(now),
        seconds=round(time.perf_counter() - started, 3),
    )
    log.info("case sweep at %s: %s", now.isoformat(), result)
    return result


Action = Callable[[AfterSalesCase], tuple[str, Refund | None]]


def _sweep(due: QuerySet[AfterSalesCase], column: str, act: Action) -> Counter[str]:
    """Claim each due case (clear its deadline where it is still due), then act on it in the same transaction.

    `act` returns what it did (counted) and maybe a refund, sent to the provider after commit.
    """
    done: Counter[str] = Counter()
    for pk in list(due.values_list("pk", flat=True)):
        try:
            with transaction.atomic():
                if not due.filter(pk=pk).update(**{column: None}):
                    continue  # another worker claimed it, or the case moved on in time
                outcome, refund = act(services._lock(AfterSalesCase(pk=pk)))
        except Exception:  # one broken case must not stop the others; its deadline stays due
            log.exception("case sweep: %s timeout failed for case %s", column, pk)
            continue
        if refund is not None:
            services._send(refund, None)
        done[outcome] += 1
    return done


def _answer(case: AfterSalesCase) -> tuple[str, Refund | None]:
    """The shop did not answer: auto-approve and refund what the policy allows, escalate the rest."""
    if not _may_auto_approve(case):
        return _escalate(case, "case.answer_overdue")
    try:
        with transaction.atomic():  # approve and refund together, or neither
            services._approve(case, None, auto=True)
            refund = services._create_refund(case, None, None, auto=True)
    except DomainError as refused:  # e.g. the payment cannot cover it: a person must look
        return _escalate(services._lock(case), "case.answer_overdue", refused)
    return "auto_approved", refund


def _escalate(case: AfterSalesCase, verb: str, refused: DomainError | None = None) -> tuple[str, None]:
    data = {"escalated": True, "auto_action_refused": refused.code if refused else None}
    services._event(verb, case, None, data=data)
    return "escalated", None


def _may_auto_approve(case: AfterSalesCase) -> bool:
    cap = case.policy_version.auto_approve_max_amount
    return (
        case.case_type == CaseType.REFUND_ONLY
        and case.decision.get("outcome") == ALLOWED
        and (cap is None or case.refund_amount <= cap)
    )


def _expire(case: AfterSalesCase) -> tuple[str, Refund | None]:
    services._close(case, None, "expire", "expired")
    message = _("Case %(number)s was closed: the return was not shipped in time.") % {"number": case.number}
    record_event(
        "case.notice",
        subject=case,
        customer_id=case.customer_id,
        ticket_id=case.ticket_id,
        data={"kind": "auto_closed", "channel": case.customer.preferred_channel, "message": message},
    )
    return "expired", None


def _auto_refund(case: AfterSalesCase) -> tuple[str, Refund | None]:
    """The shop never confirmed receipt of a shipped return: refund it (or escalate if the payment cannot)."""
    try:
        with transaction.atomic():
            return "auto_refunded", services._create_refund(case, None, None, auto=True)
    except DomainError as refused:
        return _escalate(services._lock(case), "case.receipt_overdue", refused)


def _retry_stale_refunds(now: datetime) -> int:
    stale = Refund.objects.filter(status=RefundStatus.SENT, sent_at__lte=now - STALE_REFUND_AFTER).exclude(
        provider="manual"
    )
    retried = 0
    for refund in stale:
        try:
            services.retry_refund(refund, by=None)
        except Exception:
            log.exception("case sweep: retry of refund %s failed", refund.refund_number)
            continue
        retried += 1
    return retried
