"""Return + refund (退货退款) end to end through the services, and the steps it refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from desk.cases import services
from desk.cases.errors import IllegalTransition
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    Grade,
    LedgerKind,
    Payer,
    Reason,
    RefundStatus,
    SimulatedPayout,
)
from desk.cases.tests.conftest import lines
from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event


def open_return(order: Any, by: Any = None, reason: str = Reason.NO_REASON, qty: tuple[int, ...] = (1,)) -> Any:
    return services.open_case(
        by=by, order=order, case_type=CaseType.RETURN_REFUND, reason=reason, items=lines(order, *qty)
    )


def verbs(case: Any) -> list[str]:
    return list(
        Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk)
        .order_by("id")
        .values_list("verb", flat=True)
    )


def test_a_return_goes_from_request_to_refund_and_closing(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    case = open_return(delivered_order, qty=(1,))
    assert case.number == f"AS{case.pk:07d}"
    assert case.state == CaseState.REQUESTED
    assert case.decision["rule"] == "no_reason_open"
    assert case.policy_version.version == 1
    assert case.refund_amount == Decimal("142.50")  # 150 of 300 on a line paying 285 after the order discount

    case = services.approve_case(case, by=agent)
    assert case.state == CaseState.APPROVED
    assert case.answer_due_at is None
    assert case.ship_due_at is not None
    case = services.send_return_instructions(
        case, by=agent, address="上海市嘉定区仓库路1号", contact="退货组", phone="021-5555", packing="原包装"
    )
    assert case.return_instructions["shipping_payer"] == Payer.CUSTOMER
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF123456789")
    assert (case.state, case.return_tracking_number) == (CaseState.RETURNING, "SF123456789")
    assert case.receive_due_at is not None
    case = services.receive_return(case, by=warehouse_clerk)
    assert case.receive_due_at is None
    assert case.refund_due_at is not None
    case = services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
    )
    assert case.inspection["passed"] is True

    refund = services.start_refund(case, by=manager)
    assert refund.status == RefundStatus.CONFIRMED
    assert refund.amount == Decimal("142.50")
    assert list(refund.entries.values_list("kind", flat=True)) == [
        LedgerKind.REQUESTED, LedgerKind.APPROVED, LedgerKind.SENT, LedgerKind.CONFIRMED,
    ]  # fmt: skip
    assert SimulatedPayout.objects.get().amount == Decimal("142.50")
    case.refresh_from_db()
    assert case.state == CaseState.REFUNDED
    case = services.close_case(case, by=agent)
    assert (case.state, case.close_reason) == (CaseState.CLOSED, "refunded")
    assert verbs(case) == [
        "case.opened", "case.approve", "case.send_instructions", "case.ship_return", "case.receive",
        "case.inspect", "case.start_refund", "case.confirm_refund", "case.close",
    ]  # fmt: skip


def test_a_rejected_request_closes_without_money(delivered_order: Any, agent: Any) -> None:
    case = services.reject_case(open_return(delivered_order), by=agent, reason="商品已使用")
    assert case.state == CaseState.REJECTED
    case = services.close_case(case, by=agent)
    assert case.close_reason == "rejected"
    assert not case.refunds.exists()


def test_a_return_failing_inspection_can_be_rejected(delivered_order: Any, agent: Any, warehouse_clerk: Any) -> None:
    case = services.approve_case(open_return(delivered_order), by=agent)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="YTO", tracking_number="YT1")
    case = services.receive_return(case, by=warehouse_clerk)
    case = services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.C, complete=False, original=True, defect=False, human_damage=True
    )
    assert case.inspection["passed"] is False
    case = services.reject_case(case, by=agent, reason="人为损坏")
    assert case.state == CaseState.REJECTED


@pytest.mark.parametrize(
    "step",
    [
        lambda c, staff: services.record_return_shipment(c, carrier="SF", tracking_number="SF1"),
        lambda c, staff: services.receive_return(c, by=staff["warehouse"]),
        lambda c, staff: services.start_refund(c, by=staff["manager"]),
        lambda c, staff: services.close_case(c, by=staff["agent"]),
    ],
)
def test_steps_out_of_order_are_a_clear_conflict(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any
) -> None:
    case = open_return(delivered_order)
    staff = {"agent": agent, "warehouse": warehouse_clerk, "manager": manager}
    with pytest.raises(IllegalTransition) as caught:
        step(case, staff)
    assert caught.value.code == "case.illegal_transition"
    assert caught.value.status == 409
    assert "requested" in caught.value.message
    assert "approve" in caught.value.message
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REQUESTED


def test_a_closed_case_cannot_be_approved_again(delivered_order: Any, agent: Any) -> None:
    case = services.withdraw_case(open_return(delivered_order))
    assert case.close_reason == "withdrawn"
    with pytest.raises(IllegalTransition):
        services.approve_case(case, by=agent)


def test_allowed_next_actions_follow_the_state(delivered_order: Any, agent: Any) -> None:
    case = open_return(delivered_order)
    assert services.allowed_actions(case) == ["approve", "reject", "withdraw"]
    case = services.approve_case(case, by=agent)
    assert services.allowed_actions(case) == ["expire", "send_instructions", "withdraw"]


def test_only_the_warehouse_and_leads_receive_and_inspect(delivered_order: Any, agent: Any) -> None:
    case = services.approve_case(open_return(delivered_order), by=agent)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF1")
    with pytest.raises(Forbidden) as caught:
        services.receive_return(case, by=agent)
    assert caught.value.code == "permission.denied"
    assert Event.objects.filter(verb="permission.denied", data__action="case.inspect").exists()


def test_a_shipment_needs_carrier_and_tracking(delivered_order: Any, agent: Any) -> None:
    case = services.approve_case(open_return(delivered_order), by=agent)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    with pytest.raises(ValidationFailed) as caught:
        services.record_return_shipment(case, carrier="SF", tracking_number=" ")
    assert caught.value.code == "case.no_tracking"


def test_a_customer_cannot_claim_more_units_than_were_bought(delivered_order: Any) -> None:
    open_return(delivered_order, qty=(2,))
    with pytest.raises(ValidationFailed) as caught:
        open_return(delivered_order, qty=(1,))
    assert caught.value.code == "case.bad_items"


def test_a_rejected_case_gives_its_units_back(delivered_order: Any, agent: Any) -> None:
    services.reject_case(open_return(delivered_order, qty=(2,)), by=agent, reason="不符合")
    assert open_return(delivered_order, qty=(2,)).state == CaseState.REQUESTED


def test_unknown_case_types_are_refused(delivered_order: Any, agent: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.open_case(
            by=agent, order=delivered_order, case_type="teleport", reason=Reason.QUALITY,
            items=lines(delivered_order, 1),
        )  # fmt: skip
    assert caught.value.code == "case.type_unsupported"


def test_a_case_opened_from_a_ticket_shows_in_the_tickets_history(delivered_order: Any, agent: Any) -> None:
    from desk.core.testing import make_customer, request_type
    from desk.tickets.services import create_ticket

    ticket = create_ticket(
        by=agent,
        customer=delivered_order.customer,
        subject="耳机想退",
        request_type=request_type(),
        order=delivered_order,
    )
    case = services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 1), ticket=ticket,
    )  # fmt: skip
    assert Event.objects.filter(ticket_id=ticket.pk, verb="case.opened", subject_id=case.pk).exists()
    stranger = create_ticket(by=agent, customer=make_customer("李雷"), subject="别的", request_type=request_type())
    with pytest.raises(ValidationFailed) as caught:
        services.open_case(
            by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
            items=lines(delivered_order, 0, 1), ticket=stranger,
        )  # fmt: skip
    assert caught.value.code == "case.ticket_mismatch"
