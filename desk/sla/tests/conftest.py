"""SLA fixtures: the seeded calendars, a routed support team, and a clock we can move."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from desk.sla import services as sla
from desk.sla.models import BusinessCalendar, SlaPolicy
from desk.sla.tests.helpers import MONDAY_10
from desk.tickets.models import RoutingRule


@pytest.fixture(autouse=True)
def _fresh_clocks() -> Iterator[None]:
    """Rolled-back test transactions fire no signals, so cached clocks are dropped by hand."""
    sla.forget_clocks()
    yield
    sla.forget_clocks()


@pytest.fixture
def clock() -> Iterator[Any]:
    """Time stands still at Monday 23 Nov 2026 10:00 Shanghai until the test moves it."""
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def business(db: Any) -> BusinessCalendar:
    return BusinessCalendar.objects.get(name="工作日 9:00-18:00")


@pytest.fixture
def always(db: Any) -> BusinessCalendar:
    return BusinessCalendar.objects.get(name="7×24")


@pytest.fixture
def default_policy(db: Any) -> SlaPolicy:
    return SlaPolicy.objects.get(name="默认 Default")


@pytest.fixture
def routed(support_team: Any) -> Any:
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return support_team
