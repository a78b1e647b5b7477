"""The seeded policy defaults and permission grants the cases app relies on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from desk.accounts.models import Role
from desk.accounts.permissions import grants_for
from desk.cases.models import STATUTORY_EXCLUSIONS, PolicyVersion


def test_the_default_policy_carries_the_rules_customers_know(db: Any) -> None:
    version = PolicyVersion.objects.get(policy__sku="", policy__category="", policy__storefront=None)
    assert version.version == 1
    assert (version.no_reason_days, version.quality_exchange_days, version.warranty_months) == (7, 15, 12)
    assert version.exclusions == [str(e) for e in STATUTORY_EXCLUSIONS]
    assert (version.auto_approve_unshipped_hours, version.auto_approve_shipped_days) == (48, 5)
    assert (version.auto_approve_virtual_days, version.customer_ship_days, version.shop_receive_days) == (3, 7, 10)
    assert version.return_shipping_payer["no_reason"] == "customer"
    assert version.return_shipping_payer["damaged"] == "shop"


def test_approval_limits_rise_with_the_role_tier(db: Any) -> None:
    limits = {role: grants_for(role).get("case.approve", "none") for role in Role}
    assert limits[Role.AGENT] == Decimal("200")
    assert limits[Role.SENIOR_AGENT] == Decimal("2000")
    assert limits[Role.SUPERVISOR] == Decimal("10000")
    assert limits[Role.MANAGER] is None
    assert limits[Role.WAREHOUSE] == "none"
    assert "case.inspect" in grants_for(Role.WAREHOUSE)
    assert "refund.execute" in grants_for(Role.MANAGER)
    assert "refund.execute" not in grants_for(Role.SUPERVISOR)
