"""Stock moves of exchanges and reships: reserve, release, ship, and returned goods by grade.

These run inside the calling service's transaction (after the case's lock) and write the
append-only `StockMovement` ledger; the service records the one case event. Stock rows are locked
in ascending SKU order, so two cases reserving the same SKUs never wait on each other in a circle.
Counters change with `F()` updates under the row lock; the check constraint `reserved <= on_hand`
is the last line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.cases.errors import InsufficientStock
from desk.cases.models import (
    RETURNED_FIELD,
    AfterSalesCase,
    CaseItem,
    ReplacementShipment,
    ReplacementStatus,
    Stock,
    StockMovement,
    StockMovementKind,
)
from desk.core.errors import ValidationFailed
from desk.core.prepared import Prepared

Lines = Sequence[tuple[str, int]]  # (sku, quantity)


def lock(skus: Iterable[str]) -> dict[str, Stock]:
    """The stock rows of these SKUs, locked in ascending SKU order."""
    rows = Stock.objects.select_for_update().filter(sku__in=set(skus)).order_by("sku")
    return {row.sku: row for row in rows}


def reserve(case: AfterSalesCase, lines: Lines, purpose: str, by: Any) -> list[ReplacementShipment]:
    """Hold sellable units for the case, one shipment line per SKU; refuses the lot if any SKU runs short."""
    rows = lock(sku for sku, _q in lines)
    wanted = _merge(lines)
    for sku, quantity in wanted.items():
        _check_available(rows.get(sku), sku, quantity)
    now = timezone.now()
    shipments = []
    for sku, quantity in wanted.items():
        shipment = ReplacementShipment.objects.create(
            case=case, purpose=purpose, sku=sku, quantity=quantity, reserved_at=now
        )
        _move(
            rows[sku],
            StockMovementKind.RESERVE,
            quantity,
            by,
            now,
            case=case,
            shipment=shipment,
            deltas={"reserved": quantity},
        )
        shipments.append(shipment)
    return shipments


def release(case: AfterSalesCase, by: Any) -> list[dict[str, Any]]:
    """Give back what the case still holds (it was withdrawn, refused or expired); returns what was released."""
    held = list(case.replacements.filter(status=ReplacementStatus.RESERVED))
    if not held:
        return []
    rows = lock(s.sku for s in held)
    now = timezone.now()
    for shipment in held:
        _move(
            rows[shipment.sku],
            StockMovementKind.RELEASE,
            shipment.quantity,
            by,
            now,
            case=case,
            shipment=shipment,
            deltas={"reserved": -shipment.quantity},
        )
        shipment.status, shipment.released_at = ReplacementStatus.RELEASED, now
        shipment.save(update_fields=["status", "released_at"])
    return [{"sku": s.sku, "quantity": s.quantity} for s in held]


def ship(case: AfterSalesCase, carrier: str, tracking_number: str, by: Any, now: datetime) -> list[ReplacementShipment]:
    """The reserved units leave the warehouse: the reservation is consumed (on hand and reserved both drop)."""
    held = list(case.replacements.filter(status=ReplacementStatus.RESERVED))
    rows = lock(s.sku for s in held)
    for shipment in held:
        _move(
            rows[shipment.sku],
            StockMovementKind.SHIP,
            shipment.quantity,
            by,
            now,
            case=case,
            shipment=shipment,
            deltas={"on_hand": -shipment.quantity, "reserved": -shipment.quantity},
        )
        shipment.status, shipment.shipped_at = ReplacementStatus.SHIPPED, now
        shipment.carrier, shipment.tracking_number = carrier, tracking_number
        shipment.save(update_fields=["status", "shipped_at", "carrier", "tracking_number"])
    return held


# The SKUs and quantities of a case's lines (read once per inspection).
_CASE_LINES = Prepared(
    lambda case_id: CaseItem.objects.filter(case_id=case_id).order_by("pk").values_list("order_item__sku", "quantity")
)


def receive_returned(case: AfterSalesCase, grade: str, by: Any) -> list[dict[str, Any]]:
    """Inspected returned goods join the returned-goods stock of their grade (A: resaleable, 二次销售)."""
    counts = _merge(_CASE_LINES.rows(case.pk))
    if not counts:
        return []
    rows = lock(counts)
    if len(rows) < len(counts):  # a SKU the shop never stocked here still gets its returns counted
        Stock.objects.bulk_create([Stock(sku=sku) for sku in counts if sku not in rows], ignore_conflicts=True)
        rows = lock(counts)  # with the rows just made (or made meanwhile by another case)
    now = timezone.now()
    for sku, quantity in counts.items():
        _move(
            rows[sku],
            StockMovementKind.RETURN,
            quantity,
            by,
            now,
            case=case,
            grade=grade,
            deltas={RETURNED_FIELD[grade]: quantity},
        )
    return [{"sku": sku, "quantity": q, "grade": grade} for sku, q in counts.items()]


def restock(row: Stock, quantity: int, by: Any, note: str = "") -> None:
    _move(row, StockMovementKind.RESTOCK, quantity, by, timezone.now(), note=note, deltas={"on_hand": quantity})


def resell(row: Stock, quantity: int, by: Any) -> None:
    """Grade A returned units go back into sellable stock (二次销售)."""
    if row.returned_a < quantity:
        raise InsufficientStock(
            _("Only %(left)s resaleable returned unit(s) of %(sku)s are in the warehouse.")
            % {"left": row.returned_a, "sku": row.sku},
            field="quantity",
        )
    _move(
        row,
        StockMovementKind.RESELL,
        quantity,
        by,
        timezone.now(),
        deltas={"returned_a": -quantity, "on_hand": quantity},
    )


def _check_available(row: Stock | None, sku: str, quantity: int) -> None:
    if row is None:
        raise ValidationFailed(
            _("%(sku)s is not a stocked SKU; choose one the warehouse holds.") % {"sku": sku},
            code="stock.unknown_sku",
            field="replacements",
        )
    if row.available < quantity:
        raise InsufficientStock(
            _("Not enough stock of %(sku)s: %(wanted)s wanted, %(available)s available.")
            % {"sku": sku, "wanted": quantity, "available": row.available},
            field="replacements",
        )


def _merge(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    return merged


def _move(
    row: Stock,
    kind: str,
    quantity: int,
    by: Any,
    now: datetime,
    *,
    case: AfterSalesCase | None = None,
    shipment: ReplacementShipment | None = None,
    grade: str = "",
    note: str = "",
    deltas: dict[str, int],
) -> None:
    """Apply counter changes to the locked row and write the ledger line."""
    Stock.objects.filter(pk=row.pk).update(updated_at=now, **{f: F(f) + d for f, d in deltas.items()})
    for field, delta in deltas.items():
        setattr(row, field, getattr(row, field) + delta)
    label = by.get_username() if getattr(by, "is_authenticated", False) else "system"
    StockMovement.objects.create(
        stock=row,
        kind=kind,
        quantity=quantity,
        grade=grade,
        case=case,
        shipment=shipment,
        created_at=now,
        actor_label=label,
        note=note[:300],
    )
