"""Timeouts fired by the periodic sweep after a clock jump, each exactly once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from desk.cases import services, sweep, tasks
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    PolicyVersion,
    ProductRule,
    Reason,
    RefundStatus,
    SimulatedPayout,
)
from desk.cases.tests.conftest import lines
from desk.core.models import Event
from desk.orders.models import OrderStatus, Shipment


def request(
    order: Any, case_type: str = CaseType.REFUND_ONLY, reason: str = Reason.NOT_RECEIVED, qty: tuple[int, ...] = (1,)
) -> Any:
    return services.open_case(by=None, order=order, case_type=case_type, reason=reason, items=lines(order, *qty))


def state(case: Any) -> str:
    return AfterSalesCase.objects.get(pk=case.pk).state


def case_verbs(case: Any) -> list[str]:
    rows = Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk).order_by("id")
    return list(rows.values_list("verb", flat=True))


def ship(order: Any) -> None:
    Shipment.objects.create(order=order, carrier="SF", tracking_number="SF9", shipped_at=order.paid_at)
    order.status = OrderStatus.SHIPPED
    order.save(update_fields=["status"])


def test_an_unanswered_refund_before_shipment_is_approved_and_paid_after_48_hours(
    paid_order: Any, time_machine: Any
) -> None:
    case = request(paid_order, reason=Reason.NO_REASON)
    time_machine.shift(timedelta(hours=47, minutes=59))
    assert sweep.run()["auto_approved"] == 0
    time_machine.shift(timedelta(minutes=1))
    result = sweep.run()
    assert result["auto_approved"] == 1
    assert state(case) == CaseState.REFUNDED
    assert SimulatedPayout.objects.get().amount == Decimal("142.50")
    assert case_verbs(case) == ["case.opened", "case.approve", "case.start_refund", "case.confirm_refund"]
    assert Event.objects.get(verb="case.approve").data["auto"] is True
    assert sweep.run()["auto_approved"] == 0  # claimed once: a second run finds nothing
    assert SimulatedPayout.objects.count() == 1


def test_after_shipment_the_shop_has_five_days(paid_order: Any, time_machine: Any) -> None:
    ship(paid_order)
    case = request(paid_order)
    assert case.decision["rule"] == "not_received"
    time_machine.shift(timedelta(days=4, hours=23))
    assert sweep.run()["auto_approved"] == 0
    time_machine.shift(timedelta(hours=1))
    assert sweep.run()["auto_approved"] == 1
    assert state(case) == CaseState.REFUNDED


def test_virtual_goods_get_three_days(paid_order: Any, time_machine: Any) -> None:
    ship(paid_order)
    ProductRule.objects.create(sku=paid_order.items.order_by("pk")[0].sku, is_virtual=True)
    case = request(paid_order)
    time_machine.shift(timedelta(days=3))
    assert sweep.run()["auto_approved"] == 1
    assert state(case) == CaseState.REFUNDED


def test_a_case_answered_in_time_is_left_alone(paid_order: Any, agent: Any, time_machine: Any) -> None:
    case = services.approve_case(request(paid_order, reason=Reason.NO_REASON), by=agent)
    time_machine.shift(timedelta(days=3))
    result = sweep.run()
    assert set(result) >= {"auto_approved", "escalated", "expired", "auto_refunded", "refunds_retried"}
    assert result | {"seconds": 0} == dict.fromkeys(result, 0)  # nothing was due: every count is zero
    assert state(case) == CaseState.APPROVED


def test_above_the_auto_approve_cap_the_request_is_escalated_instead(paid_order: Any, time_machine: Any) -> None:
    PolicyVersion.objects.filter(version=1).update(auto_approve_max_amount=Decimal("100.00"))
    case = request(paid_order, reason=Reason.NO_REASON)  # 142.50
    time_machine.shift(timedelta(hours=49))
    assert sweep.run()["escalated"] == 1
    assert state(case) == CaseState.REQUESTED
    assert case_verbs(case)[-1] == "case.answer_overdue"
    assert sweep.run()["escalated"] == 0  # escalated once


def test_a_request_needing_review_is_escalated_not_approved(delivered_order: Any, time_machine: Any) -> None:
    case = request(delivered_order)  # "never arrived" but signed for: review
    assert case.decision["outcome"] == "review"
    time_machine.shift(timedelta(days=6))
    assert sweep.run()["escalated"] == 1
    assert state(case) == CaseState.REQUESTED


def test_an_unanswered_return_request_is_escalated(delivered_order: Any, time_machine: Any) -> None:
    case = request(delivered_order, CaseType.RETURN_REFUND, Reason.NO_REASON)
    time_machine.shift(timedelta(days=5))
    assert sweep.run()["escalated"] == 1
    assert state(case) == CaseState.REQUESTED


def test_a_return_not_shipped_in_seven_days_closes_with_a_notice(
    delivered_order: Any, agent: Any, time_machine: Any
) -> None:
    case = services.approve_case(request(delivered_order, CaseType.RETURN_REFUND, Reason.NO_REASON), by=agent)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    time_machine.shift(timedelta(days=6, hours=23))
    assert sweep.run()["expired"] == 0
    time_machine.shift(timedelta(hours=1))
    assert sweep.run()["expired"] == 1
    closed = AfterSalesCase.objects.get(pk=case.pk)
    assert (closed.state, closed.close_reason) == (CaseState.CLOSED, "expired")
    notice = Event.objects.get(verb="case.notice", subject_id=case.pk)
    assert notice.data["kind"] == "auto_closed"
    assert notice.data["channel"] == "web"
    assert case.number in notice.data["message"]
    assert case_verbs(case)[-2:] == ["case.expire", "case.notice"]
    assert request(delivered_order, CaseType.RETURN_REFUND, Reason.NO_REASON).pk  # the units are free again


def test_a_shipped_return_the_shop_never_confirms_is_refunded_after_ten_days(
    delivered_order: Any, agent: Any, time_machine: Any
) -> None:
    case = services.approve_case(request(delivered_order, CaseType.RETURN_REFUND, Reason.NO_REASON), by=agent)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF77")
    time_machine.shift(timedelta(days=9, hours=23))
    assert sweep.run()["auto_refunded"] == 0
    time_machine.shift(timedelta(hours=1))
    assert sweep.run()["auto_refunded"] == 1
    case.refresh_from_db()
    assert case.state == CaseState.REFUNDED
    refund = case.refunds.get()
    assert refund.status == RefundStatus.CONFIRMED
    assert Event.objects.get(verb="case.start_refund").data["auto"] is True
    assert sweep.run()["auto_refunded"] == 0


def test_the_periodic_task_runs_the_sweep(paid_order: Any, time_machine: Any) -> None:
    case = request(paid_order, reason=Reason.NO_REASON)
    time_machine.shift(timedelta(days=2, minutes=1))
    assert tasks.sweep_cases.call_local()["auto_approved"] == 1
    assert state(case) == CaseState.REFUNDED


def test_an_auto_refund_the_payment_cannot_cover_is_escalated_instead(paid_order: Any, time_machine: Any) -> None:
    first = request(paid_order, reason=Reason.NO_REASON)
    second = request(paid_order, reason=Reason.NO_REASON, qty=(0, 1))
    paid_order.total_amount = Decimal("150.00")  # the second refund would exceed the payment
    paid_order.save()
    time_machine.shift(timedelta(days=2, minutes=1))
    result = sweep.run()
    assert (result["auto_approved"], result["escalated"]) == (1, 1)
    assert state(first) == CaseState.REFUNDED
    assert state(second) == CaseState.REQUESTED  # approval rolled back with the refused refund
    overdue = Event.objects.get(verb="case.answer_overdue", subject_id=second.pk)
    assert overdue.data["auto_action_refused"] == "refund.over_paid"
    assert sweep.run()["escalated"] == 0
    assert SimulatedPayout.objects.count() == 1
