"""People these tests need beyond the shared cast: an admin and the shop's integration user."""

from __future__ import annotations

from typing import Any

import pytest

from desk.accounts.models import Role
from desk.core.testing import make_staff


@pytest.fixture
def admin_user(db: Any) -> Any:
    return make_staff("boss", Role.ADMIN)


@pytest.fixture
def shop(db: Any) -> Any:
    """The shop platform's integration user (imports, edits customers)."""
    return make_staff("shop-sync", Role.INTEGRATION)


@pytest.fixture
def bearer(db: Any) -> Any:
    """bearer(user) → request headers with a fresh API token for that user."""
    from desk.accounts.services import issue_token

    def headers(user: Any) -> dict[str, str]:
        _token, key = issue_token(user, "tests", by=None)
        return {"Authorization": f"Bearer {key}"}

    return headers
