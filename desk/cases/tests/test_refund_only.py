"""Refund only (仅退款), approval limits by role, policy exceptions and policy versions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from desk.cases import services
from desk.cases.errors import NotReturnable
from desk.cases.models import (
    CaseState,
    CaseType,
    Exclusion,
    PolicyVersion,
    ProductRule,
    Reason,
    RefundStatus,
    ReturnPolicy,
)
from desk.cases.tests.conftest import at, lines
from desk.core.errors import Forbidden
from desk.core.models import Event
from desk.core.testing import make_order


def open_refund(order: Any, reason: str = Reason.NOT_RECEIVED, qty: tuple[int, ...] = (1,), by: Any = None) -> Any:
    return services.open_case(
        by=by, order=order, case_type=CaseType.REFUND_ONLY, reason=reason, items=lines(order, *qty)
    )


def test_refund_only_on_an_unshipped_order_refunds_everything_paid(
    paid_order: Any, agent: Any, senior_agent: Any, manager: Any
) -> None:
    case = open_refund(paid_order, reason=Reason.NO_REASON, qty=(2, 2))
    assert case.decision["rule"] == "not_shipped"
    assert (case.goods_amount, case.shipping_refund, case.refund_amount) == (
        Decimal("570.00"), Decimal("10.00"), Decimal("580.00"),
    )  # fmt: skip
    assert case.answer_due_at == at(5) + timedelta(hours=48)
    case = services.approve_case(case, by=manager)
    refund = services.start_refund(case, by=manager)
    assert refund.status == RefundStatus.CONFIRMED
    case.refresh_from_db()
    assert case.state == CaseState.REFUNDED
    assert services.close_case(case, by=agent).state == CaseState.CLOSED


def test_an_agent_approves_up_to_200_and_a_senior_above(paid_order: Any, agent: Any, senior_agent: Any) -> None:
    case = open_refund(paid_order, reason=Reason.NO_REASON, qty=(2,))  # 285.00
    with pytest.raises(Forbidden) as caught:
        services.approve_case(case, by=agent)
    assert caught.value.code == "permission.over_limit"
    denial = Event.objects.get(verb="permission.denied")
    assert denial.data == {"action": "case.approve", "amount": "285.00", "role": "agent"}
    assert services.approve_case(case, by=senior_agent).state == CaseState.APPROVED


def test_an_agent_may_approve_a_small_refund(paid_order: Any, agent: Any) -> None:
    case = open_refund(paid_order, reason=Reason.NO_REASON, qty=(1,))  # 142.50
    assert services.approve_case(case, by=agent).approved_by == agent


def test_a_supervisor_stops_at_10000_and_a_manager_has_no_limit(customer: Any, supervisor: Any, manager: Any) -> None:
    order = make_order(customer, items=1, unit_price="12000.00")
    case = open_refund(order, reason=Reason.NO_REASON)
    with pytest.raises(Forbidden) as caught:
        services.approve_case(case, by=supervisor)
    assert caught.value.code == "permission.over_limit"
    assert services.approve_case(case, by=manager).state == CaseState.APPROVED


def test_people_outside_the_desk_cannot_approve_or_refund(
    paid_order: Any, warehouse_clerk: Any, agent: Any, analyst: Any
) -> None:
    case = open_refund(paid_order, reason=Reason.NO_REASON)
    with pytest.raises(Forbidden):
        services.approve_case(case, by=warehouse_clerk)
    with pytest.raises(Forbidden):
        services.open_case(
            by=analyst,
            order=paid_order,
            case_type=CaseType.REFUND_ONLY,
            reason=Reason.OTHER,
            items=lines(paid_order, 1),
        )
    case = services.approve_case(case, by=agent)
    with pytest.raises(Forbidden) as caught:
        services.start_refund(case, by=agent)  # agents approve; finance-like roles pay
    assert caught.value.code == "permission.denied"


def test_a_request_the_policy_refuses_needs_a_stated_exception(
    delivered_order: Any, agent: Any, senior_agent: Any
) -> None:
    ProductRule.objects.create(sku=delivered_order.items.order_by("pk")[0].sku, exclusions=[Exclusion.CUSTOM_MADE])
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    assert case.decision["outcome"] == "refused"
    assert case.decision["rule"] == "excluded"
    with pytest.raises(NotReturnable) as caught:
        services.approve_case(case, by=senior_agent)
    assert caught.value.code == "case.not_returnable"
    with pytest.raises(Forbidden):
        services.approve_case(case, by=agent, policy_exception="老客户")  # agents may not make exceptions
    case = services.approve_case(case, by=senior_agent, policy_exception="老客户, 主管同意")
    assert Event.objects.filter(verb="case.approve", data__policy_exception="老客户, 主管同意").exists()


def test_a_case_keeps_the_policy_version_in_force_when_it_was_opened(delivered_order: Any, time_machine: Any) -> None:
    default = ReturnPolicy.objects.get(storefront=None, category="", sku="")
    PolicyVersion.objects.create(policy=default, version=2, effective_from=at(13), no_reason_days=15)
    before = open_refund(delivered_order, reason=Reason.NO_REASON)  # now is 11-12: version 1
    time_machine.move_to(at(20), tick=False)
    after = open_refund(delivered_order, reason=Reason.NO_REASON)
    assert (before.policy_version.version, after.policy_version.version) == (1, 2)
    assert before.decision["params"]["days"] == "7"
    assert after.decision["outcome"] == "allowed"
    assert after.decision["params"]["ends"] == "2026-11-25 23:59"


def test_the_most_specific_policy_wins(delivered_order: Any) -> None:
    sku = delivered_order.items.order_by("pk")[0].sku
    shop = ReturnPolicy.objects.create(name="本店", storefront=delivered_order.storefront)
    PolicyVersion.objects.create(policy=shop, version=1, effective_from=at(1), no_reason_days=10)
    ReturnPolicy.objects.create(name="inactive", sku=sku, active=False).versions.create(version=1, effective_from=at(1))
    assert open_refund(delivered_order, reason=Reason.NO_REASON, qty=(0, 1)).policy_version.policy == shop
    ProductRule.objects.create(sku=sku, category="earphones")
    category = ReturnPolicy.objects.create(name="耳机", category="earphones")
    PolicyVersion.objects.create(policy=category, version=1, effective_from=at(1), no_reason_days=30)
    case = open_refund(delivered_order, reason=Reason.NO_REASON)
    assert case.policy_version.policy == category
    product = ReturnPolicy.objects.create(name="this SKU", sku=sku)
    PolicyVersion.objects.create(policy=product, version=1, effective_from=at(1), no_reason_days=3)
    assert open_refund(delivered_order, reason=Reason.NO_REASON, qty=(0, 1)).policy_version.policy == shop
    assert open_refund(delivered_order, reason=Reason.NO_REASON, qty=(1,)).policy_version.policy == product
