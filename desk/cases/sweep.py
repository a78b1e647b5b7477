"""The periodic case sweep: act on each due timeout exactly once, set-based where the action is simple.

Deadlines are columns on the case (answer_due_at, ship_remind_at, ship_due_at, receive_due_at,
inspect_due_at, refund_escalate_at), so whatever came due while no worker ran is still due at the
next run. A case is claimed with a
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
  auto-approve cap, if any) is approved and refunded; a return-and-refund request the policy allows
  is approved and sent the policy's default return address (when the policy has one and auto-approves
  returns); anything else (exchanges, repairs, requests to review) is escalated.
- The customer has not shipped the return and its deadline nears: one reminder notice
  (`PolicyVersion.ship_reminder_days` before the deadline).
- The customer did not ship the return: the case closes, with a notice to the customer.
- The shop did not confirm receipt of a shipped return: the refund is made automatically.
- The warehouse did not inspect a received return in time: escalated.
- The refund was not confirmed by its due date (7 days after the return was received, or after a
  refund without a return started; a refund the provider declined stays due): escalated.
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
from decimal import Decimal
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.models import Notification, Role
from desk.cases import services
from desk.cases.models import (
    CASE_PREFIX,
    AfterSalesCase,
    CaseState,
    CaseType,
    PolicyVersion,
    Refund,
    RefundStatus,
)
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
    ship_reminders: int  # customers reminded to ship their return before it closes
    refunds_overdue: int  # refunds not confirmed by their due date
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
    reminded = _remind_unshipped(now)  # after the expiry: a case closing now needs no reminder
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
        ship_reminders=reminded,
        refunds_overdue=_escalate_due(*REFUND_OVERDUE, now, staff),
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
        due.filter(case_type__in=AUTO_APPROVE_TYPES, decision__outcome=ALLOWED)
        .order_by("pk")
        .values_list("pk", "case_type", "refund_amount", "policy_version_id", "created_at", "answer_due_at")
    )
    rows = list(allowed)
    versions = PolicyVersion.objects.in_bulk({row[3] for row in rows}) if rows else {}
    windows = {
        pk: answer_due - created
        for pk, case_type, amount, version, created, answer_due in rows
        if answer_due is not None and _auto_approvable(case_type, amount, versions[version])  # due: never None
    }
    escalate = [pk for pk in _due_ids(due) if pk not in windows]
    auto = list(windows)

    def act(case: AfterSalesCase) -> tuple[str, Refund | None]:
        return _answer(case, staff, windows.get(case.pk))

    done = _sweep(due.filter(pk__in=auto), "answer_due_at", act) if auto else Counter()
    done["escalated"] += _escalate_ids(
        escalate, CaseState.REQUESTED, "answer_due_at", "case.answer_overdue", now, staff
    )
    return done


# Refund requests, as the marketplace rule says ("a refund request ... is auto-approved"). An exchange
# is not: approving it commits replacement stock, a mode (ship first or not) and maybe another size,
# which a person chooses; repairs and the rest need a person too. They are escalated.
AUTO_APPROVE_TYPES = (CaseType.REFUND_ONLY, CaseType.RETURN_REFUND)


def _answer(case: AfterSalesCase, staff: _Supervisors, window: timedelta | None) -> tuple[str, Refund | None]:
    """Auto-approve and refund (refund only), or approve and send the policy's return address (return and
    refund); escalate instead when the step is refused (or the policy moved)."""
    if not _may_auto_approve(case):
        return _escalate(case, "case.answer_overdue", staff)
    version = case.policy_version
    try:
        with transaction.atomic():  # approve and refund (or instruct) together, or neither
            services._approve(case, None, auto=True, rule=_cited_rule(case, window))
            if case.case_type == CaseType.RETURN_REFUND:
                services._send_instructions(
                    case,
                    None,
                    address=version.return_address,
                    contact=version.return_contact,
                    phone=version.return_phone,
                    packing=version.return_packing,
                )
                return "auto_approved", None
            refund = services._create_refund(case, None, None, auto=True)
    except DomainError as refused:  # e.g. the payment cannot cover it: a person must look
        return _escalate(services._lock(case), "case.answer_overdue", staff, refused)
    return "auto_approved", refund


def _may_auto_approve(case: AfterSalesCase) -> bool:
    """Checked again under the case's lock: the decision and policy as they stand now."""
    return case.decision.get("outcome") == ALLOWED and _auto_approvable(
        case.case_type, case.refund_amount, case.policy_version
    )


def _auto_approvable(case_type: str, amount: Decimal, version: PolicyVersion) -> bool:
    """Whether the policy lets the sweep approve an unanswered request of this type and amount."""
    cap = version.auto_approve_max_amount
    if cap is not None and amount > cap:
        return False
    if case_type == CaseType.REFUND_ONLY:
        return True
    has_address = all(v.strip() for v in (version.return_address, version.return_contact, version.return_phone))
    return case_type == CaseType.RETURN_REFUND and version.auto_approve_returns and has_address


def _cited_rule(case: AfterSalesCase, window: timedelta | None) -> dict[str, Any]:
    """The rule the sweep approved by, for the approval event: the policy version, the answer timer that
    ran out (which of the marketplace timers the request was given when opened) and the policy's verdict."""
    version = case.policy_version
    timers = (
        ("auto_approve_unshipped_hours", timedelta(hours=version.auto_approve_unshipped_hours)),
        ("auto_approve_virtual_days", timedelta(days=version.auto_approve_virtual_days)),
        ("auto_approve_shipped_days", timedelta(days=version.auto_approve_shipped_days)),
    )
    return {
        "code": "answer_timeout",
        "timer": next((name for name, length in timers if length == window), None),
        "hours": round(window.total_seconds() / 3600) if window is not None else None,
        "policy_version": version.version,
        "decision": case.decision.get("rule"),
    }


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
# Received, inspected, or refunding (a refund the provider declined stays here) past the refund's due date.
REFUND_OVERDUE = (
    (CaseState.RECEIVED, CaseState.INSPECTED, CaseState.REFUNDING),
    "refund_escalate_at",
    "case.refund_overdue",
)


def escalate_overdue(timer: tuple[str | Sequence[str], str, str], now: datetime | None = None) -> int:
    """One timer's escalations outside a full sweep (each case once: event, then supervisors notified)."""
    return _escalate_due(*timer, now or timezone.now(), _Supervisors())


def _escalate_due(state: str | Sequence[str], column: str, verb: str, now: datetime, staff: _Supervisors) -> int:
    states = [state] if isinstance(state, str) else list(state)
    due = AfterSalesCase.objects.filter(state__in=states, **{f"{column}__lte": now})
    return _escalate_ids(_due_ids(due), states, column, verb, now, staff)


def _due_ids(due: QuerySet[AfterSalesCase]) -> list[int]:
    """The due cases' ids, oldest first, read through the (state, deadline) index: sorted here, as an
    ORDER BY id made SQLite walk every case of the state (or the whole table) in id order instead."""
    return sorted(due.order_by().values_list("pk", flat=True))


def _escalate_ids(
    ids: Sequence[int], state: str | Sequence[str], column: str, verb: str, now: datetime, staff: _Supervisors
) -> int:
    """Escalate the cases `ids` (in `state`) whose deadline `column` is still due: a batch per transaction."""
    states = [state] if isinstance(state, str) else list(state)
    escalated = 0
    for start in range(0, len(ids), BATCH_SIZE):
        with transaction.atomic():
            claimed = _claim(ids[start : start + BATCH_SIZE], states, column, now)
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
            ship_remind_at=None,
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


# --- The customer has not shipped the return yet: one reminder ----------------------------------------
def _remind_unshipped(now: datetime) -> int:
    """Remind each customer whose return is not shipped and whose reminder time came, once (the claim
    clears `ship_remind_at`): a `case.ship_reminder` event, which the notices writer turns into the
    customer's notice on their channel."""
    due = AfterSalesCase.objects.filter(state__in=SHIP_STATES, ship_remind_at__lte=now)
    reminded = 0
    for state in SHIP_STATES:
        ids = _due_ids(due.filter(state=state))
        for start in range(0, len(ids), BATCH_SIZE):
            reminded += _remind_batch(ids[start : start + BATCH_SIZE], state, now)
    return reminded


def _remind_batch(ids: Sequence[int], state: str, now: datetime) -> int:
    with transaction.atomic():
        claimed = _claim(ids, [state], "ship_remind_at", now)
        if not claimed:
            return 0
        deadlines = dict(
            AfterSalesCase.objects.filter(pk__in=id_list(row[0] for row in claimed)).values_list("pk", "ship_due_at")
        )
        stamp = timezone.now()
        unchanged: dict[str, Any] = {}  # the events' before
        nothing: dict[str, Any] = {}  # and after
        rows = []
        for row in claimed:
            ship_by = deadlines.get(row[0])
            data = {"ship_by": ship_by.isoformat() if ship_by else None}
            rows.append(_case_row("case.ship_reminder", row, stamp, unchanged, nothing, data))
        record_event_rows(rows)
    return len(claimed)


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
            "case.refund_overdue": _("%(number)s: the refund was not made by its due date"),
            "case.result_notice_overdue": _("%(number)s: the customer was not told the result within 24 hours"),
        }
        self.digests = {
            "case.answer_overdue": _("%(count)s after-sales requests were not answered in time"),
            "case.receipt_overdue": _("%(count)s returned parcels were not confirmed as received in time"),
            "case.inspection_overdue": _("%(count)s returns were not inspected in time"),
            "case.return_overdue": _("%(count)s ship-first exchanges were not sent back in time"),
            "case.diagnosis_overdue": _("%(count)s repairs were not diagnosed in time"),
            "case.refund_overdue": _("%(count)s refunds were not made by their due date"),
            "case.result_notice_overdue": _("%(count)s customers were not told their case's result within 24 hours"),
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


def supervisors() -> _Supervisors:
    """Who hears of escalations, for timers that run outside this module (the result-notice timer)."""
    return _Supervisors()


def notify_supervisors(verb: str, cases: Sequence[tuple[int, int]], staff: _Supervisors | None = None) -> None:
    """Tell the supervisors of escalations (case id, event id) recorded elsewhere, in the caller's
    transaction: the same notifications (and summaries) as the sweep's own escalations."""
    insert_rows(Notification, NOTE_FIELDS, (staff or _Supervisors()).notes(verb, cases))
