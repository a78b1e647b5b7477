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


@pytest.fixture
def step(django_capture_on_commit_callbacks: Any) -> Any:
    """Run a service call and what follows its commit (the inline Huey jobs: notices, webhooks)."""

    def _step(action: Any, *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return _step


def ok(response: Any) -> Any:
    """The JSON of a 200 answer."""
    assert response.status_code == 200, response.content
    return response.json()


def error(response: Any, status: int) -> dict[str, Any]:
    """The error body of a `status` answer, in the API's one shape."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "field"}
    return dict(body)


def return_and_refund(step: Any, case: Any, agent: Any, clerk: Any, manager: Any) -> Any:
    """Walk a requested return case to its refund, each step with what follows its commit (`step`)."""
    from desk.cases import services
    from desk.cases.models import Grade

    case = step(services.approve_case, case, by=agent)
    case = step(services.send_return_instructions, case, by=agent, address="上海市嘉定区仓库路1号",
                contact="退货组", phone="021-5555", packing="原包装")  # fmt: skip
    case = step(services.record_return_shipment, case, carrier="SF", tracking_number="SF123")
    case = step(services.receive_return, case, by=clerk)
    case = step(services.inspect_return, case, by=clerk, grade=Grade.A, complete=True, original=True,
                defect=False, human_damage=False)  # fmt: skip
    step(services.start_refund, case, by=manager)
    case.refresh_from_db()
    return case


def open_return(step: Any, order: Any) -> Any:
    """A return-and-refund case the customer opened for the order's first line."""
    from desk.cases import services
    from desk.cases.models import CaseType, Reason

    return step(
        services.open_case, by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(order, 1),
    )  # fmt: skip


def open_repair(order: Any, mode: str) -> Any:
    """A quality repair the customer requested for the order's first line (mail-in or on-site)."""
    from desk.cases import services
    from desk.cases.models import CaseType, Reason

    return services.open_case(
        by=None, order=order, case_type=CaseType.REPAIR, reason=Reason.QUALITY, items=lines(order, 1),
        serial_number="SN-A1B2C3D4", service_mode=mode,
    )  # fmt: skip
