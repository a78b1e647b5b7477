"""Refund amounts, the ledger, the payment caps and the providers: never more than paid, never twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from desk.cases import money, payments, services, sweep
from desk.cases.errors import IllegalTransition, OverRefund, RefundConflict
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    LedgerKind,
    PolicyVersion,
    Reason,
    Refund,
    RefundStatus,
    SimulatedPayout,
)
from desk.cases.tests.conftest import lines
from desk.core.errors import Forbidden
from desk.core.models import Event
from desk.core.testing import make_order


def approved_refund_case(order: Any, by: Any, *qty: int, reason: str = Reason.NO_REASON) -> AfterSalesCase:
    case = services.open_case(
        by=None, order=order, case_type=CaseType.REFUND_ONLY, reason=reason, items=lines(order, *qty)
    )
    return services.approve_case(case, by=by)


def kinds(refund: Refund) -> list[str]:
    return list(refund.entries.values_list("kind", flat=True))


def test_the_order_discount_is_spread_over_lines_and_units(paid_order: Any) -> None:
    items = list(paid_order.items.order_by("pk"))
    assert money.paid_per_line(paid_order, items) == {items[0].pk: Decimal("285.00"), items[1].pk: Decimal("285.00")}


def test_split_units_never_add_up_to_more_than_the_line_paid(customer: Any, manager: Any) -> None:
    order = make_order(customer, items=2, unit_price="100.00")
    order.items.update(quantity=3)
    order.discount_amount, order.total_amount = Decimal("10.00"), Decimal("590.00")
    order.save()
    first = order.items.order_by("pk")[0].pk
    assert money.paid_per_line(order, list(order.items.all()))[first] == Decimal("295.00")
    amounts = [approved_refund_case(order, manager, 1).refund_amount for _ in range(3)]
    assert amounts == [Decimal("98.33"), Decimal("98.33"), Decimal("98.34")]  # the last unit takes the remainder


def test_the_restocking_fee_comes_off_a_no_reason_refund(delivered_order: Any, manager: Any) -> None:
    PolicyVersion.objects.filter(version=1).update(restocking_fee_percent=Decimal("10"))
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 2),
    )  # fmt: skip
    assert (case.goods_amount, case.restocking_fee, case.refund_amount) == (
        Decimal("285.00"), Decimal("28.50"), Decimal("256.50"),
    )  # fmt: skip


def test_shop_fault_earns_double_shipping_compensation_beside_the_refund(delivered_order: Any) -> None:
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.DAMAGED,
        items=lines(delivered_order, 2, 2),
    )  # fmt: skip
    assert case.return_shipping_payer == "shop"
    assert case.shipping_refund == Decimal("10.00")  # the whole order came back through the shop's fault
    assert case.compensation_amount == Decimal("20.00")  # 双倍运费, paid as compensation, not as refund
    assert case.refund_amount == Decimal("580.00")


def test_partial_refunds_on_one_payment_never_exceed_what_was_paid(paid_order: Any, manager: Any) -> None:
    paid_order.total_amount = Decimal("400.00")  # a platform coupon paid the rest
    paid_order.save()
    first = approved_refund_case(paid_order, manager, 2)
    assert services.start_refund(first, by=manager).status == RefundStatus.CONFIRMED
    second = approved_refund_case(paid_order, manager, 0, 2)
    with pytest.raises(OverRefund) as caught:
        services.start_refund(second, by=manager)
    assert caught.value.code == "refund.over_paid"
    assert "115.00" in caught.value.message  # what is left, in the active language
    assert AfterSalesCase.objects.get(pk=second.pk).state == CaseState.APPROVED
    assert money.refundable(paid_order) == Decimal("115.00")
    assert SimulatedPayout.objects.count() == 1


def test_a_case_is_never_refunded_twice(paid_order: Any, manager: Any) -> None:
    case = approved_refund_case(paid_order, manager, 1)
    refund = services.start_refund(case, by=manager)
    with pytest.raises(IllegalTransition):
        services.start_refund(case, by=manager)
    with pytest.raises(RefundConflict) as caught:
        services.retry_refund(refund, by=manager)
    assert caught.value.code == "refund.already_confirmed"
    assert SimulatedPayout.objects.count() == 1
    assert Refund.objects.count() == 1


def test_a_lost_provider_answer_is_recovered_by_a_retry_without_paying_twice(paid_order: Any, manager: Any) -> None:
    case = approved_refund_case(paid_order, manager, 1)
    payments.simulated.fail_next = "lose_response"
    refund = services.start_refund(case, by=manager)
    assert refund.status == RefundStatus.SENT  # paid, but we do not know it yet
    assert SimulatedPayout.objects.count() == 1
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REFUNDING
    number = refund.refund_number
    refund = services.retry_refund(refund, by=manager)
    assert (refund.status, refund.refund_number, refund.attempts) == (RefundStatus.CONFIRMED, number, 2)
    assert SimulatedPayout.objects.get().amount == refund.amount
    assert payments.simulated.calls == 2
    assert kinds(refund) == [
        LedgerKind.REQUESTED, LedgerKind.APPROVED, LedgerKind.SENT, LedgerKind.RETRIED, LedgerKind.CONFIRMED,
    ]  # fmt: skip
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REFUNDED


def test_a_crash_between_sent_and_confirmed_is_finished_by_the_sweep(
    paid_order: Any, manager: Any, monkeypatch: Any, time_machine: Any
) -> None:
    case = approved_refund_case(paid_order, manager, 1)

    def worker_killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("worker killed after the provider paid")

    with monkeypatch.context() as patched:
        patched.setattr(services, "_confirm", worker_killed)
        with pytest.raises(SystemExit):
            services.start_refund(case, by=manager)
    refund = Refund.objects.get(case=case)
    assert refund.status == RefundStatus.SENT
    assert SimulatedPayout.objects.count() == 1
    assert sweep.run()["refunds_retried"] == 0  # not stale yet: the provider may still answer
    time_machine.shift(timedelta(minutes=11))
    assert sweep.run()["refunds_retried"] == 1
    refund.refresh_from_db()
    assert refund.status == RefundStatus.CONFIRMED
    assert SimulatedPayout.objects.count() == 1
    assert SimulatedPayout.objects.get().refund_number == refund.refund_number


def test_a_declined_refund_is_recorded_and_retried_with_the_same_number(paid_order: Any, manager: Any) -> None:
    case = approved_refund_case(paid_order, manager, 1)
    payments.simulated.fail_next = "decline"
    refund = services.start_refund(case, by=manager)
    assert refund.status == RefundStatus.FAILED
    assert SimulatedPayout.objects.count() == 0
    assert Event.objects.filter(verb="case.refund_failed", subject_id=case.pk).exists()
    retried = services.retry_refund(refund, by=manager)
    assert (retried.status, retried.refund_number) == (RefundStatus.CONFIRMED, refund.refund_number)
    assert LedgerKind.FAILED in kinds(retried)


def test_an_unreachable_provider_leaves_the_refund_sent_for_a_retry(paid_order: Any, manager: Any) -> None:
    case = approved_refund_case(paid_order, manager, 1)
    payments.simulated.fail_next = "down"
    refund = services.start_refund(case, by=manager)
    assert refund.status == RefundStatus.SENT
    assert SimulatedPayout.objects.count() == 0
    assert services.retry_refund(refund, by=manager).status == RefundStatus.CONFIRMED


def test_a_manual_refund_waits_for_finance_to_mark_it_paid(paid_order: Any, manager: Any, supervisor: Any) -> None:
    case = approved_refund_case(paid_order, manager, 1)
    refund = services.start_refund(case, by=manager, provider="manual")
    assert refund.status == RefundStatus.SENT
    assert refund.provider == "manual"
    with pytest.raises(Forbidden):
        services.mark_refund_done(refund, by=supervisor, reference="BANK-1")
    refund = services.mark_refund_done(refund, by=manager, reference="BANK-20261112-1")
    assert (refund.status, refund.provider_reference) == (RefundStatus.CONFIRMED, "BANK-20261112-1")
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REFUNDED
    with pytest.raises(RefundConflict):
        services.mark_refund_done(refund, by=manager, reference="BANK-1")
    assert SimulatedPayout.objects.count() == 0


def test_refunds_stop_a_year_after_payment(paid_order: Any, manager: Any, time_machine: Any) -> None:
    case = approved_refund_case(paid_order, manager, 1)
    time_machine.shift(timedelta(days=366))
    with pytest.raises(RefundConflict) as caught:
        services.start_refund(case, by=manager)
    assert caught.value.code == "refund.too_late"


def test_the_payment_caps_default_to_the_providers_rules(db: Any) -> None:
    version = PolicyVersion.objects.get(policy__sku="", policy__category="", policy__storefront=None)
    assert (version.max_refunds_per_payment, version.refund_window_days) == (50, 365)


def test_a_payment_takes_at_most_n_partial_refunds(paid_order: Any, manager: Any) -> None:
    PolicyVersion.objects.update(max_refunds_per_payment=1)  # the shop's data, edited before any case uses it
    services.start_refund(approved_refund_case(paid_order, manager, 1), by=manager)
    with pytest.raises(RefundConflict) as caught:
        services.start_refund(approved_refund_case(paid_order, manager, 1), by=manager)
    assert caught.value.code == "refund.too_many"


def test_the_refund_window_is_the_policys_data(paid_order: Any, manager: Any, time_machine: Any) -> None:
    PolicyVersion.objects.update(refund_window_days=30)
    case = approved_refund_case(paid_order, manager, 1)
    time_machine.shift(timedelta(days=31))
    with pytest.raises(RefundConflict) as caught, translation.override("en"):
        services.start_refund(case, by=manager)
    assert caught.value.code == "refund.too_late"
    assert "within 30 days of payment" in str(caught.value)
