"""Reship missing parts (补寄) end to end, and the steps it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from desk.cases import services
from desk.cases import services_exchange as exchange
from desk.cases.errors import IllegalTransition
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    ExchangeMode,
    Reason,
    ReplacementPurpose,
    ReplacementStatus,
    Stock,
)
from desk.cases.tests.conftest import lines
from desk.core.errors import ValidationFailed
from desk.core.models import Event

CHARGER = "BT-100-CHG"


@pytest.fixture
def charger(warehouse_clerk: Any) -> str:
    exchange.restock_sku(CHARGER, by=warehouse_clerk, quantity=10, name="充电线", model="BT-100")
    return CHARGER


def open_reship(order: Any, agent: Any) -> Any:
    case = services.open_case(
        by=agent, order=order, case_type=CaseType.RESHIP, reason=Reason.MISSING_PART, items=lines(order, 1),
        reason_text="盒子里没有充电线",
    )  # fmt: skip
    return services.approve_case(case, by=agent)


def test_missing_parts_are_reserved_shipped_delivered_and_the_case_completes(
    delivered_order: Any, charger: str, agent: Any, warehouse_clerk: Any
) -> None:
    case = open_reship(delivered_order, agent)
    assert case.refund_amount == 0
    case = exchange.reserve_replacement(case, by=agent, replacements=[(charger, 2)])
    assert case.state == CaseState.REPLACEMENT_RESERVED
    shipment = case.replacements.get()
    assert (shipment.purpose, shipment.sku, shipment.quantity) == (ReplacementPurpose.RESHIP, charger, 2)
    assert Stock.objects.get(sku=charger).reserved == 2
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="ZTO", tracking_number="ZT100")
    assert (case.state, case.return_due_at) == (CaseState.REPLACEMENT_SHIPPED, None)
    assert case.replacements.get().tracking_number == "ZT100"
    case = exchange.record_replacement_delivery(case, by=agent)
    case = exchange.complete_replacement(case, by=agent)
    assert case.state == CaseState.COMPLETED
    shipment.refresh_from_db()
    assert shipment.status == ReplacementStatus.DELIVERED
    assert shipment.delivered_at is not None
    row = Stock.objects.get(sku=charger)
    assert (row.on_hand, row.reserved) == (8, 0)
    events = Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk).order_by("id")
    assert list(events.values_list("verb", flat=True)) == [
        "case.opened", "case.approve", "case.reserve", "case.ship_replacement", "case.replacement_delivered",
        "case.complete",
    ]  # fmt: skip


def test_a_reship_without_named_parts_sends_the_claimed_item_again(
    delivered_order: Any, agent: Any, warehouse_clerk: Any
) -> None:
    sku = str(delivered_order.items.order_by("pk").first().sku)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=1)
    case = exchange.reserve_replacement(open_reship(delivered_order, agent), by=agent)
    assert list(case.replacements.values_list("sku", "quantity")) == [(sku, 1)]


def test_a_withdrawn_reship_gives_its_parts_back(delivered_order: Any, charger: str, agent: Any) -> None:
    case = exchange.reserve_replacement(open_reship(delivered_order, agent), by=agent, replacements=[(charger, 1)])
    held = Stock.objects.get(sku=charger)
    assert (held.on_hand, held.reserved, held.available) == (10, 1, 9)  # the part was really held for the case
    services.withdraw_case(case, by=agent)
    freed = Stock.objects.get(sku=charger)
    assert (freed.on_hand, freed.reserved, freed.available) == (10, 0, 10)
    assert case.replacements.get().status == ReplacementStatus.RELEASED
    assert Event.objects.get(verb="case.withdraw", subject_id=case.pk).data["released"] == [
        {"sku": charger, "quantity": 1}
    ]


def test_a_reship_is_not_completed_before_it_ships(delivered_order: Any, charger: str, agent: Any) -> None:
    case = exchange.reserve_replacement(open_reship(delivered_order, agent), by=agent, replacements=[(charger, 1)])
    with pytest.raises(IllegalTransition):
        exchange.complete_replacement(case, by=agent)
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REPLACEMENT_RESERVED


def test_a_reship_has_no_return_leg(delivered_order: Any, charger: str, agent: Any, warehouse_clerk: Any) -> None:
    case = exchange.reserve_replacement(open_reship(delivered_order, agent), by=agent, replacements=[(charger, 1)])
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="ZTO", tracking_number="ZT101")
    with pytest.raises(IllegalTransition):
        services.record_return_shipment(case, carrier="YTO", tracking_number="YT1")


def test_a_reship_takes_no_exchange_mode(delivered_order: Any, charger: str, agent: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        exchange.reserve_replacement(
            open_reship(delivered_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST, replacements=[(charger, 1)]
        )
    assert caught.value.code == "exchange.bad_mode"


def test_a_refund_case_cannot_reserve_goods(delivered_order: Any, agent: Any) -> None:
    case = services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        exchange.reserve_replacement(case, by=agent)
    assert caught.value.code == "case.type_mismatch"


def test_parts_need_a_sku_and_a_quantity(delivered_order: Any, agent: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        exchange.reserve_replacement(open_reship(delivered_order, agent), by=agent, replacements=[(CHARGER, 0)])
    assert caught.value.code == "stock.bad_lines"
