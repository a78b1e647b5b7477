"""Facts of the purchase the after-sales policy reads: shipping insurance and the exclusions confirmed
at checkout arrive with the order (API and CSV), never with the after-sales request."""

from __future__ import annotations

from typing import Any

from desk.orders.models import Order
from desk.orders.tests.test_imports import HEADER, _run, _upload, huey_immediate  # noqa: F401
from desk.orders.tests.test_order_services import order_data

URL = "/api/orders"


def test_the_api_takes_insurance_and_confirmed_exclusions_and_shows_them(client: Any, shop: Any, bearer: Any) -> None:
    headers = bearer(shop)
    given = order_data(1, shipping_insured=True, confirmed_exclusions=["unsealed_hygiene", "clearance"])
    response = client.post(URL, {"orders": [given]}, content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content
    order = Order.objects.get(external_id="TM-1")
    assert (order.shipping_insured, order.confirmed_exclusions) == (True, ["unsealed_hygiene", "clearance"])
    shown = client.get(f"{URL}/{order.pk}", headers=headers).json()
    assert (shown["shipping_insured"], shown["confirmed_exclusions"]) == (True, ["unsealed_hygiene", "clearance"])
    plain = client.post(URL, {"orders": [order_data(2)]}, content_type="application/json", headers=headers)
    assert plain.json()["created"] == 1
    second = Order.objects.get(external_id="TM-2")
    assert (second.shipping_insured, second.confirmed_exclusions) == (False, [])


def test_an_unknown_exclusion_is_a_row_error_naming_the_field(client: Any, shop: Any, bearer: Any) -> None:
    bad = order_data(1, confirmed_exclusions=["no_returns_ever"])
    body = client.post(URL, {"orders": [bad]}, content_type="application/json", headers=bearer(shop)).json()
    assert body["failed"] == 1
    assert (body["results"][0]["error"]["code"], body["results"][0]["error"]["field"]) == (
        "invalid_choice",
        "confirmed_exclusions",
    )
    assert not Order.objects.exists()


def test_the_csv_columns_carry_them(manager: Any, huey_immediate: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    csv_text = "\n".join(
        [
            f"{HEADER},shipping_insured,confirmed_exclusions",
            "TM-9,SO9,tmall,C-9,王小明,13800138000,,2026-05-01 10:00,2026-05-01 10:01,shipped,"
            "CUP-1,儿童水杯,,59.00,1,0,,,是,unsealed_hygiene;clearance",
        ]
    )
    job = _run(_upload("orders.csv", csv_text), "orders", manager, django_capture_on_commit_callbacks)
    assert (job.succeeded_rows, job.failed_rows) == (1, 0), job.errors
    order = Order.objects.get(external_id="TM-9")
    assert (order.shipping_insured, order.confirmed_exclusions) == (True, ["unsealed_hygiene", "clearance"])
