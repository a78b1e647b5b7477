"""Query-count baselines of the portal's pages: they cost the same whatever the number of rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from desk.cases import services
from desk.cases.models import CaseType, Reason
from desk.cases.tests.conftest import deliver
from desk.core.testing import make_order

pytestmark = pytest.mark.django_db


def queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


def more_orders_with_cases(customer: Any, n: int) -> None:
    for _n in range(n):
        order = deliver(make_order(customer, items=2, unit_price="50.00"))
        services.open_case(
            by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
            items=[(order.items.order_by("pk").first(), 1)],
        )  # fmt: skip


def test_order_and_case_lists_do_not_grow_with_rows(portal, delivered_order):
    customer = delivered_order.customer
    more_orders_with_cases(customer, 1)
    few = {url: queries(portal, url) for url in ("/portal/", "/portal/cases/")}
    more_orders_with_cases(customer, 5)
    many = {url: queries(portal, url) for url in ("/portal/", "/portal/cases/")}

    assert few == many, many
    # Baselines (session, portal session, page, prefetches); raise them only on purpose.
    assert many["/portal/"] <= 5
    assert many["/portal/cases/"] <= 4


def test_order_and_case_page_baselines(portal, delivered_order):
    more_orders_with_cases(delivered_order.customer, 1)
    case = delivered_order.customer.cases.get()
    assert queries(portal, f"/portal/orders/{case.order_id}/") <= 8
    assert queries(portal, f"/portal/cases/{case.pk}/") <= 8
