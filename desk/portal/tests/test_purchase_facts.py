"""Portal requests are judged on the facts of the purchase (insurance, exclusions confirmed at checkout)
and on what the customer says about the unit (opened or still sealed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from desk.cases import services
from desk.cases import services_compensation as compensation
from desk.cases.models import AfterSalesCase, ClaimStatus, Exclusion, Payer, PolicyVersion, ProductRule
from desk.portal.tests.test_requests import approved_with_instructions, items, request_return

pytestmark = pytest.mark.django_db


def test_a_portal_return_of_an_insured_order_has_its_postage_paid_by_the_insurance(
    portal, delivered_order, agent, manager
):
    PolicyVersion.objects.update(shipping_insurance_payout=Decimal("12.00"))
    delivered_order.shipping_insured = True  # bought with the order (运费险), as the shop imported it
    delivered_order.save(update_fields=["shipping_insured"])

    assert request_return(portal, delivered_order).status_code == 302
    case = AfterSalesCase.objects.get()
    assert case.return_shipping_payer == Payer.INSURANCE
    case = approved_with_instructions(case, agent)
    assert case.return_instructions["shipping_payer"] == Payer.INSURANCE
    portal.post(f"/portal/cases/{case.pk}/ship/", {"carrier": "顺丰速运", "tracking_number": "SF1234567890"})
    case.refresh_from_db()
    claim = compensation.file_insurance_claim(case, by=agent)
    claim = compensation.record_insurance_payout(claim, by=manager, reference="INS-1")
    assert (claim.status, claim.amount) == (ClaimStatus.PAID, Decimal("12.00"))


def test_an_uninsured_order_leaves_the_postage_to_the_customer(portal, delivered_order):
    request_return(portal, delivered_order)
    assert AfterSalesCase.objects.get().return_shipping_payer == Payer.CUSTOMER


@pytest.fixture
def cup(delivered_order: Any) -> str:
    """The first line is a hygiene item: excluded once unsealed, but only where the customer accepted it."""
    PolicyVersion.objects.update(optional_exclusions=[Exclusion.UNSEALED_HYGIENE])
    sku = str(items(delivered_order)[0].sku)
    ProductRule.objects.create(sku=sku, exclusions=[Exclusion.UNSEALED_HYGIENE])
    return sku


def test_an_exclusion_confirmed_at_purchase_applies_to_an_opened_unit(portal, delivered_order, cup):
    delivered_order.confirmed_exclusions = [Exclusion.UNSEALED_HYGIENE]
    delivered_order.save(update_fields=["confirmed_exclusions"])
    request_return(portal, delivered_order, opened="true")
    case = AfterSalesCase.objects.get()
    assert (case.decision["outcome"], case.decision["rule"]) == ("refused", "excluded")
    assert case.unit_opened is True


def test_a_sealed_unit_of_that_item_may_still_be_returned(portal, delivered_order, cup):
    delivered_order.confirmed_exclusions = [Exclusion.UNSEALED_HYGIENE]
    delivered_order.save(update_fields=["confirmed_exclusions"])
    request_return(portal, delivered_order, opened="false")
    assert AfterSalesCase.objects.get().decision["rule"] == "no_reason_open"


def test_an_exclusion_not_confirmed_at_purchase_never_applies(portal, delivered_order, cup):
    request_return(portal, delivered_order, opened="true")
    assert AfterSalesCase.objects.get().decision["rule"] == "no_reason_open"


def test_the_portal_offers_the_sealed_question(portal, delivered_order):
    page = portal.get(f"/portal/orders/{delivered_order.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="opened"' in page
    assert "Is the item still sealed?" in page
    facts = services.facts_for("return_refund", "no_reason", delivered_order, [], delivered_order.placed_at)
    assert facts.insured is False
