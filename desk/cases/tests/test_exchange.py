"""Exchange (换货) end to end in both modes, the policy's ship-first rule, and the steps it refuses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from desk.accounts.models import Notification
from desk.cases import services
from desk.cases import services_exchange as exchange
from desk.cases.errors import IllegalTransition, NotReturnable
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    ExchangeMode,
    Grade,
    Payer,
    PolicyVersion,
    Reason,
    ReplacementStatus,
    Stock,
)
from desk.cases.policy import ALLOWED, REFUSED, judge_ship_first
from desk.cases.tests.conftest import at, lines
from desk.core.errors import Conflict, Forbidden, ValidationFailed
from desk.core.models import Event
from desk.customers.models import Tier

BACK_TO = {"return_address": "上海市嘉定区仓库路1号", "return_contact": "换货组", "return_phone": "021-5555"}


def verbs(case: Any) -> list[str]:
    return list(
        Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk)
        .order_by("id")
        .values_list("verb", flat=True)
    )


@pytest.fixture
def sku(delivered_order: Any, warehouse_clerk: Any) -> str:
    """The first line's SKU, with 5 sellable units of the same model in the warehouse."""
    sku = str(delivered_order.items.order_by("pk").first().sku)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=5, model="BT-100", spec="black")
    return sku


@pytest.fixture
def vip_order(delivered_order: Any) -> Any:
    delivered_order.customer.tier = Tier.VIP
    delivered_order.customer.save(update_fields=["tier"])
    return delivered_order


def open_exchange(order: Any, agent: Any, qty: tuple[int, ...] = (1,)) -> Any:
    case = services.open_case(
        by=None, order=order, case_type=CaseType.EXCHANGE, reason=Reason.QUALITY, items=lines(order, *qty)
    )
    return services.approve_case(case, by=agent)


def test_a_return_first_exchange_goes_from_request_to_completion(
    delivered_order: Any, sku: str, agent: Any, warehouse_clerk: Any
) -> None:
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.EXCHANGE, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    assert case.decision["rule"] == "quality_open"  # the 15-day quality exchange window
    assert case.refund_amount == 0  # an exchange sends goods, not money
    delivered_order.refresh_from_db()
    assert delivered_order.auto_confirm_paused_at is not None  # no auto-confirmed receipt while the case is open
    case = services.approve_case(case, by=agent)
    case = exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.RETURN_FIRST)
    assert (case.state, case.exchange_mode) == (CaseState.REPLACEMENT_RESERVED, ExchangeMode.RETURN_FIRST)
    assert services.allowed_actions(case) == ["send_instructions", "withdraw"]
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="换货组", phone="021-5555")
    assert case.return_instructions["shipping_payer"] == Payer.SHOP
    case = services.record_return_shipment(case, carrier="YTO", tracking_number="YT1")
    case = services.receive_return(case, by=warehouse_clerk)
    case = services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.B, complete=True, original=True, defect=True, human_damage=False
    )
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF777")
    assert case.state == CaseState.REPLACEMENT_SHIPPED
    assert case.return_due_at is None  # nothing is owed: the return came first
    shipment = case.replacements.get()
    assert (shipment.sku, shipment.quantity, shipment.status) == (sku, 1, ReplacementStatus.SHIPPED)
    assert (shipment.carrier, shipment.tracking_number, shipment.shipped_at) == ("SF", "SF777", timezone.now())
    case = exchange.record_replacement_delivery(case, by=agent)
    assert case.replacements.get().status == ReplacementStatus.DELIVERED
    case = exchange.complete_replacement(case, by=agent)
    assert (case.state, case.close_reason) == (CaseState.COMPLETED, "completed")
    delivered_order.refresh_from_db()
    assert delivered_order.auto_confirm_paused_at is None  # the clock runs again
    row = Stock.objects.get(sku=sku)
    assert (row.on_hand, row.reserved, row.returned_b) == (4, 0, 1)
    assert verbs(case) == [
        "case.opened", "case.approve", "case.reserve", "case.send_instructions", "case.ship_return",
        "case.receive", "case.inspect", "case.ship_replacement", "case.replacement_delivered", "case.complete",
    ]  # fmt: skip


def test_a_vip_gets_the_replacement_first_and_then_returns_the_goods(
    vip_order: Any, sku: str, agent: Any, warehouse_clerk: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    assert services.allowed_actions(case) == ["ship_replacement", "withdraw"]
    reserved = Event.objects.get(verb="case.reserve", subject_id=case.pk)
    assert reserved.data["ship_first_decision"]["rule"] == "ship_first_allowed"
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF778", **BACK_TO)
    assert case.state == CaseState.REPLACEMENT_SHIPPED
    assert case.return_due_at == timezone.now() + timedelta(days=7)  # the policy's ship_first_return_days
    assert case.return_instructions["address"] == "上海市嘉定区仓库路1号"
    assert case.return_instructions["ship_by"] == case.return_due_at.isoformat()
    assert case.return_instructions["shipping_payer"] == Payer.SHOP  # a quality problem: the shop pays
    assert services.allowed_actions(case) == ["ship_return"]
    case = exchange.record_replacement_delivery(case)  # from the carrier's tracking
    case = services.record_return_shipment(case, carrier="YTO", tracking_number="YT2")
    assert (case.state, case.return_due_at) == (CaseState.RETURNING, None)
    case = services.receive_return(case, by=warehouse_clerk)
    case = services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
    )
    assert services.allowed_actions(case) == ["complete", "reject"]
    case = exchange.complete_replacement(case, by=agent)
    assert case.state == CaseState.COMPLETED
    row = Stock.objects.get(sku=sku)
    assert (row.on_hand, row.reserved, row.returned_a) == (4, 0, 1)
    assert verbs(case) == [
        "case.opened", "case.approve", "case.reserve", "case.ship_replacement", "case.replacement_delivered",
        "case.ship_return", "case.receive", "case.inspect", "case.complete",
    ]  # fmt: skip


def test_ship_first_is_refused_for_a_tier_the_policy_does_not_name(delivered_order: Any, sku: str, agent: Any) -> None:
    case = open_exchange(delivered_order, agent)  # a regular customer
    with pytest.raises(NotReturnable) as caught:
        exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.SHIP_FIRST)
    assert caught.value.code == "exchange.ship_first_refused"
    assert "regular" in caught.value.message
    case.refresh_from_db()
    assert (case.state, case.exchange_mode) == (CaseState.APPROVED, "")
    assert Stock.objects.get(sku=sku).reserved == 0


def test_a_policy_edition_can_offer_ship_first_to_every_tier(delivered_order: Any, sku: str, agent: Any) -> None:
    version = PolicyVersion.objects.get(policy__sku="", policy__category="", policy__storefront=None)
    version.ship_first_exchange_tiers = [Tier.REGULAR, Tier.VIP, Tier.SVIP]
    version.save()
    case = exchange.reserve_replacement(open_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    assert case.exchange_mode == ExchangeMode.SHIP_FIRST


def test_the_ship_first_rule_is_pure_policy() -> None:
    policy = PolicyVersion(version=3, ship_first_exchange_tiers=["svip"])
    assert judge_ship_first(policy, "svip").outcome == ALLOWED
    refused = judge_ship_first(policy, "vip")
    assert (refused.outcome, refused.rule, refused.params["tiers"]) == (REFUSED, "ship_first_refused", "svip")
    assert judge_ship_first(PolicyVersion(version=1, ship_first_exchange_tiers=[]), "svip").outcome == REFUSED


def test_a_late_ship_first_return_is_escalated_once_after_the_deadline(
    vip_order: Any, sku: str, agent: Any, warehouse_clerk: Any, supervisor: Any, time_machine: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF779", **BACK_TO)
    time_machine.shift(timedelta(days=6, hours=23))
    assert exchange.expire_unreturned_exchanges(timezone.now()) == 0
    time_machine.shift(timedelta(hours=1))
    assert exchange.expire_unreturned_exchanges(timezone.now()) == 1
    case.refresh_from_db()
    assert (case.state, case.return_due_at) == (CaseState.REPLACEMENT_SHIPPED, None)  # a person decides what next
    overdue = Event.objects.get(verb="case.return_overdue", subject_id=case.pk)
    assert overdue.data["escalated"] is True
    assert overdue.actor_label == "system"
    assert exchange.expire_unreturned_exchanges(timezone.now()) == 0  # claimed: never fires twice
    told = Notification.objects.get(verb="case.return_overdue", user=supervisor)
    assert told.link == f"/cases/{case.number}/"
    case = services.record_return_shipment(case, carrier="YTO", tracking_number="YT-late")  # still accepted
    assert case.state == CaseState.RETURNING


def test_a_return_shipped_in_time_is_not_escalated(
    vip_order: Any, sku: str, agent: Any, warehouse_clerk: Any, time_machine: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF780", **BACK_TO)
    time_machine.shift(timedelta(days=3))
    services.record_return_shipment(case, carrier="YTO", tracking_number="YT3")
    time_machine.shift(timedelta(days=10))
    assert exchange.expire_unreturned_exchanges(timezone.now()) == 0
    assert not Event.objects.filter(verb="case.return_overdue").exists()


def test_return_first_cannot_ship_the_replacement_before_inspection(
    delivered_order: Any, sku: str, agent: Any, warehouse_clerk: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.RETURN_FIRST)
    with pytest.raises(IllegalTransition) as caught:
        exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF1")
    assert (caught.value.code, caught.value.status) == ("case.illegal_transition", 409)
    assert "send_instructions" in caught.value.message
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REPLACEMENT_RESERVED
    assert Stock.objects.get(sku=sku).on_hand == 5


def test_ship_first_sends_no_return_instructions_before_the_replacement(vip_order: Any, sku: str, agent: Any) -> None:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    with pytest.raises(IllegalTransition):
        services.send_return_instructions(case, by=agent, address="仓库", contact="换货组", phone="021-5555")


def test_nothing_is_reserved_before_approval(delivered_order: Any, sku: str, agent: Any) -> None:
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.EXCHANGE, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    with pytest.raises(IllegalTransition):
        exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.RETURN_FIRST)
    assert Stock.objects.get(sku=sku).reserved == 0


def test_a_case_completes_only_after_the_replacement_is_delivered(
    vip_order: Any, sku: str, agent: Any, warehouse_clerk: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF781", **BACK_TO)
    case = services.record_return_shipment(case, carrier="YTO", tracking_number="YT4")
    case = services.receive_return(case, by=warehouse_clerk)
    case = services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
    )
    with pytest.raises(Conflict) as caught:
        exchange.complete_replacement(case, by=agent)
    assert caught.value.code == "case.replacement_not_delivered"
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.INSPECTED


def test_a_delivery_needs_something_on_its_way(delivered_order: Any, sku: str, agent: Any) -> None:
    case = exchange.reserve_replacement(open_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.RETURN_FIRST)
    with pytest.raises(Conflict) as caught:
        exchange.record_replacement_delivery(case, by=agent)
    assert caught.value.code == "case.nothing_in_transit"


def test_the_replacement_must_be_the_same_model(
    delivered_order: Any, sku: str, agent: Any, warehouse_clerk: Any
) -> None:
    exchange.restock_sku("TV-55", by=warehouse_clerk, quantity=3, model="TV-55X")
    exchange.restock_sku("BT-100-WHT", by=warehouse_clerk, quantity=3, model="BT-100", spec="white")
    case = open_exchange(delivered_order, agent)
    with pytest.raises(ValidationFailed) as caught:
        exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.RETURN_FIRST, replacements=[("TV-55", 1)])
    assert caught.value.code == "exchange.wrong_model"
    case = exchange.reserve_replacement(
        case, by=agent, mode=ExchangeMode.RETURN_FIRST, replacements=[("BT-100-WHT", 1)]
    )  # another colour of the same model is fine
    assert case.replacements.get().sku == "BT-100-WHT"


def test_an_exchange_sends_as_many_units_as_come_back(delivered_order: Any, sku: str, agent: Any) -> None:
    case = open_exchange(delivered_order, agent, qty=(1,))
    with pytest.raises(ValidationFailed) as caught:
        exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.RETURN_FIRST, replacements=[(sku, 2)])
    assert caught.value.code == "exchange.bad_quantity"


def test_an_exchange_needs_a_mode(delivered_order: Any, sku: str, agent: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        exchange.reserve_replacement(open_exchange(delivered_order, agent), by=agent, mode="")
    assert caught.value.code == "exchange.bad_mode"


def test_a_failed_inspection_is_rejected_and_closing_releases_the_replacement(
    delivered_order: Any, sku: str, agent: Any, warehouse_clerk: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.RETURN_FIRST)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="换货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="YTO", tracking_number="YT5")
    case = services.receive_return(case, by=warehouse_clerk)
    case = services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.C, complete=True, original=True, defect=False, human_damage=True
    )
    case = services.reject_case(case, by=agent, reason="人为损坏")
    assert Stock.objects.get(sku=sku).reserved == 1  # held until the case closes
    case = services.close_case(case, by=agent)
    row = Stock.objects.get(sku=sku)
    assert (row.on_hand, row.reserved, row.returned_c) == (5, 0, 1)


def test_an_agent_may_not_ship_from_the_warehouse(vip_order: Any, sku: str, agent: Any) -> None:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    with pytest.raises(Forbidden):
        exchange.ship_replacement(case, by=agent, carrier="SF", tracking_number="SF1")
    assert Event.objects.filter(verb="permission.denied", data__action="stock.manage").exists()


def test_the_quality_exchange_window_is_fifteen_days(delivered_order: Any, time_machine: Any) -> None:
    time_machine.move_to(at(26), tick=False)  # delivered 11-10: the window ended 11-25 23:59
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.EXCHANGE, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    assert (case.decision["outcome"], case.decision["rule"]) == (REFUSED, "quality_passed")


def test_a_return_first_exchange_not_shipped_in_time_expires_and_releases_the_replacement(
    delivered_order: Any, sku: str, agent: Any, time_machine: Any
) -> None:
    from desk.cases import sweep

    case = exchange.reserve_replacement(open_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.RETURN_FIRST)
    services.send_return_instructions(case, by=agent, address="仓库", contact="换货组", phone="021-5555")
    time_machine.shift(timedelta(days=7, minutes=1))
    assert sweep.run(timezone.now())["expired"] == 1
    case.refresh_from_db()
    assert (case.state, case.close_reason) == (CaseState.CLOSED, "expired")
    assert (Stock.objects.get(sku=sku).on_hand, Stock.objects.get(sku=sku).reserved) == (5, 0)


def test_an_exchange_return_the_shop_does_not_receive_in_time_is_escalated_not_refunded(
    delivered_order: Any, sku: str, agent: Any, time_machine: Any
) -> None:
    from desk.cases import sweep

    case = exchange.reserve_replacement(open_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.RETURN_FIRST)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="换货组", phone="021-5555")
    services.record_return_shipment(case, carrier="YTO", tracking_number="YT6")
    time_machine.shift(timedelta(days=10, minutes=1))
    assert sweep.run(timezone.now())["auto_refunded"] == 0
    case.refresh_from_db()
    assert case.state == CaseState.RETURNING
    assert not case.refunds.exists()
    assert Event.objects.filter(verb="case.receipt_overdue", subject_id=case.pk).exists()


def test_a_ship_first_replacement_tells_the_customer_where_to_return(
    vip_order: Any, sku: str, agent: Any, warehouse_clerk: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    with pytest.raises(ValidationFailed) as caught:
        exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF782")
    assert caught.value.code == "case.no_return_address"
    case.refresh_from_db()
    assert case.state == CaseState.REPLACEMENT_RESERVED
    assert Stock.objects.get(sku=sku).reserved == 1


def _overdue_ship_first(vip_order: Any, agent: Any, warehouse_clerk: Any, time_machine: Any) -> Any:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF790", **BACK_TO)
    time_machine.shift(timedelta(days=7, minutes=1))
    assert exchange.expire_unreturned_exchanges(timezone.now()) == 1
    case.refresh_from_db()
    return case


def test_an_overdue_ship_first_return_is_settled_by_charging_the_customer(
    vip_order: Any, sku: str, agent: Any, warehouse_clerk: Any, time_machine: Any
) -> None:
    case = _overdue_ship_first(vip_order, agent, warehouse_clerk, time_machine)
    assert "settle_unreturned" in services.allowed_actions(case)
    value = sum(ci.amount or ci.order_item.unit_price * ci.quantity for ci in case.items.all())
    assert value > 0
    case = exchange.settle_unreturned_exchange(case, by=agent, outcome="charge", note="客户保留原商品")
    assert (case.state, case.close_reason) == (CaseState.CLOSED, "return_charged")
    settled = Event.objects.get(verb="case.settle_unreturned", subject_id=case.pk)
    assert settled.data["outcome"] == "charge"
    assert settled.data["amount"] == str(value)
    assert settled.before == {"state": CaseState.REPLACEMENT_SHIPPED}
    assert settled.after == {"state": CaseState.CLOSED}
    assert case.notices.filter(kind="closed").exists()  # the customer hears the result


def test_settling_needs_the_return_to_be_overdue_and_a_limit_that_covers_the_amount(
    vip_order: Any, sku: str, agent: Any, senior_agent: Any, warehouse_clerk: Any, time_machine: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF791", **BACK_TO)
    with pytest.raises(Conflict) as early:
        exchange.settle_unreturned_exchange(case, by=agent, outcome="write_off")
    assert early.value.code == "exchange.return_not_overdue"
    time_machine.shift(timedelta(days=7, minutes=1))
    exchange.expire_unreturned_exchanges(timezone.now())
    with pytest.raises(ValidationFailed):
        exchange.settle_unreturned_exchange(case, by=agent, outcome="forget it")
    with pytest.raises(Forbidden) as over:
        exchange.settle_unreturned_exchange(case, by=agent, outcome="write_off", amount=Decimal("500.00"))
    assert over.value.code == "permission.over_limit"
    case = exchange.settle_unreturned_exchange(case, by=senior_agent, outcome="write_off", amount=Decimal("500.00"))
    assert (case.state, case.close_reason) == (CaseState.CLOSED, "return_written_off")


def test_more_time_for_an_overdue_return_sets_a_new_deadline_the_sweep_watches(
    vip_order: Any, sku: str, agent: Any, warehouse_clerk: Any, time_machine: Any
) -> None:
    case = _overdue_ship_first(vip_order, agent, warehouse_clerk, time_machine)
    with pytest.raises(ValidationFailed):
        exchange.extend_exchange_return(case, by=agent, days=0)
    case = exchange.extend_exchange_return(case, by=agent, days=3, note="客户出差")
    assert case.return_due_at == timezone.now() + timedelta(days=3)
    assert case.return_instructions["ship_by"] == case.return_due_at.isoformat()
    assert "settle_unreturned" not in services.allowed_actions(case)  # it is not overdue any more
    extended = Event.objects.get(verb="case.return_extended", subject_id=case.pk)
    assert extended.before == {"return_due_at": None}
    assert extended.data == {"days": 3, "note": "客户出差"}
    time_machine.shift(timedelta(days=3, minutes=1))
    assert exchange.expire_unreturned_exchanges(timezone.now()) == 1  # overdue again, escalated again


def test_only_a_ship_first_exchange_waiting_for_its_return_gets_more_time(
    delivered_order: Any, sku: str, agent: Any
) -> None:
    case = exchange.reserve_replacement(open_exchange(delivered_order, agent), by=agent, mode=ExchangeMode.RETURN_FIRST)
    with pytest.raises(Conflict) as refused:
        exchange.extend_exchange_return(case, by=agent, days=3)
    assert refused.value.code == "exchange.no_return_awaited"
