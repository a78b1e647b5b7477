"""Customer notices: the customer is told of each step of their case, and of its result within 24 h.

How a notice travels:
- A case event that the customer must hear about (`NOTICE_KINDS`) gets one `CustomerNotice`,
  written by an event-log writer (`write_notices`, registered in CasesConfig.ready) in the
  event's own transaction: the step and its notice commit or roll back together.
- The text is rendered then, in the customer's language (zh-hans or en), for the customer's
  preferred channel. Email is sent by a Huey job after commit through Django's email backend;
  other channels (web chat, WeChat, app, phone) have no sender in this process: their rows are
  the outbox their channel integration drains over the API (/api/notices: claim, then report
  each as delivered or failed), or, inside the process, through `mark_notice_sent`.
- A failed email is retried with backoff by `sweep_result_notices` (every minute). A worker
  claims a notice with a conditional UPDATE (one row updated = it owns the attempt), so two
  workers never send the same attempt; delivery is at least once.
- A result notice (the case is finished: refunded, closed, expired, withdrawn, completed) must be
  delivered within `RESULT_NOTICE_WITHIN` (24 h). Half way, one still undelivered in a channel
  outbox (or at once, one its channel gave up on) is sent by email instead when the customer has
  an address; when the 24 h pass undelivered, the sweep records `case.result_notice_overdue`
  (escalated) once.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, TypedDict

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.cases.errors import NoticeConflict
from desk.cases.models import CASE_PREFIX, AfterSalesCase, CustomerNotice, NoticeStatus
from desk.core.bulk import id_list, insert_rows
from desk.core.errors import NotFound
from desk.core.events import EventFacts, record_event
from desk.core.models import Event
from desk.core.prepared import Prepared
from desk.customers.models import Channel, CustomerIdentity

log = logging.getLogger(__name__)

RESULT_NOTICE_WITHIN = timedelta(hours=24)
FALLBACK_AFTER = timedelta(hours=12)  # an outbox channel silent this long: try email
MAX_ATTEMPTS = 10
BASE_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=1)
CLAIM_FOR = timedelta(minutes=2)
SUBJECT_TYPE = "aftersalescase"

# Event verb → notice kind. Verbs of other case types join here when their services exist.
NOTICE_KINDS: dict[str, str] = {
    "case.approve": "approved",
    "case.reject": "rejected",
    "case.send_instructions": "return_instructions",
    "case.receive": "received",
    "case.inspect": "inspected",
    "case.confirm_refund": "refunded",
    "case.close": "closed",
    "case.expire": "expired",
    "case.withdraw": "withdrawn",
    "case.ship_replacement": "replacement_shipped",  # exchange and reship
    "case.ship_back": "shipped_back",  # repair
    "case.complete": "completed",  # exchange, repair, compensation
    "case.settle_unreturned": "closed",  # ship-first exchange whose goods never came back
    "case.solution_proposed": "solution_proposed",  # a repair's fee quote reads as "repair_quote" (`_kind`)
    "case.solution_reminder": "solution_reminder",  # the proposal's half-time reminder
    "case.arrange_service": "service_arranged",  # repair: where to send the unit, or the technician's visit
    "case.ship_reminder": "ship_reminder",  # the sweep: the return is not shipped and its deadline nears
}
# The case is finished: the customer gets its result within 24 h.
RESULT_KINDS = {"refunded", "closed", "expired", "withdrawn", "completed"}


class NoticeSweep(TypedDict):
    switched_to_email: int
    sent: int
    failed: int
    escalated: int


# --- Writing (inside the case event's transaction) -------------------------------------------------
def write_notices(events: Sequence[EventFacts]) -> list[int]:
    """The event-log writer: one notice per case event the customer must hear about; sends after commit.

    Set-based, as a sweep closes thousands of cases at once: the cases with their customers and order
    numbers read as plain rows, the customers' channel identities in one query, each text rendered once
    per kind, language and event data with the per-case values filled in, the rows in multi-row INSERTs.
    Returns the new notices' ids.
    """
    wanted = [
        (e, e.subject_id)
        for e in events
        if e.subject_type == SUBJECT_TYPE and e.verb in NOTICE_KINDS and e.subject_id is not None
    ]
    if not wanted:
        return []
    facts, addresses = _facts_and_addresses({case_id for _event, case_id in wanted})
    texts = _Texts()
    known = {code for code, _name in settings.LANGUAGES}
    rows: list[tuple[Any, ...]] = []
    for event, case_id in wanted:
        case = facts.get(case_id)
        if case is None:
            continue
        kind = _kind(event.verb, event.data)
        channel = case.preferred_channel or Channel.WEB
        recipient = _recipient(case, channel, addresses)
        language = case.language if case.language in known else settings.LANGUAGE_CODE
        subject, body = texts.render(kind, language, case, event.data)
        is_result = kind in RESULT_KINDS
        now = event.created_at
        rows.append(
            (
                case_id,
                event.pk,
                kind,
                is_result,
                channel,
                recipient,
                language,
                subject[:200],
                body,
                now if channel in SENDERS else None,
                now,
                now + RESULT_NOTICE_WITHIN if is_result else None,
            )
        )
    ids = insert_rows(CustomerNotice, NOTICE_FIELDS, rows)
    sendable = [pk for pk, row in zip(ids, rows, strict=True) if row[9] is not None]
    if sendable:
        transaction.on_commit(lambda: _enqueue(sendable))
    return ids


def _kind(verb: str, data: dict[str, Any]) -> str:
    """The notice kind of an event; a proposal that quotes a repair fee is the customer's repair quote."""
    kind = NOTICE_KINDS[verb]
    if kind == "solution_proposed" and data.get("kind") == "repair" and _amount(data.get("fee_amount")) > 0:
        return "repair_quote"
    return kind


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except ArithmeticError:
        return Decimal(0)


NOTICE_FIELDS = [
    "case_id",
    "event_id",
    "kind",
    "is_result",
    "channel",
    "recipient",
    "language",
    "subject",
    "body",
    "next_attempt_at",
    "created_at",
    "due_at",
]


class _CaseFacts(NamedTuple):
    pk: int
    case_type: str
    refund_amount: Decimal
    currency: str
    order_number: str
    customer_id: int
    name: str
    preferred_channel: str
    email: str
    phone: str
    language: str


_CHUNK = 5000  # ids per query: they are one bound parameter (`id_list`), so no statement limit applies


def _chunks(values: Iterable[int]) -> Iterator[list[int]]:
    values = sorted(values)
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


_FACT_COLUMNS = (
    "pk",
    "case_type",
    "refund_amount",
    "currency",
    "order__number",
    "customer_id",
    "customer__name",
    "customer__preferred_channel",
    "customer__email",
    "customer__phone",
    "customer__language",
)
# One case's facts with its customer's oldest identity on the channel the notice goes to: a step's
# single event, the usual case, runs this one query, compiled once (compiling it cost more than the
# database's answer).
_NOTICE_CHANNEL = Coalesce(NullIf(OuterRef("customer__preferred_channel"), Value("")), Value(Channel.WEB))
_ONE_CASE = Prepared(
    lambda pk: (
        AfterSalesCase.objects.filter(pk=pk)
        .annotate(
            identity=Subquery(
                CustomerIdentity.objects.filter(customer_id=OuterRef("customer_id"), channel=_NOTICE_CHANNEL)
                .order_by("pk")
                .values("value")[:1]
            )
        )
        .values_list(*_FACT_COLUMNS, "identity")
    )
)


def _facts_and_addresses(ids: set[int]) -> tuple[dict[int, _CaseFacts], dict[tuple[int, str], str]]:
    """The cases' facts, and (customer id, channel) → the address a notice on that channel goes to."""
    if len(ids) != 1:
        facts = _case_facts(ids)
        return facts, _identities({row.customer_id for row in facts.values() if _needs_identity(row)})
    found: dict[int, _CaseFacts] = {}
    addresses: dict[tuple[int, str], str] = {}
    for *row, identity in _ONE_CASE.rows(*ids):
        case = found[row[0]] = _CaseFacts(*row)
        if identity is not None:
            addresses[(case.customer_id, case.preferred_channel or Channel.WEB)] = identity
    return found, addresses


def _case_facts(ids: set[int]) -> dict[int, _CaseFacts]:
    """The cases' own values, their order numbers and their customers' addresses, as plain rows."""
    found: dict[int, _CaseFacts] = {}
    for chunk in _chunks(ids):
        rows = AfterSalesCase.objects.filter(pk__in=id_list(chunk)).values_list(*_FACT_COLUMNS)
        found.update((row[0], _CaseFacts(*row)) for row in rows)
    return found


def _needs_identity(case: _CaseFacts) -> bool:
    channel = case.preferred_channel or Channel.WEB
    return not ((channel == Channel.EMAIL and case.email) or (channel == Channel.PHONE and case.phone))


def _identities(customer_ids: set[int]) -> dict[tuple[int, str], str]:
    """(customer id, channel) → the customer's oldest identity on that channel, in one query per chunk."""
    found: dict[tuple[int, str], str] = {}
    chunks = (
        CustomerIdentity.objects.filter(customer_id__in=id_list(chunk))
        .order_by("pk")
        .values_list("customer_id", "channel", "value")
        for chunk in _chunks(customer_ids)
    )
    for rows in chunks:
        for customer_id, channel, value in rows:
            found.setdefault((customer_id, channel), value)
    return found


def _recipient(case: _CaseFacts, channel: str, identities: dict[tuple[int, str], str]) -> str:
    """The customer's address on `channel` (blank when the desk has none)."""
    if channel == Channel.EMAIL and case.email:
        return case.email
    if channel == Channel.PHONE and case.phone:
        return case.phone
    return identities.get((case.customer_id, channel), "")


_MARK = "\x00"
_FACT_NAMES = ("number", "order", "amount", "name")
_FILL = re.compile(f"{_MARK}({'|'.join(_FACT_NAMES)}){_MARK}")


class _Texts:
    """Notice texts rendered once per kind, language, case type and event data, with markers where the
    per-case facts go; each notice fills its own in (one regex pass, so a value is never re-read)."""

    def __init__(self) -> None:
        self._templates: dict[tuple[Any, ...], tuple[str, str]] = {}
        self._data: dict[int, str] = {}  # id of an event's data → its key text (a batch shares one object)

    def render(self, kind: str, language: str, case: _CaseFacts, data: dict[str, Any]) -> tuple[str, str]:
        # The bodies read the case's type, and a refund's amount and currency, beyond the facts.
        own = (case.refund_amount, case.currency) if kind == "refunded" else None
        key = (kind, language, case.case_type, own, self._data_key(data))
        template = self._templates.get(key)
        if template is None:
            stand_in = AfterSalesCase(
                case_type=case.case_type, refund_amount=case.refund_amount, currency=case.currency
            )
            marks = {name: f"{_MARK}{name}{_MARK}" for name in _FACT_NAMES}
            with translation.override(language):
                template = _render(kind, stand_in, data, marks)
            self._templates[key] = template
        values = {
            "number": f"{CASE_PREFIX}{case.pk:07d}",
            "order": case.order_number,
            "amount": f"{case.refund_amount} {case.currency}",
            "name": case.name,
        }

        def fill(match: re.Match[str]) -> str:
            return values[match.group(1)]

        return _FILL.sub(fill, template[0]), _FILL.sub(fill, template[1])

    def _data_key(self, data: dict[str, Any]) -> str:
        # By identity: the events (and so their data) outlive this renderer, so an id is not reused.
        text = self._data.get(id(data))
        if text is None:
            text = self._data[id(data)] = json.dumps(data, sort_keys=True, default=str)
        return text


def _enqueue(ids: list[int]) -> None:
    from desk.cases.tasks import deliver_notice  # tasks imports the sweep, which imports this module

    for notice_id in ids:
        deliver_notice(notice_id)


# --- Texts ------------------------------------------------------------------------------------------
def render(kind: str, case: AfterSalesCase, data: dict[str, Any]) -> tuple[str, str]:
    """The notice's subject and body in the active language."""
    facts = {
        "number": case.number,
        "order": case.order.number,
        "amount": f"{case.refund_amount} {case.currency}",
        "name": case.customer.name,
    }
    return _render(kind, case, data, facts)


def _render(kind: str, case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> tuple[str, str]:
    subject = _SUBJECTS[kind]() % facts
    body = _BODIES[kind](case, data, facts)
    greeting = _("Dear %(name)s,") % facts
    closing = _("Case %(number)s, order %(order)s.") % facts
    return subject, f"{greeting}\n\n{body}\n\n{closing}\n"


def _approved(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    if case.case_type == "return_refund":
        return _("Your after-sales request %(number)s was approved. We will send you the return address next.") % facts
    if case.case_type == "refund_only":
        return _("Your after-sales request %(number)s was approved; the refund of %(amount)s is on its way.") % facts
    return _("Your after-sales request %(number)s was approved. We will tell you of each next step.") % facts


def _rejected(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    return _("We could not accept your after-sales request %(number)s: %(reason)s") % (
        facts | {"reason": data.get("reason", "")}
    )


def _instructions(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    ship_by = data.get("ship_by", "")
    when = timezone.localtime(datetime.fromisoformat(ship_by)).strftime("%Y-%m-%d %H:%M") if ship_by else ""
    payer = {"customer": _("you"), "shop": _("the shop"), "insurance": _("your shipping insurance")}
    lines = [
        _("Please send the goods back to: %(address)s, %(contact)s, %(phone)s.") % data,
        _("Ship by %(when)s; return postage is paid by %(payer)s.")
        % {"when": when, "payer": payer.get(data.get("shipping_payer", ""), _("you"))},
    ]
    if data.get("packing"):
        lines.append(_("Packing: %(packing)s") % data)
    return "\n".join(lines)


def _received(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    return _("We received your return for case %(number)s; the warehouse will check it now.") % facts


def _inspected(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    if data.get("passed"):
        return _("Your return for case %(number)s passed inspection; the refund of %(amount)s follows.") % facts
    return _("Your return for case %(number)s did not pass inspection; our team will contact you.") % facts


def _refunded(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    amount = f"{data.get('amount', case.refund_amount)} {case.currency}"
    return _("%(amount)s was refunded for case %(number)s (refund number %(refund)s).") % (
        facts | {"amount": amount, "refund": data.get("refund", "")}
    )


def _closed(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    return _("Your after-sales case %(number)s is closed. Thank you for your patience.") % facts


def _expired(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    return _("Case %(number)s was closed: the return was not shipped in time.") % facts


def _replacement_shipped(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    shipped = _("Your replacement for case %(number)s is on its way: %(carrier)s, tracking number %(tracking)s.") % (
        facts | {"carrier": data.get("carrier", ""), "tracking": data.get("tracking_number", "")}
    )
    send_back = data.get("return_instructions")  # ship first (先发后退): the original goods come back after
    return f"{shipped}\n{_instructions(case, send_back, facts)}" if send_back else shipped


def _shipped_back(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    return _("Your item for case %(number)s is on its way back to you: %(carrier)s, tracking number %(tracking)s.") % (
        facts | {"carrier": data.get("carrier", ""), "tracking": data.get("tracking_number", "")}
    )


def _completed(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    return _("Your after-sales case %(number)s is complete. Thank you for your patience.") % facts


def _withdrawn(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    return _("Your after-sales request %(number)s was withdrawn as you asked.") % facts


def _ship_reminder(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    ship_by = data.get("ship_by", "")
    when = timezone.localtime(datetime.fromisoformat(ship_by)).strftime("%Y-%m-%d %H:%M") if ship_by else ""
    return _(
        "Reminder: please send the goods for case %(number)s back by %(when)s. "
        "If they are not shipped by then, the request closes."
    ) % (facts | {"when": when})


def _when(value: Any) -> str:
    """An event's ISO date-time as the customer reads it (local time, to the minute); blank when absent."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _terms_lines(data: dict[str, Any]) -> list[str]:
    """What a proposal gives and costs: its non-zero amounts, and how a fee is confirmed."""
    currency = data.get("currency", "")
    labels = (
        ("refund_amount", _("Refund to you: %(amount)s %(currency)s")),
        ("compensation_amount", _("Compensation to you: %(amount)s %(currency)s")),
        ("fee_amount", _("Fee you pay: %(amount)s %(currency)s")),
    )
    lines = [label % {"amount": data[key], "currency": currency} for key, label in labels if _amount(data.get(key)) > 0]
    if _amount(data.get("fee_amount")) > 0 or data.get("process_change"):
        lines.append(_("To accept, confirm in writing: type your full name, 同意, or the fee amount."))
    return lines


def _solution_proposed(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    lines = [
        _("We propose this solution for case %(number)s: %(summary)s") % (facts | {"summary": data.get("summary", "")}),
        _("Why: %(reason)s") % {"reason": data.get("reason", "")},
        *_terms_lines(data),
    ]
    if data.get("execute_by"):
        lines.append(_("Once you accept, we carry it out by %(when)s.") % {"when": _when(data["execute_by"])})
    lines.append(
        _(
            "Please accept or reject it by %(deadline)s in the self-service portal, or answer us on this channel. "
            "Unanswered by then, the proposal lapses and the case may be closed."
        )
        % {"deadline": _when(data.get("respond_by"))}
    )
    return "\n".join(lines)


def _repair_quote(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    lines = [
        _("Tech support has diagnosed your unit for case %(number)s: %(reason)s")
        % (facts | {"reason": data.get("reason", "")}),
        _("The repair costs %(fee)s %(currency)s: %(summary)s")
        % {"fee": data.get("fee_amount", ""), "currency": data.get("currency", ""), "summary": data.get("summary", "")},
        _("To accept, confirm in writing: type your full name, 同意, or the fee amount."),
        _(
            "Please accept or decline the fee by %(deadline)s in the self-service portal, or answer us in writing "
            "on this channel. Declined or unanswered by then, the unit is sent back to you unrepaired."
        )
        % {"deadline": _when(data.get("respond_by"))},
    ]
    return "\n".join(lines)


def _solution_reminder(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    lines = [
        _("Reminder: the solution we proposed for case %(number)s is waiting for your answer: %(summary)s")
        % (facts | {"summary": data.get("summary", "")}),
        *_terms_lines(data),
        _("Please accept or reject it by %(deadline)s; unanswered by then, the proposal lapses.")
        % {"deadline": _when(data.get("respond_by"))},
    ]
    return "\n".join(lines)


def _service_arranged(case: AfterSalesCase, data: dict[str, Any], facts: dict[str, str]) -> str:
    if data.get("mode") == "on_site":
        return _("A technician will visit you for case %(number)s on %(when)s at %(address)s.") % (
            facts | {"when": _when(data.get("appointment_at")), "address": data.get("address", "")}
        )
    return _(
        "Please send the unit for case %(number)s to: %(address)s. Tech support diagnoses it within 24 hours "
        "of its arrival."
    ) % (facts | {"address": data.get("address", "")})


Body = Callable[[AfterSalesCase, dict[str, Any], dict[str, str]], str]
_BODIES: dict[str, Body] = {
    "approved": _approved,
    "rejected": _rejected,
    "return_instructions": _instructions,
    "received": _received,
    "inspected": _inspected,
    "refunded": _refunded,
    "closed": _closed,
    "expired": _expired,
    "withdrawn": _withdrawn,
    "replacement_shipped": _replacement_shipped,
    "shipped_back": _shipped_back,
    "completed": _completed,
    "solution_proposed": _solution_proposed,
    "repair_quote": _repair_quote,
    "solution_reminder": _solution_reminder,
    "service_arranged": _service_arranged,
    "ship_reminder": _ship_reminder,
}
_SUBJECTS: dict[str, Callable[[], str]] = {
    "approved": lambda: _("After-sales request %(number)s approved"),
    "rejected": lambda: _("After-sales request %(number)s not accepted"),
    "return_instructions": lambda: _("How to return your goods for case %(number)s"),
    "received": lambda: _("Return received for case %(number)s"),
    "inspected": lambda: _("Return inspected for case %(number)s"),
    "refunded": lambda: _("Refund made for case %(number)s"),
    "closed": lambda: _("After-sales case %(number)s closed"),
    "expired": lambda: _("After-sales case %(number)s closed"),
    "withdrawn": lambda: _("After-sales request %(number)s withdrawn"),
    "replacement_shipped": lambda: _("Replacement shipped for case %(number)s"),
    "shipped_back": lambda: _("Your item is on its way back (case %(number)s)"),
    "completed": lambda: _("After-sales case %(number)s complete"),
    "solution_proposed": lambda: _("A solution for case %(number)s: please answer"),
    "repair_quote": lambda: _("Repair quote for case %(number)s: please answer"),
    "solution_reminder": lambda: _("Reminder: case %(number)s waits for your answer"),
    "service_arranged": lambda: _("Repair service arranged for case %(number)s"),
    "ship_reminder": lambda: _("Reminder: ship your return for case %(number)s"),
}


# --- Sending ----------------------------------------------------------------------------------------
class NoAddress(Exception):
    """The desk has no address for the customer on this channel: retrying cannot help."""


def _send_email(notice: CustomerNotice) -> None:
    if not notice.recipient:
        raise NoAddress(_("The customer has no email address."))
    EmailMessage(notice.subject, notice.body, settings.DEFAULT_FROM_EMAIL, [notice.recipient]).send()


# Channels the desk sends itself; the others are an outbox for their channel integration.
SENDERS: dict[str, Callable[[CustomerNotice], None]] = {Channel.EMAIL: _send_email}


def deliver(notice_id: int) -> CustomerNotice | None:
    """Claim, send and record one attempt; None when it is not due or another worker owns it."""
    now = timezone.now()
    claimed = CustomerNotice.objects.filter(_claimable(now), pk=notice_id).update(
        status=NoticeStatus.SENDING, claimed_until=now + CLAIM_FOR, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    notice = CustomerNotice.objects.get(pk=notice_id)
    try:
        SENDERS[notice.channel](notice)
    except Exception as failure:  # SMTP down, refused, no address: recorded and retried
        log.warning("notice %s to %s failed: %s", notice.pk, notice.channel, failure)
        _failed(notice, str(failure) or failure.__class__.__name__, give_up=isinstance(failure, NoAddress))
    else:
        _sent(notice)
    notice.refresh_from_db()
    return notice


def _claimable(now: datetime) -> Q:
    waiting = Q(status__in=[NoticeStatus.PENDING, NoticeStatus.FAILED], next_attempt_at__lte=now)
    return (waiting | _abandoned(now)) & Q(channel__in=list(SENDERS))


def _abandoned(now: datetime) -> Q:
    """Claimed by a worker or poller that died mid-send: its claim ran out."""
    return Q(status=NoticeStatus.SENDING, claimed_until__lt=now)


def _sent(notice: CustomerNotice) -> None:
    CustomerNotice.objects.filter(pk=notice.pk, status=NoticeStatus.SENDING).update(
        status=NoticeStatus.SENT, sent_at=timezone.now(), claimed_until=None, next_attempt_at=None, last_error=""
    )


def _failed(notice: CustomerNotice, error: str, *, give_up: bool = False) -> None:
    gave_up = give_up or notice.attempts >= MAX_ATTEMPTS
    CustomerNotice.objects.filter(pk=notice.pk, status=NoticeStatus.SENDING).update(
        status=NoticeStatus.DEAD if gave_up else NoticeStatus.FAILED,
        next_attempt_at=None if gave_up else timezone.now() + _backoff(notice.attempts),
        claimed_until=None,
        last_error=error[:500],
    )


def _backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes after the first, second, third ... failed attempt, at most an hour."""
    return min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)


def mark_notice_sent(notice: CustomerNotice, *, by: Any = None) -> bool:
    """An integration inside this process delivered an outbox notice; False when it was already sent.

    Trusted code (no permission check), recorded like the API's report (`notice.delivered`).
    """
    with transaction.atomic():
        locked = _locked_notice(notice.pk)
        if locked.status == NoticeStatus.SENT:
            return False
        _delivered(locked, by=by, provider_message_id="")
    return True


# --- The channel outbox: integrations claim notices and report each delivery (the notices API) -------
# Each report records an event on the case (`notice.delivered`, `notice.failed`): the timeline shows it
# and webhooks carry it. A claim records none: pollers claim every few seconds, and the report that
# follows tells what happened.
OUTBOX_CLAIM_FOR = timedelta(minutes=5)  # a provider's batch fits; a dead poller's notices come back then
MAX_CLAIM = 100


def outbox_due(now: datetime, channel: str) -> Q:
    """Notices of `channel` a poller may take now: waiting, due again after a failure, or abandoned
    by a poller whose claim ran out."""
    waiting = Q(status__in=[NoticeStatus.PENDING, NoticeStatus.FAILED]) & (
        Q(next_attempt_at=None) | Q(next_attempt_at__lte=now)
    )
    return (waiting | _abandoned(now)) & Q(channel=channel)


def claim_notices(channel: str, *, by: Any, limit: int = 20) -> list[int]:
    """Hand up to `limit` due notices of an outbox channel to one poller, oldest first, for OUTBOX_CLAIM_FOR.

    Two pollers never hold the same notice: rows another poller is claiming at this moment are
    skipped (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite runs one writing transaction at a time),
    and the UPDATE checks again that each is still due. A poller that dies leaves its notices to
    come back when the claim runs out, so delivery is at least once. Each claim counts an attempt.
    Returns the claimed ids.
    """
    authorize(by, "notice.deliver")
    _refuse_desk_channel(channel)
    now = timezone.now()
    with transaction.atomic():
        due = CustomerNotice.objects.filter(outbox_due(now, channel)).order_by("pk")
        ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[: min(limit, MAX_CLAIM)])
        CustomerNotice.objects.filter(outbox_due(now, channel), pk__in=ids).update(
            status=NoticeStatus.SENDING, claimed_until=now + OUTBOX_CLAIM_FOR, attempts=F("attempts") + 1
        )
    return ids


def record_notice_delivered(notice_id: int, *, by: Any, provider_message_id: str = "") -> CustomerNotice:
    """The channel integration delivered an outbox notice: it is sent (and its 24 h timer is met).

    Idempotent: a notice already sent is answered as it stands, with no second event, so an
    integration that repeats a report whose answer it lost never sees an error. A notice that had
    been given up on is sent all the same: the customer has it.
    """
    authorize(by, "notice.deliver")
    with transaction.atomic():
        notice = _locked_notice(notice_id)
        _refuse_desk_channel(notice.channel)
        if notice.status != NoticeStatus.SENT:
            _delivered(notice, by=by, provider_message_id=provider_message_id)
    return notice


def record_notice_failed(notice_id: int, *, by: Any, error: str, retry: bool) -> CustomerNotice:
    """The channel could not deliver: FAILED and due again after the module's backoff, or DEAD when
    `retry` is false (no such user, blocked) or the attempts are used up.

    A DEAD result notice goes by email at the next sweep; the 24 h escalation still applies. A report
    that would change nothing (the notice was already given up on, or already waits for its next
    attempt) answers the notice as it stands, so a repeated report does not count twice.
    """
    authorize(by, "notice.deliver")
    now = timezone.now()
    with transaction.atomic():
        notice = _locked_notice(notice_id)
        _refuse_desk_channel(notice.channel)
        if notice.status == NoticeStatus.SENT:
            raise NoticeConflict(
                _("Notice %(id)s was already delivered; a failure cannot be reported for it.") % {"id": notice.pk},
                code="notice.already_sent",
            )
        if _repeated_failure(notice, now, retry=retry):
            return notice
        before = _state(notice)
        notice.attempts += notice.status != NoticeStatus.SENDING  # unclaimed: this report is its attempt
        gave_up = not retry or notice.attempts >= MAX_ATTEMPTS
        notice.status = NoticeStatus.DEAD if gave_up else NoticeStatus.FAILED
        notice.next_attempt_at = None if gave_up else now + _backoff(notice.attempts)
        notice.claimed_until, notice.last_error = None, error[:500]
        notice.save(update_fields=["status", "attempts", "next_attempt_at", "claimed_until", "last_error"])
        _notice_event("notice.failed", notice, by, before, {"error": notice.last_error, "retry": retry})
    return notice


def _locked_notice(notice_id: int) -> CustomerNotice:
    notice = CustomerNotice.objects.select_for_update(of=("self",)).select_related("case").filter(pk=notice_id).first()
    if notice is None:
        raise NotFound(_("There is no notice %(id)s.") % {"id": notice_id}, code="notice.not_found")
    return notice


def _refuse_desk_channel(channel: str) -> None:
    if channel in SENDERS:
        raise NoticeConflict(
            _("The desk sends %(channel)s notices itself; their delivery cannot be claimed or reported.")
            % {"channel": channel},
            code="notice.sent_by_desk",
        )


def _repeated_failure(notice: CustomerNotice, now: datetime, *, retry: bool) -> bool:
    if notice.status == NoticeStatus.DEAD:
        return True
    due_again = notice.next_attempt_at
    return retry and notice.status == NoticeStatus.FAILED and due_again is not None and due_again > now


def _delivered(notice: CustomerNotice, *, by: Any, provider_message_id: str) -> None:
    before = _state(notice)
    notice.attempts += notice.status != NoticeStatus.SENDING  # unclaimed: this report is its attempt
    notice.status, notice.sent_at = NoticeStatus.SENT, timezone.now()
    notice.claimed_until = notice.next_attempt_at = None
    notice.last_error = ""
    notice.save(update_fields=["status", "attempts", "sent_at", "claimed_until", "next_attempt_at", "last_error"])
    _notice_event("notice.delivered", notice, by, before, {"provider_message_id": provider_message_id})


def _state(notice: CustomerNotice) -> dict[str, Any]:
    return {"status": notice.status, "attempts": notice.attempts}


def _notice_event(verb: str, notice: CustomerNotice, by: Any, before: dict[str, Any], data: dict[str, Any]) -> None:
    """On the case, so its timeline shows the delivery and webhooks carry it with the case's facts."""
    case = notice.case
    record_event(
        verb,
        actor=by,
        subject=case,
        customer_id=case.customer_id,
        ticket_id=case.ticket_id,
        before=before,
        after=_state(notice),
        data={"notice": notice.pk, "kind": notice.kind, "channel": notice.channel, **data},
    )


# --- The sweep: retries, the email fallback, the 24 h escalation ------------------------------------
def sweep_result_notices(now: datetime | None = None) -> NoticeSweep:
    """Re-send due notices, move silent outbox result notices to email, escalate overdue results once."""
    now = now or timezone.now()
    switched = _fall_back_to_email(now)
    outcomes = [deliver(pk) for pk in _due_ids(now)]
    sent = sum(1 for n in outcomes if n is not None and n.status == NoticeStatus.SENT)
    failed = sum(1 for n in outcomes if n is not None and n.status != NoticeStatus.SENT)
    result = NoticeSweep(switched_to_email=switched, sent=sent, failed=failed, escalated=_escalate_overdue(now))
    if any(result.values()):
        log.info("notice sweep at %s: %s", now.isoformat(), result)
    return result


def _due_ids(now: datetime, limit: int = 500) -> list[int]:
    return list(
        CustomerNotice.objects.filter(_claimable(now)).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )


def _unsent_results() -> Q:
    return Q(is_result=True, sent_at=None, escalated_at=None)


def _fall_back_to_email(now: datetime) -> int:
    """A result notice its channel has not delivered half way to its deadline, or has given up on,
    goes by email instead, with the email's own attempts. One a poller holds a live claim on is left
    alone: it may be on its way (the claim runs out within minutes)."""
    waiting = (
        CustomerNotice.objects.filter(
            _unsent_results(),
            _idle_in_outbox(now),
            Q(created_at__lte=now - FALLBACK_AFTER) | Q(status=NoticeStatus.DEAD),
        )
        .exclude(case__customer__email="")
        .values_list("pk", "case__customer__email")
    )
    switched = 0
    for pk, email in waiting:
        switched += CustomerNotice.objects.filter(_idle_in_outbox(now), pk=pk).update(
            channel=Channel.EMAIL,
            recipient=email,
            status=NoticeStatus.PENDING,
            attempts=0,
            claimed_until=None,
            next_attempt_at=now,
        )
    return switched


def _idle_in_outbox(now: datetime) -> Q:
    """In a channel outbox and undelivered: waiting, failed, given up, or claimed by a poller that went quiet."""
    idle = Q(status__in=[NoticeStatus.PENDING, NoticeStatus.FAILED, NoticeStatus.DEAD])
    return (idle | _abandoned(now)) & ~Q(channel__in=list(SENDERS))


def _escalate_overdue(now: datetime) -> int:
    """Each result notice undelivered past its 24 h is escalated exactly once (claimed by setting escalated_at)."""
    from desk.cases import sweep  # tells the supervisors, as of its own escalations; it imports this module

    overdue = CustomerNotice.objects.filter(_unsent_results(), due_at__lte=now)
    escalated = 0
    staff = None
    for notice in overdue.select_related("case"):
        with transaction.atomic():
            if not overdue.filter(pk=notice.pk).update(escalated_at=now):
                continue  # delivered just now, or another worker escalated it
            event = _record_overdue(notice)
            staff = staff or sweep.supervisors()  # read once, when there is something to tell
            sweep.notify_supervisors(event.verb, [(notice.case_id, event.pk)], staff)
        escalated += 1
    return escalated


def _record_overdue(notice: CustomerNotice) -> Event:
    case = notice.case
    return record_event(
        "case.result_notice_overdue",
        subject=case,
        customer_id=case.customer_id,
        ticket_id=case.ticket_id,
        data={
            "escalated": True,
            "notice": notice.pk,
            "kind": notice.kind,
            "channel": notice.channel,
            "status": notice.status,
            "attempts": notice.attempts,
            "last_error": notice.last_error,
            "due_at": notice.due_at,
        },
    )
