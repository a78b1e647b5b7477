"""The periodic case sweep: act on each due timeout exactly once, set-based where the action is simple.

Deadlines are columns on the case (answer_due_at, ship_due_at, receive_due_at, inspect_due_at), so
whatever came due while no worker ran is still due at the next run. A case is claimed with a
conditional update that clears its deadline (`... WHERE state = 'requested' AND answer_due_at <= now`):
a row this worker updated is its own, a row another worker (or the shop, just in time) updated
first no longer matches and is skipped. The claim and the action share one transaction, so a failed
action puts the deadline back for the next run.

Simple actions (an escalation event and staff notifications, closing an unshipped return) are done
for a batch of cases at once: one `UPDATE ... RETURNING` claims the batch, one multi-row INSERT
writes its events, one its notifications. Actions that call the payment provider (auto-approval
with its refund, the refund of a return the shop never confirmed) stay one case per transaction,
the refund sent after its commit.

- The shop did not answer: a refund-only request the policy allows (and under the policy's
  auto-approve cap, if any) is approved and refunded; anything else is escalated.
- The customer did not ship the return: the case closes, with a notice to the customer.
- The shop did not confirm receipt of a shipped return: the refund is made automatically.
- The warehouse did not inspect a received return in time: escalated.
- A refund sent to an automatic provider without an answer is sent again (same refund number).
- The other workflows' timeouts (ship-first exchanges, repair diagnoses, solution proposals, result
  notices) run from here too, each with its own claims.

Escalations notify the active supervisors: one notification per case, or one summary per
supervisor when a batch escalates many cases at once (after an outage nobody reads 10,000 lines).
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.models import Notification, Role
from desk.cases import services
from desk.cases.models import CASE_PREFIX, AfterSalesCase, CaseState, CaseType, Refund, RefundStatus
from desk.cases.notices import sweep_result_notices
from desk.cases.policy import ALLOWED
from desk.cases.services_confirmation import expire_unconfirmed_proposals
from desk.core.bulk import id_list, insert_rows
from desk.core.errors import DomainError
from desk.core.events import EventRow, record_event, record_event_rows
from desk.customers.models import Customer
from desk.orders import services_confirm

log = logging.getLogger(__name__)
User = get_user_model()

STALE_REFUND_AFTER = timedelta(minutes=10)  # an automatic provider answers in seconds
SHIP_STATES = [CaseState.APPROVED, CaseState.AWAITING_RETURN]
BATCH_SIZE = 10_000  # cases per transaction: each one rewrites the index pages its events touched
DIGEST_AFTER = 20  # more escalations of one kind in a batch: one summary notification per supervisor
NOTE_FIELDS = ["user_id", "verb", "text", "link", "event_id"]
SUBJECT_TYPE = "aftersalescase"
BULK_EXPIRY_TYPES = [CaseType.RETURN_REFUND]  # hold no replacement stock: closing them is a plain update


class SweepResult(TypedDict):
    auto_approved: int
    escalated: int  # unanswered requests and unconfirmed receipts escalated
    expired: int
    auto_refunded: int
    refunds_retried: int
    inspections_overdue: int  # received returns the warehouse did not inspect in time
    exchange_returns_overdue: int  # ship-first exchanges whose return did not come
    diagnoses_overdue: int  # repairs not diagnosed in time
    proposals_reminded: int
    proposals_expired: int
    notices_sent: int
    notices_failed: int
    notices_overdue: int  # result notices undelivered after 24 h
    seconds: float


def run(now: datetime | None = None) -> SweepResult:
    with _collector_paused():
        return _run(now)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during the sweep: a mass sweep allocates a few hundred thousand
    rows, tuples and dicts that live until their batch ends, and the collector walked them again and
    again. Reference counting still frees them; the collector catches up once it runs again."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _run(now: datetime | None) -> SweepResult:
    started = time.perf_counter()
    now = now or timezone.now()
    staff = _Supervisors()
    answers = _answer_timeouts(now, staff)
    expired = _expire_unshipped(now)
    refunded = _sweep(
        AfterSalesCase.objects.filter(state=CaseState.RETURNING, receive_due_at__lte=now),
        "receive_due_at",
        lambda case: _auto_refund(case, staff),
    )
    inspections = _escalate_due(CaseState.RECEIVED, "inspect_due_at", "case.inspection_overdue", now, staff)
    proposals = expire_unconfirmed_proposals(now)
    notices = sweep_result_notices(now)
    result = SweepResult(
        auto_approved=answers["auto_approved"],
        escalated=answers["escalated"] + refunded["escalated"],
        expired=expired,
        auto_refunded=refunded["auto_refunded"],
        refunds_retried=_retry_stale_refunds(now),
        inspections_overdue=inspections,
        exchange_returns_overdue=_escalate_due(*EXCHANGE_RETURN_OVERDUE, now, staff),
        diagnoses_overdue=_escalate_due(*DIAGNOSIS_OVERDUE, now, staff),
        proposals_reminded=proposals["reminded"],
        proposals_expired=proposals["expired"],
        notices_sent=notices["sent"],
        notices_failed=notices["failed"],
        notices_overdue=notices["escalated"],
        seconds=round(time.perf_counter() - started, 3),
    )
    log.info("case sweep at %s: %s", now.isoformat(), result)
    return result


# --- The shop did not answer -----------------------------------------------------------------------
def _answer_timeouts(now: datetime, staff: _Supervisors) -> Counter[str]:
    """Split the due requests: those the policy lets the sweep approve (one by one, a refund each) and
    the rest, escalated in bulk."""
    due = AfterSalesCase.objects.filter(state=CaseState.REQUESTED, answer_due_at__lte=now)
    allowed = (
        due.filter(case_type=CaseType.REFUND_ONLY, decision__outcome=ALLOWED)
        .order_by("pk")
        .values_list("pk", "refund_amount", "policy_version__auto_approve_max_amount")
    )
    auto = [pk for pk, amount, cap in allowed if cap is None or amount <= cap]
    chosen = set(auto)
    escalate = [pk for pk in _due_ids(due) if pk not in chosen]
    done = _sweep(due.filter(pk__in=auto), "answer_due_at", lambda case: _answer(case, staff)) if auto else Counter()
    done["escalated"] += _escalate_ids(
        escalate, CaseState.REQUESTED, "answer_due_at", "case.answer_overdue", now, staff
    )
    return done


def _answer(case: AfterSalesCase, staff: _Supervisors) -> tuple[str, Refund | None]:
    """Auto-approve and refund; escalate instead when the refund is refused (or the policy moved)."""
    if not _may_auto_approve(case):
        return _escalate(case, "case.answer_overdue", staff)
    try:
        with transaction.atomic():  # approve and refund together, or neither
            services._approve(case, None, auto=True)
            refund = services._create_refund(case, None, None, auto=True)
    except DomainError as refused:  # e.g. the payment cannot cover it: a person must look
        return _escalate(services._lock(case), "case.answer_overdue", staff, refused)
    return "auto_approved", refund


def _may_auto_approve(case: AfterSalesCase) -> bool:
    cap = case.policy_version.auto_approve_max_amount
    return (
        case.case_type == CaseType.REFUND_ONLY
        and case.decision.get("outcome") == ALLOWED
        and (cap is None or case.refund_amount <= cap)
    )


# --- The shop did not confirm receipt ----------------------------------------------------------------
def _auto_refund(case: AfterSalesCase, staff: _Supervisors) -> tuple[str, Refund | None]:
    """The shop never confirmed receipt of a shipped return: refund it (or escalate if the payment cannot)."""
    try:
        with transaction.atomic():
            return "auto_refunded", services._create_refund(case, None, None, auto=True)
    except DomainError as refused:
        return _escalate(services._lock(case), "case.receipt_overdue", staff, refused)


# --- One case per transaction: the actions that pay ----------------------------------------------------
Action = Callable[[AfterSalesCase], tuple[str, Refund | None]]


def _sweep(due: QuerySet[AfterSalesCase], column: str, act: Action) -> Counter[str]:
    """Claim each due case (clear its deadline where it is still due), then act on it in the same transaction.

    `act` returns what it did (counted) and maybe a refund, sent to the provider after commit.
    """
    done: Counter[str] = Counter()
    for pk in list(due.order_by("pk").values_list("pk", flat=True)):  # oldest first: they were asked first
        try:
            with transaction.atomic():
                if not due.filter(pk=pk).update(**{column: None}):
                    continue  # another worker claimed it, or the case moved on in time
                outcome, refund = act(services._lock(AfterSalesCase(pk=pk)))
        except Exception:  # one broken case must not stop the others; its deadline stays due
            log.exception("case sweep: %s timeout failed for case %s", column, pk)
            continue
        if refund is not None:
            services._pay(refund, None)  # written claimed as sent: the provider is called now
        done[outcome] += 1
    return done


def _escalate(
    case: AfterSalesCase, verb: str, staff: _Supervisors, refused: DomainError | None = None
) -> tuple[str, None]:
    """One case, in the caller's transaction: the event and the supervisors' notifications."""
    data = {"escalated": True, "auto_action_refused": refused.code if refused else None}
    event = record_event(verb, subject=case, customer_id=case.customer_id, ticket_id=case.ticket_id, data=data)
    insert_rows(Notification, NOTE_FIELDS, staff.notes(verb, [(case.pk, event.pk)]))
    return "escalated", None


# --- Set-based: claim a batch, write its events and notifications ----------------------------------------
# (state, deadline column, event verb) of the escalations services also run on their own.
EXCHANGE_RETURN_OVERDUE = (CaseState.REPLACEMENT_SHIPPED, "return_due_at", "case.return_overdue")
DIAGNOSIS_OVERDUE = (CaseState.DIAGNOSING, "diagnosis_due_at", "case.diagnosis_overdue")


def escalate_overdue(timer: tuple[str, str, str], now: datetime | None = None) -> int:
    """One timer's escalations outside a full sweep (each case once: event, then supervisors notified)."""
    return _escalate_due(*timer, now or timezone.now(), _Supervisors())


def _escalate_due(state: str, column: str, verb: str, now: datetime, staff: _Supervisors) -> int:
    due = AfterSalesCase.objects.filter(state=state, **{f"{column}__lte": now})
    return _escalate_ids(_due_ids(due), state, column, verb, now, staff)


def _due_ids(due: QuerySet[AfterSalesCase]) -> list[int]:
    """The due cases' ids, oldest first, read through the (state, deadline) index: sorted here, as an
    ORDER BY id made SQLite walk every case of the state (or the whole table) in id order instead."""
    return sorted(due.order_by().values_list("pk", flat=True))


def _escalate_ids(ids: Sequence[int], state: str, column: str, verb: str, now: datetime, staff: _Supervisors) -> int:
    """Escalate the cases `ids` (in `state`) whose deadline `column` is still due: a batch per transaction."""
    escalated = 0
    for start in range(0, len(ids), BATCH_SIZE):
        with transaction.atomic():
            claimed = _claim(ids[start : start + BATCH_SIZE], [state], column, now)
            created = timezone.now()
            # One before/after/data object each for the whole batch: serialised once, allocated once.
            before: dict[str, Any] = {}
            after: dict[str, Any] = {}
            data = {"escalated": True, "auto_action_refused": None}
            events = record_event_rows([_case_row(verb, row, created, before, after, data) for row in claimed])
            pairs = [(row[0], event.pk) for row, event in zip(claimed, events, strict=True)]
            insert_rows(Notification, NOTE_FIELDS, staff.notes(verb, pairs))
        escalated += len(claimed)
    return escalated


def _claim(
    ids: Sequence[int], states: Sequence[str], column: str, now: datetime, **also: Any
) -> list[tuple[int, int, int | None]]:
    """The bulk form of `filter(pk=..., state__in=states, <column>__lte=now).update(<column>=None, **also)`:
    one `UPDATE ... RETURNING` (PostgreSQL; SQLite 3.35+) that repeats the conditions in its WHERE, so a
    row another worker updated first no longer matches and each row has one owner.
    Returns (id, customer_id, ticket_id) of the rows this worker claimed."""
    if not ids:
        return []
    qn = connection.ops.quote_name
    stamp = connection.ops.adapt_datetimefield_value(now)
    sets = [f"{qn(column)} = NULL"] + [f"{qn(name)} = %s" for name in also]
    values = [connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v for v in also.values()]
    among, id_params = _among(ids)
    sql = (
        f"UPDATE {qn(AfterSalesCase._meta.db_table)} SET {', '.join(sets)}"  # noqa: S608  names are ours, values bound
        f" WHERE {qn('id')} {among}"
        f" AND {qn('state')} IN ({', '.join(['%s'] * len(states))}) AND {qn(column)} <= %s"
        f" RETURNING {qn('id')}, {qn('customer_id')}, {qn('ticket_id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *id_params, *states, stamp])
        return sorted(cursor.fetchall())


def _among(ids: Sequence[int]) -> tuple[str, list[Any]]:
    """`IN` the ids as one bound parameter (a JSON array on SQLite, an array on PostgreSQL): a
    batch of 10,000 ids as markers meant 10,000 values to bind and a statement to rewrite."""
    values = [int(pk) for pk in ids]
    if connection.vendor == "sqlite":
        return "IN (SELECT value FROM json_each(%s))", [json.dumps(values)]
    if connection.vendor == "postgresql":
        # A join with the unnested array, not `= ANY(array)`: with the latter PostgreSQL read every due
        # case through the deadline index and searched the array for each (4–8 s a statement).
        return "IN (SELECT unnest(%s::bigint[]))", [values]
    return f"IN ({', '.join(['%s'] * len(values))})", values


def _case_row(
    verb: str,
    row: tuple[int, int, int | None],
    created_at: datetime,
    before: dict[str, Any],
    after: dict[str, Any],
    data: dict[str, Any],
) -> EventRow:
    """A system event of a claimed case as a plain row (`EVENT_FIELDS` order): at 100,000 events a
    sweep, building model instances first was a third of the escalation's time."""
    pk, customer_id, ticket_id = row
    return (created_at, None, "system", verb, SUBJECT_TYPE, pk, customer_id, ticket_id, before, after, data)


# --- The customer did not ship the return ------------------------------------------------------------------
def _expire_unshipped(now: datetime) -> int:
    """Close each approved return not shipped in time, with a notice; plain returns in bulk, the rest
    (which may hold replacement stock to release) one by one."""
    due = AfterSalesCase.objects.filter(state__in=SHIP_STATES, ship_due_at__lte=now)
    expired = 0
    one_by_one: list[int] = []
    for state in SHIP_STATES:
        # (id, type) through the (state, ship_due_at) index; an ORDER BY id, or a NOT IN on the type,
        # made SQLite read every case instead (0.3 s a minute at 1,000,000 cases, with nothing due).
        rows = sorted(due.filter(state=state).order_by().values_list("pk", "case_type"))
        ids = [pk for pk, case_type in rows if case_type in BULK_EXPIRY_TYPES]
        one_by_one += [pk for pk, case_type in rows if case_type not in BULK_EXPIRY_TYPES]
        for start in range(0, len(ids), BATCH_SIZE):
            expired += _expire_batch(ids[start : start + BATCH_SIZE], state, now)
    if one_by_one:
        others = _sweep(due.filter(pk__in=one_by_one), "ship_due_at", _expire)
        expired += others["expired"]
    return expired


def _expire_batch(ids: Sequence[int], state: str, now: datetime) -> int:
    with transaction.atomic():
        stamp = timezone.now()
        claimed = _claim(
            ids,
            [state],
            "ship_due_at",
            now,
            state=CaseState.CLOSED.value,
            close_reason="expired",
            closed_at=stamp,
            updated_at=stamp,
            answer_due_at=None,
            receive_due_at=None,
            refund_due_at=None,
            return_due_at=None,
            inspect_due_at=None,
        )
        if not claimed:
            return 0
        channels = dict(
            Customer.objects.filter(pk__in=id_list({row[1] for row in claimed})).values_list("pk", "preferred_channel")
        )
        message = _("Case %(number)s was closed: the return was not shipped in time.")
        # What is the same for the whole batch is one object each: serialised once, allocated once.
        before, after, reason = {"state": state}, {"state": CaseState.CLOSED.value}, {"reason": "expired"}
        unchanged: dict[str, Any] = {}  # the notice events' before
        nothing: dict[str, Any] = {}  # and after
        rows: list[EventRow] = []
        for row in claimed:
            rows.append(_case_row("case.expire", row, stamp, before, after, reason))
            text = message % {"number": _number(row[0])}
            data = {"kind": "auto_closed", "channel": channels.get(row[1], ""), "message": text}
            rows.append(_case_row("case.notice", row, stamp, unchanged, nothing, data))
        record_event_rows(rows)
        closed = AfterSalesCase.objects.filter(pk__in=id_list(row[0] for row in claimed))
        orders = closed.values_list("order_id", flat=True)
        services_confirm.resume_after_cases(set(orders), by=None)
    return len(claimed)


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


# --- Refunds without an answer ---------------------------------------------------------------------------
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


# --- Who hears of escalations ------------------------------------------------------------------------------
def _number(pk: int) -> str:
    return f"{CASE_PREFIX}{pk:07d}"


class _Supervisors:
    """The active supervisors, read once per sweep, and the notification texts, translated once."""

    def __init__(self) -> None:
        self._ids: list[int] | None = None
        self.texts = {
            "case.answer_overdue": _("%(number)s: the request was not answered in time"),
            "case.receipt_overdue": _("%(number)s: the returned parcel was not confirmed as received in time"),
            "case.inspection_overdue": _("%(number)s: the warehouse did not inspect the return in time"),
            "case.return_overdue": _("%(number)s: the customer did not send back the exchanged goods in time"),
            "case.diagnosis_overdue": _("%(number)s: tech support did not diagnose the unit within 24 hours"),
        }
        self.digests = {
            "case.answer_overdue": _("%(count)s after-sales requests were not answered in time"),
            "case.receipt_overdue": _("%(count)s returned parcels were not confirmed as received in time"),
            "case.inspection_overdue": _("%(count)s returns were not inspected in time"),
            "case.return_overdue": _("%(count)s ship-first exchanges were not sent back in time"),
            "case.diagnosis_overdue": _("%(count)s repairs were not diagnosed in time"),
        }

    @property
    def ids(self) -> list[int]:
        if self._ids is None:
            people = User.objects.filter(is_active=True, staff__role=Role.SUPERVISOR).order_by("pk")
            self._ids = list(people.values_list("pk", flat=True))
        return self._ids

    def notes(self, verb: str, cases: Iterable[tuple[int, int]]) -> list[tuple[Any, ...]]:
        """Notification rows for (case id, event id) pairs: one per case and supervisor, or one summary each."""
        cases = list(cases)
        if not cases or not self.ids:
            return []
        if len(cases) > DIGEST_AFTER:
            text = self.digests[verb] % {"count": len(cases)}
            return [(user, verb, text[:500], "/cases/", cases[0][1]) for user in self.ids]
        return [
            (user, verb, (self.texts[verb] % {"number": _number(pk)})[:500], f"/cases/{_number(pk)}/", event)
            for pk, event in cases
            for user in self.ids
        ]
