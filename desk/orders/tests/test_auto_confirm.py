"""Auto-confirm receipt: 10 days after delivery, paused while an after-sales case is open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from desk.cases import services
from desk.cases.models import CaseType, Reason
from desk.cases.tests.conftest import DELIVERED, at, deliver, lines
from desk.core.models import Event
from desk.core.testing import make_order
from desk.orders import services_confirm, tasks
from desk.orders.models import Order, OrderStatus

DEADLINE = DELIVERED + timedelta(days=10)  # 2026-11-20 15:30 Shanghai


def delivered(customer: Any, time_machine: Any) -> Order:
    time_machine.move_to(at(5), tick=False)
    order = deliver(make_order(customer, items=2))
    time_machine.move_to(at(11), tick=False)
    return order


def fresh(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def request(order: Order, quantity: tuple[int, ...] = (1,)) -> Any:
    return services.open_case(
        by=None, order=order, case_type=CaseType.REFUND_ONLY, reason=Reason.QUALITY, items=lines(order, *quantity)
    )


def order_verbs(order: Order) -> list[str]:
    rows = Event.objects.filter(subject_type="order", subject_id=order.pk, verb__startswith="order.auto_confirm")
    return list(rows.order_by("id").values_list("verb", flat=True))


def test_a_delivered_order_is_confirmed_ten_days_after_delivery_once(customer: Any, time_machine: Any) -> None:
    order = delivered(customer, time_machine)
    assert services_confirm.confirm_due_receipts() == {"scheduled": 1, "confirmed": 0}
    assert fresh(order).auto_confirm_at == DEADLINE
    time_machine.move_to(DEADLINE - timedelta(seconds=1), tick=False)
    assert services_confirm.confirm_due_receipts()["confirmed"] == 0
    time_machine.move_to(DEADLINE, tick=False)
    assert tasks.auto_confirm_receipts.call_local() == {"scheduled": 0, "confirmed": 1}
    assert (fresh(order).status, fresh(order).auto_confirm_at) == (OrderStatus.COMPLETED, None)
    assert order_verbs(order) == ["order.auto_confirm_scheduled", "order.auto_confirmed"]
    confirmed = Event.objects.get(verb="order.auto_confirmed")
    assert confirmed.after == {"status": "completed", "auto_confirm_at": None}
    assert services_confirm.confirm_due_receipts() == {"scheduled": 0, "confirmed": 0}


def test_the_storefront_sets_the_days(customer: Any, time_machine: Any) -> None:
    order = delivered(customer, time_machine)
    order.storefront.auto_confirm_days = 15
    order.storefront.save()
    services_confirm.confirm_due_receipts()
    assert fresh(order).auto_confirm_at == DELIVERED + timedelta(days=15)


def test_an_open_case_pauses_the_clock_and_closing_it_gives_back_the_days_left(
    customer: Any, time_machine: Any
) -> None:
    order = delivered(customer, time_machine)
    services_confirm.confirm_due_receipts()
    time_machine.move_to(at(12), tick=False)
    case = request(order)
    assert fresh(order).auto_confirm_paused_at == at(12)
    time_machine.move_to(DEADLINE + timedelta(days=1), tick=False)
    assert services_confirm.confirm_due_receipts()["confirmed"] == 0  # paused: not confirmed
    assert fresh(order).status == OrderStatus.DELIVERED
    services.withdraw_case(case)  # paused for 9 days 3:30 in all
    resumed = fresh(order)
    paused_for = DEADLINE + timedelta(days=1) - at(12)
    assert (resumed.auto_confirm_paused_at, resumed.auto_confirm_at) == (None, DEADLINE + paused_for)
    time_machine.move_to(DEADLINE + paused_for - timedelta(seconds=1), tick=False)
    assert services_confirm.confirm_due_receipts()["confirmed"] == 0
    time_machine.move_to(DEADLINE + paused_for, tick=False)
    assert services_confirm.confirm_due_receipts()["confirmed"] == 1
    assert order_verbs(order) == [
        "order.auto_confirm_scheduled",
        "order.auto_confirm_paused",
        "order.auto_confirm_resumed",
        "order.auto_confirmed",
    ]
    paused = Event.objects.get(verb="order.auto_confirm_paused")
    assert paused.data["reason"] == case.number


def test_the_clock_runs_again_only_when_the_last_open_case_closes(customer: Any, time_machine: Any) -> None:
    order = delivered(customer, time_machine)
    services_confirm.confirm_due_receipts()
    time_machine.move_to(at(12), tick=False)
    first, second = request(order, (1,)), request(order, (0, 1))
    time_machine.move_to(at(14), tick=False)
    services.withdraw_case(first)
    assert fresh(order).auto_confirm_paused_at == at(12)  # the second case is still open
    time_machine.move_to(at(16), tick=False)
    services.withdraw_case(second)
    assert fresh(order).auto_confirm_at == DEADLINE + (at(16) - at(12))
    assert order_verbs(order).count("order.auto_confirm_paused") == 1


def test_a_case_opened_before_delivery_counts_only_the_time_after_delivery(customer: Any, time_machine: Any) -> None:
    time_machine.move_to(at(5), tick=False)
    order = make_order(customer, items=1)
    case = request(order)
    assert fresh(order).auto_confirm_paused_at == at(5)
    deliver(order)
    time_machine.move_to(at(11), tick=False)
    assert services_confirm.confirm_due_receipts()["scheduled"] == 0  # paused orders are not armed
    time_machine.move_to(at(13), tick=False)
    services.withdraw_case(case)
    assert fresh(order).auto_confirm_at == DEADLINE + (at(13) - DELIVERED)
