"""CSV and JSON files imported by the real Huey task (immediate mode): progress, error report, bad files."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from huey.contrib.djhuey import HUEY
from huey.storage import SqliteStorage

from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event
from desk.customers.models import Customer
from desk.orders import imports
from desk.orders.imports import FileTooLarge, start_import
from desk.orders.models import ImportJob, Order, OrderItem, Shipment
from desk.orders.tasks import run_import

HEADER = (
    "order_external_id,order_number,storefront,customer_external_id,customer_name,phone,email,placed_at,"
    "paid_at,status,sku,item_name,model,unit_price,quantity,shipping_fee,carrier,tracking_number"
)
GOOD_CSV = "\n".join(
    [
        HEADER,
        "TM-1,SO1,tmall,C-1,王小明,13800138000,,2026-05-01 10:00,2026-05-01 10:01,shipped,"
        "BT-100,蓝牙耳机,BT-100,199.00,2,10,顺丰,SF001",
        "TM-1,SO1,tmall,C-1,王小明,13800138000,,2026-05-01 10:00,2026-05-01 10:01,shipped,"
        "CASE-1,耳机壳,,29.90,1,10,顺丰,SF001",
        "TM-2,SO2,jd,C-2,Amy,,amy@example.com,2026-05-02T09:00:00+08:00,,paid,BT-200,降噪耳机,BT-200,599,1,0,,",
        "TM-3,SO3,jd,C-3,Bob,13900000000,,2026-05-02,,paid,BT-100,蓝牙耳机,,abc,1,0,,",
        "TM-3,SO3,jd,C-3,Bob,13900000000,,2026-05-02,,paid,CASE-1,耳机壳,,29.90,1,0,,",
        "TM-4,SO4,own,C-4,Carol,13700000000,,not a date,,paid,BT-100,蓝牙耳机,,199,1,0,,",
        ",SO5,own,C-5,Dan,13600000000,,2026-05-02,,paid,BT-100,蓝牙耳机,,199,1,0,,",
    ]
)


@pytest.fixture
def huey_immediate() -> Any:
    """Run Huey tasks in this process as soon as they are enqueued, then restore the setting."""
    before = HUEY.immediate
    HUEY.immediate = True
    yield HUEY
    HUEY.immediate = before


def _upload(name: str, content: str | bytes, content_type: str = "text/csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type=content_type)


def _run(upload: SimpleUploadedFile, kind: str, by: Any, capture: Any) -> ImportJob:
    with capture(execute=True):
        job = start_import(upload, kind, by=by)
    job.refresh_from_db()
    return job


def test_csv_orders_import_groups_rows_reports_bad_ones_and_imports_good_ones(
    manager, huey_immediate, django_capture_on_commit_callbacks
):
    job = _run(_upload("orders.csv", GOOD_CSV), "orders", manager, django_capture_on_commit_callbacks)

    assert job.status == "done", job.message
    assert (job.total_rows, job.processed_rows, job.succeeded_rows, job.failed_rows) == (7, 7, 3, 4)
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["TM-1", "TM-2"]
    tm1 = Order.objects.get(external_id="TM-1")
    assert list(tm1.items.values_list("sku", flat=True)) == ["BT-100", "CASE-1"]
    assert tm1.shipments.get().tracking_number == "SF001"
    # TM-3's second item was fine, but the order is all-or-nothing.
    assert not OrderItem.objects.filter(order__external_id="TM-3").exists()
    errors = {e["row"]: e for e in job.errors}
    assert sorted(errors) == [5, 7, 8]
    assert errors[5]["rows"] == [5, 6]
    assert errors[5]["field"] == "unit_price"
    assert errors[5]["error"].startswith("unit_price: ")
    assert errors[5]["code"] == "invalid_number"
    assert errors[5]["external_id"] == "TM-3"
    assert errors[7]["field"] == "placed_at"
    assert errors[8]["field"] == "order_external_id"
    assert "3" in job.message
    assert "7" in job.message
    assert Event.objects.filter(verb="import.finished", subject_id=job.pk).exists()


def test_the_same_file_twice_creates_nothing_new(manager, huey_immediate, django_capture_on_commit_callbacks):
    _run(_upload("orders.csv", GOOD_CSV), "orders", manager, django_capture_on_commit_callbacks)
    counts = (Order.objects.count(), OrderItem.objects.count(), Shipment.objects.count(), Customer.objects.count())

    again = _run(_upload("orders.csv", GOOD_CSV), "orders", manager, django_capture_on_commit_callbacks)

    assert again.succeeded_rows == 3
    assert counts == (
        Order.objects.count(),
        OrderItem.objects.count(),
        Shipment.objects.count(),
        Customer.objects.count(),
    )
    assert Event.objects.filter(verb="order.imported").count() == 2
    assert not Event.objects.filter(verb="order.updated").exists()


def test_progress_moves_chunk_by_chunk(manager, huey_immediate, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    seen: list[int] = []
    real_count = imports._count

    def watch(job, records, batch):
        real_count(job, records, batch)
        seen.append(ImportJob.objects.get(pk=job.pk).processed_rows)

    monkeypatch.setattr(imports, "_count", watch)
    lines = [HEADER] + [
        f"T-{n},,own,C-{n},N{n},1380000{n:04d},,2026-05-01,,paid,S-{n},Item,,9.9,1,0,," for n in range(5)
    ]

    job = _run(_upload("orders.csv", "\n".join(lines)), "orders", manager, django_capture_on_commit_callbacks)

    assert seen == [2, 4, 5]
    assert job.status == "done"
    assert job.succeeded_rows == 5


def test_json_orders_file_like_the_api(manager, huey_immediate, django_capture_on_commit_callbacks):
    orders = [
        {
            "external_id": "J-1",
            "customer": {"external_id": "C-9", "name": "Eve", "email": "eve@example.com"},
            "placed_at": "2026-05-01T10:00:00+08:00",
            "items": [{"sku": "A", "name": "Thing", "unit_price": 10, "quantity": 3}],
            "shipments": [{"carrier": "SF", "tracking_number": "X1", "status": "delivered"}],
        },
        {"external_id": "J-2", "customer": {"phone": "13800138000"}, "placed_at": "2026-05-01", "items": []},
        ["not", "an", "object"],
    ]
    payload = json.dumps({"orders": orders})

    job = _run(
        _upload("orders.json", payload, "application/json"), "orders", manager, django_capture_on_commit_callbacks
    )

    assert job.status == "done"
    assert (job.total_rows, job.succeeded_rows, job.failed_rows) == (3, 1, 2)
    assert [(e["row"], e["field"]) for e in job.errors] == [(2, "items"), (3, None)]
    order = Order.objects.get(external_id="J-1")
    assert order.total_amount == 30
    assert order.shipments.get().status == "delivered"


def test_customers_csv_and_json(manager, huey_immediate, django_capture_on_commit_callbacks):
    csv_text = (
        "\ufeffexternal_id,name,phone,email,tier,tags,consent_marketing\n"
        "C-1,王小明,13800138000,,vip,复购客户;高价值,是\n"
        "C-2,Amy,,not-an-email,,,\n"
        "C-3,Bob,,,gold,,\n"
    )
    job = _run(
        _upload("customers.csv", csv_text.encode("utf-8")), "customers", manager, django_capture_on_commit_callbacks
    )

    assert job.status == "done"
    assert (job.succeeded_rows, job.failed_rows) == (1, 2)
    assert [(e["row"], e["field"]) for e in job.errors] == [(3, "email"), (4, "tier")]
    wang = Customer.objects.get(external_id="C-1")
    assert wang.tier == "vip"
    assert wang.consent_marketing
    assert sorted(wang.tags.values_list("name", flat=True)) == ["复购客户", "高价值"]

    job = _run(
        _upload("c.json", json.dumps([{"external_id": "C-1", "tier": "svip"}]), "application/json"),
        "customers",
        manager,
        django_capture_on_commit_callbacks,
    )
    wang.refresh_from_db()
    assert job.succeeded_rows == 1
    assert wang.tier == "svip"
    assert wang.name == "王小明"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("orders.csv", "订单号,金额\n1,2\n".encode("gbk"), "not UTF-8"),
        (
            "orders.csv",
            "order_external_id,sku\nA,B\n",
            "Required columns are missing: placed_at, item_name, unit_price",
        ),
        (
            "orders.csv",
            "order_external_id,placed_at,sku,item_name,unit_price\nA,2026-05-01,S,I,1\n",
            "Add a column to find the customer",
        ),
        ("orders.json", '[{"external_id": "A",', "not valid JSON"),
        ("orders.json", '{"customers": []}', "must hold a list of orders"),
    ],
)
def test_a_file_that_cannot_be_read_fails_the_job_with_a_clear_message(
    manager, huey_immediate, django_capture_on_commit_callbacks, name, content, message
):
    with translation.override("en"):
        job = _run(_upload(name, content), "orders", manager, django_capture_on_commit_callbacks)

    assert job.status == "failed"
    assert message in job.message
    assert job.finished_at is not None
    assert not Order.objects.exists()
    assert Event.objects.filter(verb="import.failed", subject_id=job.pk).exists()


def test_upload_checks_type_size_kind_and_permission(manager, agent, settings):
    with pytest.raises(ValidationFailed) as wrong_type:
        start_import(_upload("orders.xlsx", "x"), "orders", by=manager)
    assert wrong_type.value.code == "import.bad_type"
    with pytest.raises(ValidationFailed) as empty:
        start_import(_upload("orders.csv", ""), "orders", by=manager)
    assert empty.value.code == "import.empty"
    with pytest.raises(ValidationFailed) as kind:
        start_import(_upload("orders.csv", "a"), "tickets", by=manager)
    assert kind.value.field == "kind"
    settings.DESK_IMPORT_MAX_BYTES = 10
    with pytest.raises(FileTooLarge) as too_big:
        start_import(_upload("orders.csv", "x" * 11), "orders", by=manager)
    assert too_big.value.status == 413
    with pytest.raises(Forbidden):
        start_import(_upload("orders.csv", GOOD_CSV), "orders", by=agent)
    assert not ImportJob.objects.exists()


def test_a_job_runs_once_even_if_the_task_is_delivered_twice(
    manager, huey_immediate, django_capture_on_commit_callbacks
):
    job = _run(_upload("orders.csv", GOOD_CSV), "orders", manager, django_capture_on_commit_callbacks)
    run_import(job.pk)  # a duplicate delivery: the job is no longer queued, so nothing runs
    assert Event.objects.filter(verb="import.finished").count() == 1
    assert ImportJob.objects.get(pk=job.pk).processed_rows == 7


def test_the_task_is_queued_after_commit_and_a_worker_runs_it(
    manager, django_capture_on_commit_callbacks, tmp_path, monkeypatch
):
    """With a real (SQLite) queue: nothing runs in the request; the worker's dequeue runs the import."""
    # A real worker closes stale connections around each task; inside this test's transaction that
    # would drop the test database connection (PostgreSQL), so keep it open here.
    monkeypatch.setattr("huey.contrib.djhuey.close_old_connections", lambda: None)
    before = HUEY.immediate
    HUEY.immediate = False
    HUEY.storage = SqliteStorage(name="desk-import-test", filename=str(tmp_path / "queue.sqlite3"))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = start_import(_upload("orders.csv", GOOD_CSV), "orders", by=manager)
        assert HUEY.pending_count() == 1
        assert ImportJob.objects.get(pk=job.pk).status == "queued"
        HUEY.execute(HUEY.dequeue())
        assert ImportJob.objects.get(pk=job.pk).status == "done"
    finally:
        HUEY.immediate = True  # recreates the in-memory storage
        HUEY.immediate = before
