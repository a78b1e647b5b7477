"""A policy version cases were opened under is frozen: its terms judge those cases to the end."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import translation

from desk.cases import services
from desk.cases.models import CaseType, PolicyVersion, Reason
from desk.cases.tests.conftest import at, lines
from desk.core.errors import Conflict


def default_version() -> PolicyVersion:
    return PolicyVersion.objects.get(policy__sku="", policy__category="", policy__storefront=None)


@pytest.fixture
def used_version(delivered_order: Any) -> PolicyVersion:
    services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    return default_version()


def test_a_version_no_case_uses_can_still_be_edited(db: Any) -> None:
    version = default_version()
    version.customer_ship_days = 5
    version.save()
    version.full_clean()
    assert default_version().customer_ship_days == 5


def test_a_version_in_use_refuses_any_change(used_version: PolicyVersion) -> None:
    used_version.customer_ship_days = 3
    with pytest.raises(Conflict) as caught, translation.override("en"):
        used_version.save()
    assert caught.value.code == "policy.version_in_use"
    assert "add a new version" in caught.value.message
    with pytest.raises(ValidationError):
        used_version.full_clean()
    assert default_version().customer_ship_days == 7
    unchanged = default_version()
    unchanged.save()  # saving what is stored changes nothing: allowed


def test_a_change_of_rules_is_a_new_version_and_open_cases_keep_theirs(
    used_version: PolicyVersion, delivered_order: Any
) -> None:
    newer = PolicyVersion.objects.create(
        policy=used_version.policy, version=2, effective_from=at(12), customer_ship_days=3
    )
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 0, 1),
    )  # fmt: skip
    assert case.policy_version == newer
    assert used_version.cases.count() == 1


@pytest.fixture
def admin_client(client: Any, db: Any) -> Any:
    user = get_user_model().objects.create_superuser("root", "root@shop.example", "desk-pass-123")
    client.force_login(user)
    return client


def test_the_admin_shows_a_version_in_use_read_only(admin_client: Any, used_version: PolicyVersion) -> None:
    url = f"/admin/cases/returnpolicy/{used_version.policy_id}/change/"
    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="versions-0-customer_ship_days"' in page
    field = page.split('name="versions-0-customer_ship_days"')[1].split(">")[0]
    assert "disabled" in field
    assert "is in use by after-sales cases and cannot be changed" in page

    form = {
        "name": used_version.policy.name, "active": "on",
        "versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1", "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000", "versions-0-id": str(used_version.pk),
        "versions-0-policy": str(used_version.policy_id), "versions-0-customer_ship_days": "1",
    }  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code in (200, 302)
    assert default_version().customer_ship_days == 7  # what was posted for a disabled field is ignored
