"""/api/orders and /api/imports: idempotent batches, per-row results, masked reads, bad input → 4xx."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from desk.core.models import Event
from desk.orders.models import ImportJob, Order
from desk.orders.tests.test_imports import GOOD_CSV
from desk.orders.tests.test_order_services import order_data

URL = "/api/orders"


def _post(client, headers, payload):
    return client.post(URL, payload, content_type="application/json", headers=headers)


def test_batch_upsert_is_idempotent_and_answers_per_row(client, shop, bearer):
    headers = bearer(shop)
    bad = order_data(2, status="lost")
    payload = {"orders": [order_data(1), bad, order_data(3, customer={"name": "nobody"})]}

    first = _post(client, headers, payload)
    second = _post(client, headers, payload)

    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["created"], body["failed"]) == (1, 2)
    assert body["results"][1]["error"] == {
        "code": "invalid_choice",
        "message": body["results"][1]["error"]["message"],
        "field": "status",
    }
    assert body["results"][2]["error"]["field"] == "customer"
    assert second.json()["unchanged"] == 1
    assert second.json()["created"] == 0
    assert Order.objects.count() == 1
    assert Event.objects.filter(verb="order.imported").count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"orders": []},
        {"orders": [{"external_id": "A"}]},
        {"orders": [{**order_data(), "placed_at": "not a time"}]},
        {"orders": [{**order_data(), "items": [{"sku": "A", "name": "B", "unit_price": "free"}]}]},
        {"orders": [{**order_data(), "items": [{"sku": "A", "name": "B", "unit_price": 1, "quantity": 0}]}]},
        {"orders": [{**order_data(), "customer_id": "abc"}]},
        {"orders": [order_data(n) for n in range(501)]},
        {"orders": "all of them"},
        [],
    ],
)
def test_wrong_types_are_400_with_the_error_body(client, shop, bearer, payload):
    response = _post(client, bearer(shop), payload)
    assert response.status_code in (400, 413), response.content
    assert set(response.json()) == {"code", "message", "field"}
    assert not Order.objects.exists()


def test_agents_may_not_import_orders(client, agent, bearer):
    response = _post(client, bearer(agent), {"orders": [order_data()]})
    assert response.status_code == 403
    assert not Order.objects.exists()


def test_list_by_customer_and_detail_masked_for_agents(client, shop, agent, supervisor, bearer):
    _post(
        client,
        bearer(shop),
        {
            "orders": [
                order_data(1, recipient_phone="13800138000", shipping_address="广东省深圳市南山区1号"),
                order_data(2),
            ]
        },
    )
    other = order_data(3, customer={"external_id": "C-2", "name": "Amy", "email": "amy@example.com"})
    _post(client, bearer(shop), {"orders": [other]})
    order = Order.objects.get(external_id="TM-1")

    listed = client.get(URL, {"customer": order.customer_id}, headers=bearer(agent)).json()
    assert sorted(o["external_id"] for o in listed["items"]) == ["TM-1", "TM-2"]

    detail = client.get(f"{URL}/{order.pk}", headers=bearer(agent)).json()
    assert detail["recipient_phone"] == "138****8000"
    assert detail["shipping_address"] == "广东省深圳市****"
    assert [i["sku"] for i in detail["items"]] == ["BT-100", "CASE-1"]
    assert detail["shipments"][0]["events"][0]["status"] == "in_transit"
    unmasked = client.get(f"{URL}/{order.pk}", headers=bearer(supervisor)).json()
    assert unmasked["recipient_phone"] == "13800138000"

    assert client.get(f"{URL}/999999", headers=bearer(agent)).status_code == 404
    assert client.get(URL, {"customer": "x"}, headers=bearer(agent)).status_code == 400


def _file(name="orders.csv", content=GOOD_CSV):
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_import_upload_runs_the_job_and_reports_progress(client, manager, bearer, django_capture_on_commit_callbacks):
    headers = bearer(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/imports", {"kind": "orders", "file": _file()}, headers=headers)

    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    report = client.get(f"/api/imports/{job_id}", headers=headers).json()
    assert report["status"] == "done"
    assert report["progress"] == 100
    assert (report["processed_rows"], report["succeeded_rows"], report["failed_rows"]) == (7, 3, 4)
    assert [e["row"] for e in report["errors"]] == [5, 7, 8]
    assert all(e["error"] for e in report["errors"])
    assert client.get("/api/imports", headers=headers).json()["items"][0]["id"] == job_id


def test_import_upload_bad_input(client, manager, agent, bearer, settings):
    headers = bearer(manager)
    wrong_ext = client.post("/api/imports", {"kind": "orders", "file": _file("orders.txt")}, headers=headers)
    assert wrong_ext.status_code == 400
    assert wrong_ext.json()["code"] == "import.bad_type"
    wrong_kind = client.post("/api/imports", {"kind": "tickets", "file": _file()}, headers=headers)
    assert wrong_kind.status_code == 400
    assert wrong_kind.json()["field"] == "kind"
    no_file = client.post("/api/imports", {"kind": "orders"}, headers=headers)
    assert no_file.status_code == 400
    settings.DESK_IMPORT_MAX_BYTES = 100
    too_big = client.post("/api/imports", {"kind": "orders", "file": _file()}, headers=headers)
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "import.too_large"

    forbidden = client.post("/api/imports", {"kind": "orders", "file": _file()}, headers=bearer(agent))
    assert forbidden.status_code == 403
    assert not ImportJob.objects.exists()
    assert client.get("/api/imports/1", headers=bearer(agent)).status_code == 404
    assert client.get("/api/imports/999", headers=headers).status_code == 404
