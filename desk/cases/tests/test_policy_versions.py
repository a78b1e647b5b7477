"""Which policy version applies: each process holds the list of versions, and sees every change."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from desk.cases import policy_versions, services
from desk.cases.models import PolicyVersion, ReturnPolicy
from desk.cases.tests.conftest import at


def in_force(order: Any) -> PolicyVersion:
    return services.policy_in_force(order, [order.items.order_by("pk")[0].sku], at(12))


def shop_policy(order: Any, days: int = 10) -> ReturnPolicy:
    shop = ReturnPolicy.objects.create(name="本店", storefront=order.storefront)
    PolicyVersion.objects.create(policy=shop, version=1, effective_from=at(1), no_reason_days=days)
    return shop


def test_a_policy_switched_off_stops_applying_at_once(delivered_order: Any) -> None:
    shop = shop_policy(delivered_order)
    assert in_force(delivered_order).policy == shop
    shop.active = False
    shop.save()
    assert in_force(delivered_order).policy.storefront_id is None  # the default again


def test_a_version_deleted_after_the_list_was_read_is_not_chosen(delivered_order: Any) -> None:
    shop = shop_policy(delivered_order)
    assert in_force(delivered_order).policy == shop
    PolicyVersion.objects.filter(policy=shop).delete()
    assert in_force(delivered_order).policy.storefront_id is None


def test_a_change_made_by_another_process_is_seen_through_the_shared_stamp(delivered_order: Any) -> None:
    shop = shop_policy(delivered_order)
    assert in_force(delivered_order).policy == shop
    ReturnPolicy.objects.filter(pk=shop.pk).update(active=False)  # no signal in this process
    assert in_force(delivered_order).policy == shop  # this process still holds its list
    cache.delete(policy_versions.STAMP_KEY)  # what the other process's save did
    assert in_force(delivered_order).policy.storefront_id is None


def test_a_change_that_sent_no_signal_is_seen_after_the_hold_time(
    delivered_order: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = shop_policy(delivered_order)
    assert in_force(delivered_order).policy == shop
    ReturnPolicy.objects.filter(pk=shop.pk).update(active=False)
    monkeypatch.setattr(policy_versions, "HOLD_SECONDS", 0.0)
    assert in_force(delivered_order).policy.storefront_id is None


def test_the_version_chosen_is_read_with_its_current_terms(delivered_order: Any) -> None:
    shop_policy(delivered_order, days=10)
    assert in_force(delivered_order).no_reason_days == 10
    PolicyVersion.objects.filter(policy__storefront=delivered_order.storefront).update(no_reason_days=20)
    assert in_force(delivered_order).no_reason_days == 20


def test_the_latest_version_in_force_of_the_most_specific_policy_wins() -> None:
    candidates = [
        policy_versions.Candidate(1, "", "", None, at(1), 1),  # the default
        policy_versions.Candidate(2, "", "", 7, at(1), 1),  # storefront 7
        policy_versions.Candidate(3, "", "", 7, at(5), 2),
        policy_versions.Candidate(4, "", "", 7, at(20), 3),  # not yet in force
        policy_versions.Candidate(5, "", "earphones", None, at(1), 1),
        policy_versions.Candidate(6, "SKU-1", "", None, at(1), 1),
        policy_versions.Candidate(7, "", "", 8, at(1), 1),  # another storefront
    ]

    def chosen(skus: set[str], categories: set[str], storefront: int | None) -> int | None:
        best = policy_versions.in_force(candidates, skus, categories, storefront, at(12))
        return best.version_id if best else None

    assert chosen({"SKU-9"}, set(), 7) == 3
    assert chosen({"SKU-9"}, set(), None) == 1
    assert chosen({"SKU-9"}, {"earphones"}, 7) == 5
    assert chosen({"SKU-1"}, {"earphones"}, 7) == 6
    assert chosen({"SKU-9"}, set(), 9) == 1
    assert policy_versions.in_force(candidates[3:4], {"SKU-9"}, set(), 7, at(12)) is None
