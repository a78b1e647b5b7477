"""Query-count baselines: lists and details cost the same whatever the number of rows (no N+1)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from desk.orders.services import upsert_orders
from desk.orders.tests.test_order_services import order_data


def _queries(client, url, headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.content
    return len(captured)


def _orders(manager, numbers):
    rows = []
    for n in numbers:
        data = order_data(n, customer={"external_id": f"C-{n}", "name": f"N{n}", "phone": f"1380000{n:04d}"})
        rows.append(data)
    upsert_orders(rows, by=manager)


def test_order_and_customer_lists_do_not_grow_with_rows(client, manager, agent, bearer):
    headers = bearer(agent)
    _orders(manager, range(1, 3))
    client.get("/api/orders", headers=headers)  # warm up: token last-used stamp, cached grants
    few = {url: _queries(client, url, headers) for url in ("/api/orders", "/api/customers")}
    _orders(manager, range(3, 13))
    many = {url: _queries(client, url, headers) for url in ("/api/orders", "/api/customers")}

    assert few == many, many
    # Baselines (auth, token touch, page, prefetches); raise them only on purpose.
    assert many["/api/orders"] <= 5
    assert many["/api/customers"] <= 4


def test_order_detail_query_baseline(client, manager, agent, bearer):
    _orders(manager, [1])
    headers = bearer(agent)
    order_id = client.get("/api/orders", headers=headers).json()["items"][0]["id"]
    assert _queries(client, f"/api/orders/{order_id}", headers) <= 5
