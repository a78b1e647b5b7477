"""Goods must come back intact (no-reason returns): the inspection holds the refund, an agent decides."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from desk.cases import services
from desk.cases.errors import RefundConflict
from desk.cases.models import CaseState, CaseType, Exclusion, Grade, ProductRule, Reason, RefundStatus
from desk.cases.tests.conftest import error, lines, ok
from desk.cases.tests.test_api import Api, opened
from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event


def inspected(order: Any, agent: Any, clerk: Any, *, reason: str = Reason.NO_REASON, **found: Any) -> Any:
    """A return of one unit of the first line, shipped back, received and inspected with `found`."""
    opened = found.pop("opened_at_request", False)
    case = services.open_case(
        by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=reason, items=lines(order, 1), opened=opened
    )
    case = services.approve_case(case, by=agent)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF1")
    case = services.receive_return(case, by=clerk)
    findings = {"grade": Grade.A, "complete": True, "original": True, "defect": False, "human_damage": False}
    return services.inspect_return(case, by=clerk, **(findings | found))


def test_a_damaged_no_reason_return_is_not_refunded_in_full(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk, grade=Grade.C, human_damage=True)
    assert case.inspection["passed"] is False
    assert case.inspection["hold"] == {"rule": "not_intact", "params": {"findings": "human_damage,grade_c"},
                                       "policy_version": 1}  # fmt: skip
    event = Event.objects.get(verb="case.inspect", subject_id=case.pk)
    assert event.data["hold"]["rule"] == "not_intact"  # the rule cited on the record
    with pytest.raises(RefundConflict) as caught, translation.override("en"):
        services.start_refund(case, by=manager)
    assert caught.value.code == "refund.held"
    assert "goods must come back intact" in caught.value.message
    assert not case.refunds.exists()


def test_an_agent_decides_a_deduction_and_the_rest_is_refunded(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk, complete=False)
    assert case.refund_amount == Decimal("142.50")
    case = services.settle_inspection(case, by=agent, deduction=Decimal("42.50"), reason="缺少充电线, 折价")
    assert (case.deduction, case.refund_amount) == (Decimal("42.50"), Decimal("100.00"))
    settled = Event.objects.get(verb="case.settle_inspection", subject_id=case.pk)
    assert settled.data["rule"] == "not_intact"
    assert settled.data["policy_version"] == 1
    assert (settled.data["deduction"], settled.data["refund_amount"]) == ("42.50", "100.00")
    refund = services.start_refund(case, by=manager)
    assert (refund.status, refund.amount) == (RefundStatus.CONFIRMED, Decimal("100.00"))
    with pytest.raises(RefundConflict) as again:
        services.settle_inspection(case, by=agent, deduction=Decimal("1"), reason="again")
    assert again.value.code == "refund.not_held"


def test_a_full_refund_despite_the_condition_is_a_stated_policy_exception(
    delivered_order: Any, agent: Any, senior_agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk, original=False)
    with pytest.raises(Forbidden):
        services.settle_inspection(case, by=agent, deduction=Decimal("0"), reason="老客户")
    with pytest.raises(ValidationFailed) as no_reason:
        services.settle_inspection(case, by=senior_agent, deduction=Decimal("0"), reason=" ")
    assert no_reason.value.code == "case.no_reason"
    with pytest.raises(ValidationFailed) as everything:
        services.settle_inspection(case, by=senior_agent, deduction=Decimal("142.50"), reason="全扣")
    assert everything.value.code == "refund.bad_deduction"  # refunding nothing is a rejection
    case = services.settle_inspection(case, by=senior_agent, deduction=Decimal("0"), reason="老客户, 破例全额")
    assert Event.objects.get(verb="case.settle_inspection", subject_id=case.pk).data["policy_exception"]
    assert services.start_refund(case, by=manager).amount == Decimal("142.50")


def test_a_return_not_intact_can_instead_be_rejected_and_sent_back(
    delivered_order: Any, agent: Any, warehouse_clerk: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk, human_damage=True)
    case = services.reject_case(case, by=agent, reason="人为损坏, 退回商品")
    assert case.state == CaseState.REJECTED


def test_a_quality_return_in_poor_condition_is_refunded_in_full(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk, reason=Reason.QUALITY, grade=Grade.C, defect=True)
    assert "hold" not in case.inspection
    assert services.start_refund(case, by=manager).status == RefundStatus.CONFIRMED


@pytest.fixture
def dvd(delivered_order: Any) -> str:
    sku = str(delivered_order.items.order_by("pk").first().sku)
    ProductRule.objects.create(sku=sku, exclusions=[Exclusion.UNSEALED_DIGITAL])
    return sku


def test_a_sealed_unit_of_goods_excluded_once_opened_may_be_returned(
    delivered_order: Any, dvd: str, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk, opened=False)
    assert (case.decision["rule"], case.unit_opened) == ("no_reason_open", False)
    assert services.start_refund(case, by=manager).status == RefundStatus.CONFIRMED


def test_a_unit_said_sealed_but_found_opened_has_its_refund_held(
    delivered_order: Any, dvd: str, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk, opened=True)
    assert case.unit_opened is True
    assert case.inspection["hold"]["rule"] == "returned_opened"
    with pytest.raises(RefundConflict):
        services.start_refund(case, by=manager)


def test_an_opened_unit_is_refused_and_an_unknown_one_is_reviewed(delivered_order: Any, dvd: str) -> None:
    def opened(state: bool | None) -> Any:
        return services.open_case(
            by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
            items=lines(delivered_order, 0, 1) if state is None else lines(delivered_order, 1), opened=state,
        )  # fmt: skip

    assert opened(True).decision["outcome"] == "refused"
    ProductRule.objects.filter(sku=dvd).update(sku=str(delivered_order.items.order_by("pk")[1].sku))
    assert opened(None).decision["rule"] == "opened_unknown"


def test_over_the_api_the_inspection_holds_the_refund_and_the_agent_decides(
    delivered_order: Any, client: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    desk, clerk, finance = Api(client, agent), Api(client, warehouse_clerk), Api(client, manager)
    number = opened(desk, delivered_order, 1, opened=False)["number"]
    ok(desk.post(f"/{number}/approve"))
    ok(desk.post(f"/{number}/return-instructions", {"address": "上海仓", "contact": "退货组", "phone": "021-5555"}))
    ok(desk.post(f"/{number}/return-shipment", {"carrier": "SF", "tracking_number": "SF9"}))
    ok(clerk.post(f"/{number}/receive"))
    found = {"grade": "C", "complete": True, "original": True, "defect": False, "human_damage": True, "opened": True}
    case = ok(clerk.post(f"/{number}/inspect", found))
    assert case["inspection"]["hold"]["rule"] == "not_intact"
    assert error(finance.post(f"/{number}/refund"), 409)["code"] == "refund.held"
    assert error(desk.post(f"/{number}/settle-inspection", {"deduction": "-1", "reason": "x"}), 400)["field"]
    case = ok(desk.post(f"/{number}/settle-inspection", {"deduction": "50.00", "reason": "外壳磕碰, 折价 50"}))
    assert case["amounts"]["refund"] == "92.50"
    assert case["inspection"]["settled"]["deduction"] == "50.00"
    case = ok(finance.post(f"/{number}/refund"))
    assert case["refunds"][0]["amount"] == "92.50"


def test_on_the_case_page_the_hold_is_shown_and_decided_and_finance_waits(
    delivered_order: Any, client: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk, complete=False, opened=False)
    client.force_login(manager)
    assert case.number not in client.get(reverse("cases:refunds")).content.decode()  # not ready for finance
    client.force_login(agent)
    page = client.get(reverse("cases:detail", args=[case.number]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "goods must come back intact, the inspection found: parts or accessories missing" in page
    assert 'data-action="settle_inspection"' in page
    action = reverse("cases:action", args=[case.number, "settle_inspection"])
    assert client.post(action, {"deduction": "30", "reason": "缺耳机套"}).status_code == 302
    case.refresh_from_db()
    assert case.refund_amount == Decimal("112.50")
    page = client.get(reverse("cases:detail", args=[case.number])).content.decode()
    assert 'data-testid="deduction"' in page
    assert 'data-action="settle_inspection"' not in page
    client.force_login(manager)
    assert case.number in client.get(reverse("cases:refunds")).content.decode()
