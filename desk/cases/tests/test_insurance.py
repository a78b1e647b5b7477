"""Shipping-insurance (运费险) claims: a fixed payout per self-shipped insured return, one claim per payment."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from desk.cases import services
from desk.cases import services_compensation as comp
from desk.cases.models import (
    AfterSalesCase,
    CaseType,
    ClaimStatus,
    Payer,
    PolicyVersion,
    Reason,
    ShippingInsuranceClaim,
)
from desk.cases.tests.conftest import lines
from desk.core.errors import Conflict, Forbidden, ValidationFailed
from desk.core.models import Event
from desk.orders.models import Order

PAYOUT = Decimal("12.00")


@pytest.fixture
def insured_payout(db: Any) -> None:
    PolicyVersion.objects.update(shipping_insurance_payout=PAYOUT)


def shipped_return(
    order: Any, agent: Any, qty: tuple[int, ...] = (1,), *, insured: bool = True, reason: str = Reason.NO_REASON
) -> AfterSalesCase:
    order.shipping_insured = insured  # bought with the order (运费险): a fact of the purchase
    order.save(update_fields=["shipping_insured"])
    case = services.open_case(
        by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=reason, items=lines(order, *qty)
    )
    case = services.approve_case(case, by=agent)
    case = services.send_return_instructions(case, by=agent, address="上海仓", contact="退货组", phone="021-5555")
    return services.record_return_shipment(case, carrier="YTO", tracking_number=f"YT{case.pk:06d}")


def test_an_insured_self_shipped_return_is_claimed_and_paid(
    delivered_order: Any, agent: Any, manager: Any, insured_payout: None
) -> None:
    case = shipped_return(delivered_order, agent)
    assert case.return_shipping_payer == Payer.INSURANCE
    claim = comp.file_insurance_claim(case, by=agent)
    assert (claim.status, claim.amount, claim.payment_reference) == (ClaimStatus.FILED, PAYOUT, "PAY-1")
    assert (claim.carrier, claim.tracking_number) == ("YTO", case.return_tracking_number)
    with pytest.raises(Forbidden):
        comp.record_insurance_payout(claim, by=agent, reference="INS-1")  # finance records the insurer's money
    with pytest.raises(ValidationFailed):
        comp.record_insurance_payout(claim, by=manager, reference=" ")
    claim = comp.record_insurance_payout(claim, by=manager, reference="INS-20261112-01")
    assert (claim.status, claim.reference) == (ClaimStatus.PAID, "INS-20261112-01")
    assert claim.settled_at is not None
    with pytest.raises(Conflict) as settled:
        comp.reject_insurance_claim(claim, by=manager, reason="迟到的拒绝")
    assert settled.value.code == "insurance.already_settled"
    verbs = Event.objects.filter(subject_id=case.pk, verb__startswith="case.insurance").order_by("id")
    assert list(verbs.values_list("verb", flat=True)) == ["case.insurance_claim_filed", "case.insurance_claim_paid"]


def test_one_claim_per_payment_even_with_two_returns(delivered_order: Any, agent: Any, insured_payout: None) -> None:
    first = shipped_return(delivered_order, agent, qty=(1,))
    second = shipped_return(delivered_order, agent, qty=(0, 1))
    comp.file_insurance_claim(first, by=agent)
    with pytest.raises(Conflict) as again:
        comp.file_insurance_claim(second, by=agent)
    assert again.value.code == "insurance.already_claimed"
    with pytest.raises(IntegrityError), transaction.atomic():  # the database holds the rule, not only the code
        ShippingInsuranceClaim.objects.create(
            case=second, order=delivered_order, amount=PAYOUT, carrier="YTO", tracking_number="YT2",
            filed_at=timezone.now(),
        )  # fmt: skip
    assert ShippingInsuranceClaim.objects.count() == 1


def test_a_rejected_claim_records_the_insurers_reason(
    delivered_order: Any, agent: Any, manager: Any, insured_payout: None
) -> None:
    claim = comp.file_insurance_claim(shipped_return(delivered_order, agent), by=agent)
    with pytest.raises(ValidationFailed) as no_reason:
        comp.reject_insurance_claim(claim, by=manager, reason="")
    assert no_reason.value.code == "insurance.no_reason"
    claim = comp.reject_insurance_claim(claim, by=manager, reason="退货单号与签收记录不符")
    assert (claim.status, claim.note) == (ClaimStatus.REJECTED, "退货单号与签收记录不符")


def test_only_insured_shipped_returns_with_a_payout_can_be_claimed(
    delivered_order: Any, agent: Any, insured_payout: None
) -> None:
    uninsured = shipped_return(delivered_order, agent, qty=(1,), insured=False)
    with pytest.raises(ValidationFailed) as not_insured:
        comp.file_insurance_claim(uninsured, by=agent)
    assert not_insured.value.code == "insurance.not_insured"
    shop_pays = shipped_return(delivered_order, agent, qty=(0, 1), reason=Reason.QUALITY)  # the shop pays postage
    with pytest.raises(ValidationFailed):
        comp.file_insurance_claim(shop_pays, by=agent)
    assert not ShippingInsuranceClaim.objects.exists()


def test_a_return_not_shipped_yet_or_without_a_payout_cannot_be_claimed(delivered_order: Any, agent: Any) -> None:
    Order.objects.filter(pk=delivered_order.pk).update(shipping_insured=True)
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    PolicyVersion.objects.update(shipping_insurance_payout=PAYOUT)
    with pytest.raises(ValidationFailed) as not_shipped:
        comp.file_insurance_claim(case, by=agent)
    assert not_shipped.value.code == "insurance.not_shipped"
    PolicyVersion.objects.update(shipping_insurance_payout=Decimal("0"))
    case = services.approve_case(case, by=agent)
    case = services.send_return_instructions(case, by=agent, address="上海仓", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="YTO", tracking_number="YT1")
    with pytest.raises(ValidationFailed) as no_payout:
        comp.file_insurance_claim(case, by=agent)
    assert no_payout.value.code == "insurance.no_payout"
    assert not ShippingInsuranceClaim.objects.exists()


def test_the_staff_form_reads_the_insurance_from_the_order_not_from_the_request(
    client: Any, delivered_order: Any, agent: Any
) -> None:
    client.force_login(agent)
    first = delivered_order.items.order_by("pk")[0]
    data = {"order": delivered_order.pk, "case_type": "return_refund", "reason": "no_reason", f"qty-{first.pk}": "1"}
    client.post(reverse("cases:new"), data | {"insured": "on"})  # a requester's say-so is not a fact of the order
    assert AfterSalesCase.objects.get().return_shipping_payer == Payer.CUSTOMER
    Order.objects.filter(pk=delivered_order.pk).update(shipping_insured=True)
    second = delivered_order.items.order_by("pk")[1]
    data = data | {f"qty-{first.pk}": "0", f"qty-{second.pk}": "1"}
    assert client.post(reverse("cases:new"), data).status_code == 302
    assert AfterSalesCase.objects.latest("pk").return_shipping_payer == Payer.INSURANCE
