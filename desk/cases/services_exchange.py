"""Exchange (换货) and reship (补寄): replacements reserved in stock, shipped, tracked and completed.

An exchange or reship case is opened and approved like any other (`services.open_case`,
`services.approve_case`). Then:

- `reserve_replacement` picks the mode (exchange: return first, or ship first where the policy
  allows it for the customer's tier) and the SKUs, checks them against stock and holds the units;
- return first: `services.send_return_instructions` → the customer ships → `services.receive_return`
  → `services.inspect_return` (the grade feeds returned-goods stock) → `ship_replacement`;
- ship first: `ship_replacement` sets `return_due_at`; the customer ships the return, which is
  received and inspected as above; `expire_unreturned_exchanges` escalates a late return;
- `record_replacement_delivery` notes the parcel arrived, `complete_replacement` ends the case.
- A ship-first return that is overdue is escalated by the sweep; then a person either gives the
  customer more time (`extend_exchange_return`) or settles it (`settle_unreturned_exchange`: the
  customer is charged for the goods kept, or the shop writes them off), which closes the case.

Withdrawing, expiring or closing a case releases what it still holds (`services._close`).
Lock order: the case, then stock rows in ascending SKU order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.cases import machines, stock
from desk.cases.errors import NotReturnable
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    ExchangeMode,
    ReplacementPurpose,
    ReplacementStatus,
    Stock,
)
from desk.cases.policy import Decision, judge_ship_first
from desk.cases.services import _event, _lock, _save, clean_parcel
from desk.core.errors import Conflict, ValidationFailed
from desk.core.events import record_event
from desk.orders import services_confirm

log = logging.getLogger(__name__)

REPLACEMENT_TYPES = (CaseType.EXCHANGE, CaseType.RESHIP)


# --- Stock the warehouse receives -------------------------------------------------------------------
def restock_sku(
    sku: str, *, by: Any, quantity: int, name: str = "", model: str = "", spec: str = "", note: str = ""
) -> Stock:
    """Sellable units arrive in the warehouse (a new SKU is created with its model and spec)."""
    authorize(by, "stock.manage")
    sku = (sku or "").strip()
    if not sku:
        raise ValidationFailed(_("Enter the SKU."), code="stock.no_sku", field="sku")
    if quantity < 1:
        raise ValidationFailed(_("Enter a quantity of at least 1."), code="stock.bad_quantity", field="quantity")
    with transaction.atomic():
        Stock.objects.get_or_create(
            sku=sku, defaults={"name": name.strip(), "model": model.strip(), "spec": spec.strip()}
        )
        row = stock.lock([sku])[sku]
        before = {"on_hand": row.on_hand}
        stock.restock(row, quantity, by, note)
        record_event(
            "stock.restock",
            actor=by,
            subject=row,
            before=before,
            after={"on_hand": row.on_hand},
            data={"sku": sku, "quantity": quantity, "note": note},
        )
    return row


def resell_returned(sku: str, *, by: Any, quantity: int) -> Stock:
    """Resaleable (grade A) returned units go back on sale (二次销售): sellable stock grows by as many."""
    authorize(by, "stock.manage")
    if quantity < 1:
        raise ValidationFailed(_("Enter a quantity of at least 1."), code="stock.bad_quantity", field="quantity")
    with transaction.atomic():
        row = stock.lock([sku]).get(sku)
        if row is None:
            raise ValidationFailed(
                _("%(sku)s is not a stocked SKU; choose one the warehouse holds.") % {"sku": sku},
                code="stock.unknown_sku",
                field="sku",
            )
        before = {"on_hand": row.on_hand, "returned_a": row.returned_a}
        stock.resell(row, quantity, by)
        after = {"on_hand": row.on_hand, "returned_a": row.returned_a}
        record_event("stock.resell", actor=by, subject=row, before=before, after=after, data={"quantity": quantity})
    return row


# --- Choosing and holding the replacement ----------------------------------------------------------
def reserve_replacement(
    case: AfterSalesCase, *, by: Any, mode: str = "", replacements: Sequence[tuple[str, int]] | None = None
) -> AfterSalesCase:
    """Hold the replacement (exchange) or the missing parts (reship) in stock for an approved case.

    `replacements` are (SKU, quantity) lines; left out, the claimed items' own SKUs are sent again.
    An exchange names its mode; ship first needs the policy to offer it to the customer's tier, and
    an exchange's replacements are the same model as the claimed goods (another size or colour).
    """
    authorize(by, "case.handle", subject=case)
    if case.case_type not in REPLACEMENT_TYPES:
        raise ValidationFailed(_("Only exchange and reship cases send goods out."), code="case.type_mismatch")
    ship_first = _check_mode(case, mode)
    lines = _lines(case, replacements)
    if case.case_type == CaseType.EXCHANGE:
        _check_exchange_lines(case, lines)
    purpose = ReplacementPurpose.REPLACEMENT if case.case_type == CaseType.EXCHANGE else ReplacementPurpose.RESHIP
    with transaction.atomic():
        case = _lock(case)
        if case.case_type == CaseType.EXCHANGE:
            case.exchange_mode = mode
        before, after = machines.step(case, "reserve")
        held = stock.reserve(case, lines, purpose, by)
        _save(case)
        data = {
            "mode": case.exchange_mode,
            "lines": [{"sku": s.sku, "quantity": s.quantity} for s in held],
            "ship_first_decision": ship_first.as_dict() if ship_first else None,
        }
        _event("case.reserve", case, by, before={"state": before}, after={"state": after}, data=data)
    return case


def _check_mode(case: AfterSalesCase, mode: str) -> Decision | None:
    """Validate the mode; ship first returns the policy's (allowing) decision, kept in the event."""
    if case.case_type == CaseType.RESHIP:
        if mode:
            raise ValidationFailed(_("A reship has no exchange mode."), code="exchange.bad_mode", field="mode")
        return None
    if mode not in ExchangeMode.values:
        raise ValidationFailed(_("Choose return first or ship first."), code="exchange.bad_mode", field="mode")
    if mode != ExchangeMode.SHIP_FIRST:
        return None
    decision = judge_ship_first(case.policy_version, case.customer.tier)
    if not decision.allowed:
        raise NotReturnable(decision.message, code="exchange.ship_first_refused", field="mode")
    return decision


def _lines(case: AfterSalesCase, replacements: Sequence[tuple[str, int]] | None) -> list[tuple[str, int]]:
    if replacements is None:
        return [(ci.order_item.sku, ci.quantity) for ci in case.items.select_related("order_item").order_by("pk")]
    lines = [((sku or "").strip(), quantity) for sku, quantity in replacements]
    if not lines or any(not sku or quantity < 1 for sku, quantity in lines):
        raise ValidationFailed(
            _("Name each SKU to send with a quantity of at least 1."), code="stock.bad_lines", field="replacements"
        )
    return lines


def _check_exchange_lines(case: AfterSalesCase, lines: list[tuple[str, int]]) -> None:
    """An exchange sends as many units as it takes back, of the same model (another spec is fine)."""
    items = list(case.items.select_related("order_item"))
    claimed = sum(ci.quantity for ci in items)
    if sum(q for _sku, q in lines) != claimed:
        raise ValidationFailed(
            _("An exchange sends as many units as come back: %(claimed)s.") % {"claimed": claimed},
            code="exchange.bad_quantity",
            field="replacements",
        )
    models = {ci.order_item.model for ci in items if ci.order_item.model}
    for row in Stock.objects.filter(sku__in=[sku for sku, _q in lines]):
        if models and row.model and row.model not in models:
            raise ValidationFailed(
                _("%(sku)s is model %(model)s; an exchange replaces %(wanted)s with the same model.")
                % {"sku": row.sku, "model": row.model, "wanted": ", ".join(sorted(models))},
                code="exchange.wrong_model",
                field="replacements",
            )


# --- Sending it -------------------------------------------------------------------------------------
def ship_replacement(
    case: AfterSalesCase,
    *,
    by: Any,
    carrier: str,
    tracking_number: str,
    return_address: str = "",
    return_contact: str = "",
    return_phone: str = "",
) -> AfterSalesCase:
    """The warehouse ships what the case holds (the reservation is consumed), with carrier and tracking.

    Ship first: the parcel tells the customer where to send the goods back (address, contact, phone
    are required then) and by when: the policy's `ship_first_return_days`.
    """
    authorize(by, "stock.manage", subject=case)
    carrier, tracking_number = clean_parcel(carrier, tracking_number)
    address = {"address": return_address.strip(), "contact": return_contact.strip(), "phone": return_phone.strip()}
    with transaction.atomic():
        case = _lock(case)
        ship_first = case.exchange_mode == ExchangeMode.SHIP_FIRST
        if ship_first and not all(address.values()):
            raise ValidationFailed(
                _("A ship-first exchange needs the return address, a contact and a phone."),
                code="case.no_return_address",
            )
        before, after = machines.step(case, "ship_replacement")
        now = timezone.now()
        shipped = stock.ship(case, carrier[:50], tracking_number[:64], by, now)
        if ship_first:
            case.return_due_at = now + timedelta(days=case.policy_version.ship_first_return_days)
            case.return_instructions = {
                **address,
                "shipping_payer": case.return_shipping_payer,
                "ship_by": case.return_due_at.isoformat(),
            }
        _save(case, now)
        data = {
            "carrier": carrier,
            "tracking_number": tracking_number,
            "lines": [{"sku": s.sku, "quantity": s.quantity} for s in shipped],
            "return_due_at": case.return_due_at,
            "return_instructions": case.return_instructions if ship_first else None,
        }
        _event("case.ship_replacement", case, by, before={"state": before}, after={"state": after}, data=data)
    return case


def record_replacement_delivery(case: AfterSalesCase, *, by: Any = None) -> AfterSalesCase:
    """The replacement parcel was delivered (entered by staff, or `by=None` from the carrier's tracking).

    The case does not move: an exchange shipped first still waits for its return.
    """
    if by is not None:
        authorize(by, "case.handle", subject=case)
    with transaction.atomic():
        case = _lock(case)
        in_transit = list(case.replacements.filter(status=ReplacementStatus.SHIPPED))
        if not in_transit:
            raise Conflict(_("Nothing of this case is on its way to the customer."), code="case.nothing_in_transit")
        now = timezone.now()
        for shipment in in_transit:
            shipment.status, shipment.delivered_at = ReplacementStatus.DELIVERED, now
            shipment.save(update_fields=["status", "delivered_at"])
        _save(case, now)
        data = {"tracking_numbers": sorted({s.tracking_number for s in in_transit})}
        before = {"shipment": ReplacementStatus.SHIPPED.value}
        after = {"shipment": ReplacementStatus.DELIVERED.value}
        _event("case.replacement_delivered", case, by, before=before, after=after, data=data)
    return case


def complete_replacement(case: AfterSalesCase, *, by: Any) -> AfterSalesCase:
    """End an exchange or reship: what was sent was delivered (and an exchange's return was inspected)."""
    authorize(by, "case.handle", subject=case)
    with transaction.atomic():
        case = _lock(case)
        before, after = machines.step(case, "complete")
        if case.replacements.exclude(status__in=[ReplacementStatus.DELIVERED, ReplacementStatus.RELEASED]).exists():
            raise Conflict(
                _("Record the replacement's delivery before completing the case."),
                code="case.replacement_not_delivered",
            )
        now = timezone.now()
        case.close_reason, case.closed_at = "completed", now
        case.answer_due_at = case.ship_due_at = case.receive_due_at = case.refund_due_at = case.return_due_at = None
        _save(case, now)
        _event("case.complete", case, by, before={"state": before}, after={"state": after})
        services_confirm.resume_after_cases([case.order_id], by=by)  # the order's auto-confirm clock runs again
    return case


# --- Timeout: the ship-first return did not come -------------------------------------------------
def expire_unreturned_exchanges(now: datetime | None = None) -> int:
    """Escalate each ship-first exchange whose return was not shipped by `return_due_at`, exactly once.

    Charging the customer for the replacement or accepting a late return is a person's decision
    (`settle_unreturned_exchange`, `extend_exchange_return`), so the case stays where it is (the
    customer may still ship), a `case.return_overdue` event flags it and the supervisors are told.
    Each case is claimed by clearing its deadline where it is still due, in the same transaction as
    its event. The case sweep runs the same escalation. Returns the count.
    """
    from desk.cases import sweep  # owns the bulk escalation; imported here as it imports the case services

    return sweep.escalate_overdue(sweep.EXCHANGE_RETURN_OVERDUE, now)


# --- Deciding about an overdue ship-first return ------------------------------------------------
SETTLE_OUTCOMES = {"charge": "return_charged", "write_off": "return_written_off"}
MAX_EXTENSION_DAYS = 30


def extend_exchange_return(case: AfterSalesCase, *, by: Any, days: int, note: str = "") -> AfterSalesCase:
    """Give the customer `days` more (from now) to send back a ship-first exchange's goods.

    Allowed while the return is still expected, overdue or not; the sweep watches the new deadline.
    """
    authorize(by, "case.handle", subject=case)
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ValidationFailed(
            _("Extend by 1 to %(max)s days.") % {"max": MAX_EXTENSION_DAYS}, code="exchange.bad_days", field="days"
        )
    with transaction.atomic():
        case = _lock(case)
        _require_awaited_return(case)
        now = timezone.now()
        before = case.return_due_at
        case.return_due_at = now + timedelta(days=days)
        case.return_instructions = {**(case.return_instructions or {}), "ship_by": case.return_due_at.isoformat()}
        _save(case, now)
        data = {"days": days, "note": note.strip()}
        _event(
            "case.return_extended", case, by,
            before={"return_due_at": before}, after={"return_due_at": case.return_due_at}, data=data,
        )  # fmt: skip
    return case


def settle_unreturned_exchange(
    case: AfterSalesCase, *, by: Any, outcome: str, amount: Decimal | None = None, note: str = ""
) -> AfterSalesCase:
    """Close a ship-first exchange whose return is overdue: charge the customer for the goods they kept,
    or write them off. Either way the shop gives up goods worth `amount` (default: the claimed items'
    value), so it needs an approval limit that covers it, and the decision is the case's last step.
    """
    if outcome not in SETTLE_OUTCOMES:
        raise ValidationFailed(_("Choose charge or write off."), code="exchange.bad_outcome", field="outcome")
    with transaction.atomic():
        case = _lock(case)
        value = _claimed_value(case) if amount is None else amount
        if value < 0:
            raise ValidationFailed(_("The amount cannot be negative."), code="exchange.bad_amount", field="amount")
        authorize(by, "case.approve", amount=value, subject=case)
        if case.case_type != CaseType.EXCHANGE or case.exchange_mode != ExchangeMode.SHIP_FIRST:
            raise Conflict(_("Only a ship-first exchange waits for goods after shipping."), code="case.type_mismatch")
        if case.return_due_at is not None:
            raise Conflict(
                _("The customer still has until %(due)s to ship the return.")
                % {"due": timezone.localtime(case.return_due_at).strftime("%Y-%m-%d %H:%M")},
                code="exchange.return_not_overdue",
            )
        before, after = machines.step(case, "settle_unreturned")
        now = timezone.now()
        case.close_reason, case.closed_at = SETTLE_OUTCOMES[outcome], now
        _save(case, now)
        data = {"outcome": outcome, "amount": value, "currency": case.currency, "note": note.strip()}
        _event("case.settle_unreturned", case, by, before={"state": before}, after={"state": after}, data=data)
        services_confirm.resume_after_cases([case.order_id], by=by)
    return case


def _require_awaited_return(case: AfterSalesCase) -> None:
    awaited = (
        case.case_type == CaseType.EXCHANGE
        and case.exchange_mode == ExchangeMode.SHIP_FIRST
        and case.state == CaseState.REPLACEMENT_SHIPPED
    )
    if not awaited:
        raise Conflict(
            _("Only a ship-first exchange whose replacement went out waits for the customer's return."),
            code="exchange.no_return_awaited",
        )


def _claimed_value(case: AfterSalesCase) -> Decimal:
    """What the claimed goods were paid (their allocated share), or their list price where none was kept."""
    total = Decimal("0.00")
    for item in case.items.select_related("order_item"):
        total += item.amount or item.order_item.unit_price * item.quantity
    return total
