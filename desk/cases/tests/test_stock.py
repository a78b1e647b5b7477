"""Stock moved by exchanges and reships: restock, reserve, release, ship, and returned goods by grade."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils.translation import override

from desk.cases import services
from desk.cases import services_exchange as exchange
from desk.cases.errors import InsufficientStock
from desk.cases.models import (
    CaseState,
    CaseType,
    ExchangeMode,
    Grade,
    Reason,
    ReplacementStatus,
    Stock,
    StockMovementKind,
)
from desk.cases.tests.conftest import lines
from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event


def stock_of(sku: str) -> Stock:
    return Stock.objects.get(sku=sku)


def approved_exchange(order: Any, agent: Any, qty: tuple[int, ...] = (1,)) -> Any:
    case = services.open_case(
        by=agent, order=order, case_type=CaseType.EXCHANGE, reason=Reason.QUALITY, items=lines(order, *qty)
    )
    return services.approve_case(case, by=agent)


def first_sku(order: Any) -> str:
    return str(order.items.order_by("pk").first().sku)


def test_the_warehouse_restocks_a_sku_and_the_ledger_says_so(warehouse_clerk: Any) -> None:
    row = exchange.restock_sku("BT-100-BLK", by=warehouse_clerk, quantity=5, model="BT-100", spec="black")
    row = exchange.restock_sku("BT-100-BLK", by=warehouse_clerk, quantity=2)
    assert (row.on_hand, row.reserved, row.available, row.model) == (7, 0, 7, "BT-100")
    assert list(row.movements.values_list("kind", "quantity")) == [
        (StockMovementKind.RESTOCK, 5),
        (StockMovementKind.RESTOCK, 2),
    ]
    assert Event.objects.filter(verb="stock.restock", subject_id=row.pk).count() == 2


def test_an_agent_may_not_receive_stock(agent: Any) -> None:
    with pytest.raises(Forbidden) as caught:
        exchange.restock_sku("BT-100-BLK", by=agent, quantity=5)
    assert caught.value.code == "permission.denied"
    assert not Stock.objects.exists()


def test_a_restock_needs_a_positive_quantity(warehouse_clerk: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        exchange.restock_sku("BT-100-BLK", by=warehouse_clerk, quantity=0)
    assert caught.value.code == "stock.bad_quantity"


def test_a_replacement_beyond_the_stock_is_refused_and_nothing_is_held(
    delivered_order: Any, agent: Any, senior_agent: Any, warehouse_clerk: Any
) -> None:
    sku = first_sku(delivered_order)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=1, model="BT-100")
    case = approved_exchange(delivered_order, senior_agent, qty=(2,))  # 300.00 of goods: above an agent's 200
    with override("en"), pytest.raises(InsufficientStock) as caught:
        exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.RETURN_FIRST)
    assert (caught.value.code, caught.value.status) == ("stock.insufficient", 409)
    assert "2 wanted, 1 available" in caught.value.message
    case.refresh_from_db()
    assert (case.state, case.exchange_mode) == (CaseState.APPROVED, "")
    assert stock_of(sku).reserved == 0
    assert not case.replacements.exists()


def test_reserved_units_are_not_available_to_the_next_case(
    delivered_order: Any, agent: Any, warehouse_clerk: Any
) -> None:
    sku = first_sku(delivered_order)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=1, model="BT-100")
    exchange.reserve_replacement(approved_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.RETURN_FIRST)
    assert (stock_of(sku).on_hand, stock_of(sku).reserved, stock_of(sku).available) == (1, 1, 0)
    second = approved_exchange(delivered_order, agent)
    with pytest.raises(InsufficientStock):
        exchange.reserve_replacement(second, by=agent, mode=ExchangeMode.RETURN_FIRST)


def test_an_unknown_sku_is_refused(delivered_order: Any, agent: Any) -> None:
    case = approved_exchange(delivered_order, agent)
    with pytest.raises(ValidationFailed) as caught:
        exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.RETURN_FIRST, replacements=[("NOPE", 1)])
    assert caught.value.code == "stock.unknown_sku"


def test_a_withdrawn_case_releases_its_reservation(delivered_order: Any, agent: Any, warehouse_clerk: Any) -> None:
    sku = first_sku(delivered_order)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=3, model="BT-100")
    case = exchange.reserve_replacement(
        approved_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.RETURN_FIRST
    )
    assert stock_of(sku).reserved == 1
    case = services.withdraw_case(case)
    assert (case.state, case.close_reason) == (CaseState.CLOSED, "withdrawn")
    row = stock_of(sku)
    assert (row.on_hand, row.reserved) == (3, 0)
    assert case.replacements.get().status == ReplacementStatus.RELEASED
    assert list(case.stock_movements.values_list("kind", flat=True)) == [
        StockMovementKind.RESERVE,
        StockMovementKind.RELEASE,
    ]
    withdrawn = Event.objects.get(verb="case.withdraw", subject_id=case.pk)
    assert withdrawn.data["released"] == [{"sku": sku, "quantity": 1}]


def test_shipping_consumes_the_reservation(delivered_order: Any, agent: Any, warehouse_clerk: Any) -> None:
    sku = first_sku(delivered_order)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=3, model="BT-100")
    delivered_order.customer.tier = "vip"
    delivered_order.customer.save(update_fields=["tier"])
    case = exchange.reserve_replacement(
        approved_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST
    )
    exchange.ship_replacement(
        case,
        by=warehouse_clerk,
        carrier="SF",
        tracking_number="SF900",
        return_address="仓库",
        return_contact="换货组",
        return_phone="021-5555",
    )
    row = stock_of(sku)
    assert (row.on_hand, row.reserved, row.available) == (2, 0, 2)
    assert list(row.movements.filter(case=case).values_list("kind", flat=True)) == [
        StockMovementKind.RESERVE,
        StockMovementKind.SHIP,
    ]


@pytest.mark.parametrize(
    ("grade", "field"),
    [(Grade.A, "returned_a"), (Grade.B, "returned_b"), (Grade.C, "returned_c"), (Grade.SUPPLIER, "returned_supplier")],
)
def test_an_inspected_return_joins_the_returned_stock_of_its_grade(
    delivered_order: Any, supervisor: Any, warehouse_clerk: Any, grade: str, field: str
) -> None:
    sku = first_sku(delivered_order)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=4)
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 2),
    )  # fmt: skip
    case = services.approve_case(case, by=supervisor)
    case = services.send_return_instructions(case, by=supervisor, address="仓库", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF1")
    case = services.receive_return(case, by=warehouse_clerk)
    services.inspect_return(
        case, by=warehouse_clerk, grade=grade, complete=True, original=True, defect=False, human_damage=False
    )
    row = stock_of(sku)
    assert getattr(row, field) == 2
    assert row.on_hand == 4  # returned goods are counted apart from sellable stock
    others = {"returned_a", "returned_b", "returned_c", "returned_supplier"} - {field}
    assert all(getattr(row, f) == 0 for f in others)
    movement = row.movements.get(kind=StockMovementKind.RETURN)
    assert (movement.quantity, movement.grade, movement.case_id) == (2, grade, case.pk)
    inspected = Event.objects.get(verb="case.inspect", subject_id=case.pk)
    assert inspected.data["stock"] == [{"sku": sku, "quantity": 2, "grade": grade}]


def test_a_return_of_a_sku_never_stocked_still_counts(delivered_order: Any, agent: Any, warehouse_clerk: Any) -> None:
    sku = first_sku(delivered_order)
    case = services.approve_case(
        services.open_case(
            by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
            items=lines(delivered_order, 1),
        ),
        by=agent,
    )  # fmt: skip
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF1")
    case = services.receive_return(case, by=warehouse_clerk)
    services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
    )
    assert (stock_of(sku).on_hand, stock_of(sku).returned_a) == (0, 1)


def test_resaleable_returns_go_back_on_sale(delivered_order: Any, supervisor: Any, warehouse_clerk: Any) -> None:
    sku = first_sku(delivered_order)
    case = services.approve_case(
        services.open_case(
            by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
            items=lines(delivered_order, 2),
        ),
        by=supervisor,
    )  # fmt: skip
    case = services.send_return_instructions(case, by=supervisor, address="仓库", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF1")
    case = services.receive_return(case, by=warehouse_clerk)
    services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
    )
    row = exchange.resell_returned(sku, by=warehouse_clerk, quantity=1)
    assert (row.on_hand, row.returned_a) == (1, 1)
    assert row.movements.last().kind == StockMovementKind.RESELL
    assert Event.objects.get(verb="stock.resell", subject_id=row.pk).after == {"on_hand": 1, "returned_a": 1}
    with pytest.raises(InsufficientStock):
        exchange.resell_returned(sku, by=warehouse_clerk, quantity=2)
    assert stock_of(sku).returned_a == 1
