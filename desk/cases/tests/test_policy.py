"""The policy evaluation: every rule and exclusion, judged as a pure function of facts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from desk.cases.models import CaseType, Exclusion, Grade, Payer, PolicyVersion, Reason
from desk.cases.policy import (
    ALLOWED,
    REFUSED,
    REVIEW,
    Findings,
    ItemFacts,
    RequestFacts,
    evaluate,
    judge_returned_goods,
)
from desk.cases.tests.conftest import DELIVERED, at

POLICY = PolicyVersion(version=1, optional_exclusions=[Exclusion.UNSEALED_HYGIENE])  # the seeded defaults


def facts(**overrides: object) -> RequestFacts:
    values: dict[str, object] = {
        "case_type": CaseType.RETURN_REFUND,
        "reason": Reason.NO_REASON,
        "now": at(15),
        "items": (ItemFacts(sku="SKU-1"),),
        "order_total": Decimal("580.00"),
        "paid_at": at(5),
        "shipped": True,
        "delivered_at": DELIVERED,
    }
    return RequestFacts(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _english() -> object:
    with translation.override("en"):
        yield


def test_no_reason_return_within_seven_days_from_the_day_after_signing_is_allowed() -> None:
    decision = evaluate(POLICY, facts())
    assert decision.outcome == ALLOWED
    assert decision.rule == "no_reason_open"
    assert decision.message == ("7-day no-reason return: delivered 2026-11-10, window ends 2026-11-17 23:59 — allowed")
    assert decision.policy_version == 1


def test_no_reason_window_closes_at_midnight_of_the_seventh_day() -> None:
    assert evaluate(POLICY, facts(now=at(17, 23, 59, 59))).outcome == ALLOWED
    late = evaluate(POLICY, facts(now=at(18, 0, 0, 0)))
    assert late.outcome == REFUSED
    assert late.rule == "no_reason_passed"
    assert "window ended 2026-11-17 23:59" in late.message


def test_signing_late_in_the_evening_still_counts_from_the_next_day() -> None:
    signed = at(10, 23, 50)
    assert evaluate(POLICY, facts(delivered_at=signed, now=at(17, 22))).outcome == ALLOWED
    assert evaluate(POLICY, facts(delivered_at=signed, now=at(18, 1))).outcome == REFUSED


@pytest.mark.parametrize(
    ("exclusion", "label"),
    [
        (Exclusion.CUSTOM_MADE, "custom-made"),
        (Exclusion.PERISHABLE, "fresh or perishable"),
        (Exclusion.UNSEALED_DIGITAL, "unsealed audio-video, software or digital goods"),
        (Exclusion.PERIODICAL, "delivered newspapers and periodicals"),
    ],
)
def test_statutory_exclusions_refuse_a_no_reason_return(exclusion: str, label: str) -> None:
    decision = evaluate(POLICY, facts(items=(ItemFacts(sku="SKU-X", exclusions=(exclusion,)),), opened=True))
    assert decision.outcome == REFUSED
    assert decision.rule == "excluded"
    assert decision.message == f"Excluded from 7-day no-reason return: {label} (SKU-X) — refused"


def test_an_optional_exclusion_applies_only_when_the_customer_confirmed_it_at_purchase() -> None:
    items = (ItemFacts(sku="SKU-H", exclusions=(Exclusion.UNSEALED_HYGIENE,)),)
    assert evaluate(POLICY, facts(items=items, opened=True)).outcome == ALLOWED
    confirmed = evaluate(POLICY, facts(items=items, confirmed_exclusions=(Exclusion.UNSEALED_HYGIENE,), opened=True))
    assert confirmed.outcome == REFUSED
    assert "unsealed hygiene or personal-care items" in confirmed.message


@pytest.mark.parametrize("exclusion", [Exclusion.UNSEALED_DIGITAL, Exclusion.ACTIVATED_DEVICE])
def test_exclusions_once_opened_are_judged_on_whether_this_unit_was_opened(exclusion: str) -> None:
    policy = PolicyVersion(version=1, exclusions=[Exclusion.UNSEALED_DIGITAL, Exclusion.ACTIVATED_DEVICE])
    items = (ItemFacts(sku="DVD-1", exclusions=(exclusion,)),)
    sealed = evaluate(policy, facts(items=items, opened=False))
    assert (sealed.outcome, sealed.rule) == (ALLOWED, "no_reason_open")
    opened = evaluate(policy, facts(items=items, opened=True))
    assert (opened.outcome, opened.rule) == (REFUSED, "excluded")
    unknown = evaluate(policy, facts(items=items))
    assert (unknown.outcome, unknown.rule) == (REVIEW, "opened_unknown")
    assert "whether this unit was opened is not known" in unknown.message


def test_an_exclusion_regardless_of_opening_refuses_a_sealed_unit_too() -> None:
    items = (ItemFacts(sku="CAKE", exclusions=(Exclusion.PERISHABLE,)),)
    assert evaluate(POLICY, facts(items=items, opened=False)).rule == "excluded"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("exclusion", "label"),
    [(Exclusion.ACTIVATED_DEVICE, "activated devices"), (Exclusion.CLEARANCE, "clearance sale goods")],
)
def test_the_seeded_optional_exclusions_apply_once_confirmed_at_purchase(exclusion: str, label: str) -> None:
    seeded = PolicyVersion.objects.get(version=1)  # as the data migration wrote it
    assert exclusion in seeded.optional_exclusions
    items = (ItemFacts(sku="SKU-X", exclusions=(exclusion,)),)
    assert evaluate(seeded, facts(items=items, opened=True)).outcome == ALLOWED  # not confirmed: a plain return
    confirmed = evaluate(seeded, facts(items=items, confirmed_exclusions=(exclusion,), opened=True))
    assert (confirmed.outcome, confirmed.rule) == (REFUSED, "excluded")
    assert confirmed.message == f"Excluded from 7-day no-reason return: {label} (SKU-X) — refused"
    quality = facts(items=items, confirmed_exclusions=(exclusion,), opened=True, reason=Reason.QUALITY)
    assert evaluate(seeded, quality).outcome == ALLOWED  # exclusions never stop a quality return


def test_an_optional_exclusion_the_policy_does_not_list_never_applies() -> None:
    items = (ItemFacts(sku="SKU-C", exclusions=(Exclusion.CLEARANCE,)),)
    assert evaluate(POLICY, facts(items=items, confirmed_exclusions=(Exclusion.CLEARANCE,))).outcome == ALLOWED


def test_exclusions_do_not_stop_a_quality_return() -> None:
    items = (ItemFacts(sku="SKU-X", exclusions=(Exclusion.CUSTOM_MADE,)),)
    decision = evaluate(POLICY, facts(items=items, reason=Reason.QUALITY))
    assert decision.outcome == ALLOWED
    assert decision.rule == "quality_open"


def test_quality_exchange_has_fifteen_days_and_quality_return_seven() -> None:
    on_day_20 = at(20)
    assert evaluate(POLICY, facts(reason=Reason.QUALITY, now=on_day_20)).outcome == REFUSED
    exchange = evaluate(POLICY, facts(case_type=CaseType.EXCHANGE, reason=Reason.QUALITY, now=on_day_20))
    assert exchange.outcome == ALLOWED
    assert exchange.message == (
        "Quality problem: 15-day window from delivery 2026-11-10 ends 2026-11-25 23:59 — allowed"
    )


def test_refund_before_shipment_is_always_allowed_and_a_return_is_refused() -> None:
    unshipped = {"shipped": False, "delivered_at": None}
    assert evaluate(POLICY, facts(case_type=CaseType.REFUND_ONLY, **unshipped)).rule == "not_shipped"
    refused = evaluate(POLICY, facts(**unshipped))
    assert (refused.outcome, refused.rule) == (REFUSED, "nothing_to_return")


def test_a_parcel_never_delivered_is_refunded_but_a_signed_one_needs_review() -> None:
    lost = evaluate(POLICY, facts(case_type=CaseType.REFUND_ONLY, reason=Reason.NOT_RECEIVED, delivered_at=None))
    assert (lost.outcome, lost.rule) == (ALLOWED, "not_received")
    signed = evaluate(POLICY, facts(case_type=CaseType.REFUND_ONLY, reason=Reason.NOT_RECEIVED))
    assert (signed.outcome, signed.rule) == (REVIEW, "signed_for")
    assert "2026-11-10" in signed.message


def test_a_shipped_order_not_yet_delivered_has_no_running_window() -> None:
    assert evaluate(POLICY, facts(delivered_at=None)).rule == "not_delivered"


def test_other_reasons_go_to_an_agent() -> None:
    assert evaluate(POLICY, facts(reason=Reason.OTHER)).outcome == REVIEW


def test_repair_is_judged_by_the_warranty_with_a_product_override() -> None:
    repair = facts(case_type=CaseType.REPAIR, reason=Reason.QUALITY, now=DELIVERED + timedelta(days=300))
    assert evaluate(POLICY, repair).message == (
        "Warranty: 12 months from purchase 2026-11-10, until 2027-11-10 23:59 — allowed"
    )
    short = facts(
        case_type=CaseType.REPAIR,
        reason=Reason.QUALITY,
        now=DELIVERED + timedelta(days=200),
        items=(ItemFacts(sku="SKU-B", warranty_months=6),),
    )
    assert evaluate(POLICY, short).outcome == REFUSED


def test_who_pays_return_shipping_follows_the_reason_promotions_and_insurance() -> None:
    assert evaluate(POLICY, facts()).shipping_payer == Payer.CUSTOMER
    assert evaluate(POLICY, facts(reason=Reason.QUALITY)).shipping_payer == Payer.SHOP
    assert evaluate(POLICY, facts(insured=True)).shipping_payer == Payer.INSURANCE
    free_returns = PolicyVersion(version=2, free_return_threshold=Decimal("500.00"))
    assert evaluate(free_returns, facts()).shipping_payer == Payer.SHOP  # 满额包邮退换
    assert evaluate(free_returns, facts(order_total=Decimal("499.99"))).shipping_payer == Payer.CUSTOMER


def test_double_shipping_compensation_only_when_the_shop_is_at_fault() -> None:
    assert evaluate(POLICY, facts(reason=Reason.DAMAGED)).double_shipping is True
    assert evaluate(POLICY, facts(reason=Reason.WRONG_ITEM)).double_shipping is True
    assert evaluate(POLICY, facts()).double_shipping is False
    off = PolicyVersion(version=3, double_shipping_compensation=False)
    assert evaluate(off, facts(reason=Reason.DAMAGED)).double_shipping is False


def test_restocking_fee_applies_only_to_no_reason_returns() -> None:
    policy = PolicyVersion(version=4, restocking_fee_percent=Decimal("10"))
    assert evaluate(policy, facts()).restocking_fee_percent == Decimal("10")
    assert evaluate(policy, facts(reason=Reason.QUALITY)).restocking_fee_percent == Decimal("0")


def test_the_decision_is_stored_as_data_and_renders_in_the_readers_language() -> None:
    stored = evaluate(POLICY, facts()).as_dict()
    assert stored["rule"] == "no_reason_open"
    assert stored["params"] == {"days": "7", "delivered": "2026-11-10", "ends": "2026-11-17 23:59"}
    assert stored["window_ends"].startswith("2026-11-17T23:59:59")


INTACT = {"complete": True, "original": True, "human_damage": False, "grade": Grade.A}


@pytest.mark.parametrize(
    ("found", "findings"),
    [
        ({"complete": False}, "parts or accessories missing"),
        ({"original": False}, "not the original item or packaging"),
        ({"human_damage": True}, "damaged by the customer"),
        ({"grade": Grade.C}, "grade C (scrap)"),
        ({"complete": False, "human_damage": True}, "parts or accessories missing, damaged by the customer"),
    ],
)
def test_goods_not_intact_hold_a_no_reason_refund_for_a_decision(found: dict[str, object], findings: str) -> None:
    held = judge_returned_goods(POLICY, Reason.NO_REASON, (ItemFacts(sku="SKU-1"),), (), Findings(**(INTACT | found)))  # type: ignore[arg-type]
    assert held is not None
    assert (held.outcome, held.rule, held.policy_version) == (REVIEW, "not_intact", 1)
    assert held.message == (
        f"7-day no-reason return: goods must come back intact, the inspection found: {findings} "
        "— refund held for a decision"
    )


def test_intact_goods_a_quality_return_or_a_policy_without_the_condition_are_refunded_in_full() -> None:
    items = (ItemFacts(sku="SKU-1"),)
    damaged = Findings(**(INTACT | {"human_damage": True, "grade": Grade.C}))  # type: ignore[arg-type]
    assert judge_returned_goods(POLICY, Reason.NO_REASON, items, (), Findings(**INTACT)) is None  # type: ignore[arg-type]
    assert judge_returned_goods(POLICY, Reason.QUALITY, items, (), damaged) is None
    lenient = PolicyVersion(version=2, require_intact=False)
    assert judge_returned_goods(lenient, Reason.NO_REASON, items, (), damaged) is None


def test_a_unit_found_opened_is_held_only_when_its_product_is_excluded_once_opened() -> None:
    dvd = (ItemFacts(sku="DVD-1", exclusions=(Exclusion.UNSEALED_DIGITAL,)),)
    opened = Findings(**(INTACT | {"opened": True}))  # type: ignore[arg-type]
    held = judge_returned_goods(POLICY, Reason.NO_REASON, dvd, (), opened)
    assert held is not None
    assert held.rule == "returned_opened"
    assert "found the unit opened" in held.message
    assert judge_returned_goods(POLICY, Reason.NO_REASON, dvd, (), Findings(**(INTACT | {"opened": False}))) is None  # type: ignore[arg-type]
    assert judge_returned_goods(POLICY, Reason.NO_REASON, (ItemFacts(sku="SKU-1"),), (), opened) is None
