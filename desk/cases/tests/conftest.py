"""Orders as the cases app needs them: paid, shipped and signed for on a known day."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from desk.cases import payments
from desk.core.testing import make_order
from desk.orders.models import OrderStatus, Shipment, ShipmentStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")
DELIVERED = datetime(2026, 11, 10, 15, 30, tzinfo=SHANGHAI)


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


def deliver(order: Any, when: datetime = DELIVERED) -> Any:
    Shipment.objects.create(
        order=order,
        carrier="SF",
        tracking_number=f"SF{order.pk:010d}",
        status=ShipmentStatus.DELIVERED,
        shipped_at=when - timedelta(days=2),
        delivered_at=when,
    )
    order.status = OrderStatus.DELIVERED
    order.save(update_fields=["status"])
    return order


def lines(order: Any, *quantities: int) -> list[tuple[Any, int]]:
    items = list(order.items.order_by("pk"))
    return [(item, q) for item, q in zip(items, quantities, strict=False) if q]


@pytest.fixture(autouse=True)
def _clean_simulated_provider() -> Any:
    payments.simulated.fail_next = None
    payments.simulated.calls = 0
    yield
    payments.simulated.fail_next = None


@pytest.fixture
def paid_order(customer: Any, time_machine: Any) -> Any:
    """Two lines of 2 × 150.00, paid 2026-11-05, shipping 10.00, order discount 30.00: 580.00 paid."""
    time_machine.move_to(at(5), tick=False)
    order = make_order(customer, items=2, unit_price="150.00", payment_reference="PAY-1")
    order.items.update(quantity=2)
    order.shipping_fee, order.discount_amount = Decimal("10.00"), Decimal("30.00")
    order.total_amount = Decimal("580.00")
    order.paid_at = order.placed_at = at(5)
    order.save()
    return order


@pytest.fixture
def delivered_order(paid_order: Any, time_machine: Any) -> Any:
    deliver(paid_order)
    time_machine.move_to(at(12), tick=False)
    return paid_order
