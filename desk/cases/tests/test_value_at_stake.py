"""Approval limits count what the case gives away: refunds, compensation, and goods sent out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from desk.cases import services
from desk.cases.models import CaseState, CaseType, Reason
from desk.cases.tests.conftest import at, deliver, lines
from desk.core.errors import Forbidden
from desk.core.models import Event
from desk.core.testing import make_order


@pytest.fixture
def laptop_order(customer: Any, time_machine: Any) -> Any:
    """One 5,000.00 laptop, paid 11-05 and signed for 11-10; now is 11-12."""
    time_machine.move_to(at(5), tick=False)
    order = make_order(customer, items=1, unit_price="5000.00", payment_reference="PAY-L")
    order.total_amount = Decimal("5000.00")
    order.paid_at = order.placed_at = at(5)
    order.save()
    deliver(order)
    time_machine.move_to(at(12), tick=False)
    return order


@pytest.mark.parametrize("case_type", [CaseType.EXCHANGE, CaseType.RESHIP])
def test_goods_sent_out_count_against_the_approvers_limit(
    laptop_order: Any, agent: Any, senior_agent: Any, supervisor: Any, case_type: str
) -> None:
    case = services.open_case(
        by=None, order=laptop_order, case_type=case_type, reason=Reason.QUALITY, items=lines(laptop_order, 1)
    )
    assert case.refund_amount == Decimal("0.00")  # nothing is refunded ...
    assert services.value_at_stake(case) == Decimal("5000.00")  # ... but a 5,000 laptop goes out
    for too_small in (agent, senior_agent):  # limits 200 and 2,000
        with pytest.raises(Forbidden):
            services.approve_case(case, by=too_small)
    case.refresh_from_db()
    assert case.state == CaseState.REQUESTED
    case = services.approve_case(case, by=supervisor)  # limit 10,000
    assert case.state == CaseState.APPROVED
    approved = Event.objects.get(verb="case.approve", subject_id=case.pk)
    assert approved.data["value_at_stake"] == "5000.00"


def test_a_cheap_exchange_stays_within_an_agents_limit(delivered_order: Any, agent: Any) -> None:
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.EXCHANGE, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    assert services.value_at_stake(case) == Decimal("150.00")
    assert services.approve_case(case, by=agent).state == CaseState.APPROVED


def test_a_refund_counts_its_amount_and_its_compensation(delivered_order: Any) -> None:
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.DAMAGED,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    assert case.compensation_amount == Decimal("20.00")  # 双倍运费赔付
    assert services.value_at_stake(case) == case.refund_amount + Decimal("20.00")
