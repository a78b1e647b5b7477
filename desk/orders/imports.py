"""CSV/JSON import files: stored on upload, read and imported in the background with progress.

The job is the unit a shop watches: `processed_rows` moves chunk by chunk, every bad row lands in
`errors` with its file row and the reason, good rows are imported. Each order (all the CSV rows
sharing one `order_external_id`) is written all-or-nothing. A file that cannot be read at all
(not UTF-8, invalid JSON, required columns missing) fails the whole job with a clear message.
The file format is documented in docs/import.md.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.core.errors import DomainError, ValidationFailed
from desk.core.events import record_event
from desk.customers.services import BatchResult, clean_choice, run_batch, upsert_customer_row
from desk.orders.models import ImportJob, ImportKind, ImportStatus
from desk.orders.services import upsert_numbered_orders

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".json": "json"}
CHUNK_SIZE = 100  # records per transaction: progress shows often, commits stay cheap
MAX_ERRORS_KEPT = 1000  # the report stays readable; the counters still count every failure
ORDER_REQUIRED_COLUMNS = ("order_external_id", "placed_at", "sku", "item_name", "unit_price")
ORDER_CUSTOMER_COLUMNS = ("customer_external_id", "phone", "email")
CUSTOMER_REQUIRED_COLUMNS = ("external_id", "name")

# CSV column -> key in the API's order object (order-level values come from the order's first row).
_ORDER_COLUMNS = {
    "order_external_id": "external_id", "order_number": "number", "storefront": "storefront",
    "storefront_name": "storefront_name", "status": "status", "placed_at": "placed_at", "paid_at": "paid_at",
    "currency": "currency", "total_amount": "total_amount", "shipping_fee": "shipping_fee",
    "discount_amount": "discount_amount", "payment_method": "payment_method",
    "payment_reference": "payment_reference", "recipient_name": "recipient_name",
    "recipient_phone": "recipient_phone", "shipping_address": "shipping_address",
    "shipping_insured": "shipping_insured", "confirmed_exclusions": "confirmed_exclusions",
}  # fmt: skip
_CUSTOMER_COLUMNS = {
    "customer_external_id": "external_id", "customer_name": "name", "phone": "phone", "email": "email",
    "address": "address",
}  # fmt: skip
_ITEM_COLUMNS = {
    "sku": "sku", "item_name": "name", "model": "model", "unit_price": "unit_price", "quantity": "quantity",
    "item_discount": "discount_amount",
}  # fmt: skip
_SHIPMENT_COLUMNS = {
    "carrier": "carrier", "tracking_number": "tracking_number", "shipment_status": "status",
    "shipped_at": "shipped_at", "delivered_at": "delivered_at",
}  # fmt: skip
_CUSTOMER_FILE_COLUMNS = (
    "external_id", "name", "email", "phone", "address", "tier", "preferred_channel", "tags",
    "consent_marketing", "consent_data_processing", "language", "notes",
)  # fmt: skip


class ImportFileError(Exception):
    """The file as a whole cannot be read; the job fails with this message."""


class FileTooLarge(ValidationFailed):
    status = 413
    code = "import.too_large"


@dataclass
class Record:
    """One thing to import (a customer, or an order built from one or more CSV rows)."""

    rows: list[int]
    data: dict[str, Any]
    # For CSV orders: the file row of each item and shipment, to point errors at the right row.
    item_rows: list[int] = field(default_factory=list)
    shipment_rows: list[int] = field(default_factory=list)

    @property
    def row(self) -> int:
        return self.rows[0]


# --- Starting a job ------------------------------------------------------------------------------
def start_import(upload: UploadedFile, kind: str, *, by: Any) -> ImportJob:
    """Store the uploaded file as an ImportJob and queue the background import (after commit)."""
    authorize(by, "order.import")
    kind = clean_choice(kind, "kind", ImportKind.values)
    file_format = _check_upload(upload)
    with transaction.atomic():
        job = ImportJob(kind=kind, file_format=file_format, original_name=(upload.name or "")[:200], created_by=by)
        job.file.save(get_valid_filename(Path(upload.name or "import").name), upload, save=False)
        job.save()
        record_event(
            "import.queued", actor=by, subject=job, data={"kind": kind, "file": job.original_name, "size": upload.size}
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _check_upload(upload: UploadedFile) -> str:
    suffix = Path(upload.name or "").suffix.lower()
    if suffix not in FORMATS:
        raise ValidationFailed(_("Upload a .csv or .json file."), code="import.bad_type", field="file")
    if not upload.size:
        raise ValidationFailed(_("The file is empty."), code="import.empty", field="file")
    limit = settings.DESK_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise FileTooLarge(_("The file is larger than %(mb).1f MB.") % {"mb": limit / 1024 / 1024}, field="file")
    return FORMATS[suffix]


def _enqueue(job_id: int) -> None:
    from desk.orders.tasks import run_import  # tasks import this module

    run_import(job_id)


# --- Running a job -------------------------------------------------------------------------------
def process_import(job_id: int) -> None:
    """Import the job's file; safe to call twice (only the call that claims the queued job runs)."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return  # another worker got there first, or the job already ran
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    try:
        records = read_records(job)
        authorize(job.created_by, "order.import", subject=job)
        job.total_rows = sum(len(r.rows) for r in records)
        job.save(update_fields=["total_rows"])
        for start in range(0, len(records), CHUNK_SIZE):
            _import_chunk(job, records[start : start + CHUNK_SIZE])
    except (ImportFileError, DomainError) as exc:
        _finish(job, ImportStatus.FAILED, str(exc))
    except Exception:  # a bug must not leave the job "running" forever
        log.exception("import job %s failed", job_id)
        _finish(job, ImportStatus.FAILED, _("The import stopped on an unexpected error; the rows so far are kept."))
    else:
        _finish(job, ImportStatus.DONE, _summary(job))


def _import_chunk(job: ImportJob, records: Sequence[Record]) -> None:
    """Import a chunk and move the job's counters in the same transaction, so progress never lies."""
    by = job.created_by
    numbered = [(r.row, r.data) for r in records]
    with transaction.atomic():
        if job.kind == ImportKind.ORDERS:
            batch = upsert_numbered_orders(numbered, by=by)
        else:
            batch = run_batch(numbered, lambda data: upsert_customer_row(data, by=by))
        _count(job, records, batch)


def _count(job: ImportJob, records: Sequence[Record], batch: BatchResult) -> None:
    succeeded = failed = 0
    errors: list[dict[str, Any]] = []
    for record, result in zip(records, batch.results, strict=True):
        if result.action == "failed":
            failed += len(record.rows)
            errors.append(_error_entry(record, result.external_id, result.error or {}))
        else:
            succeeded += len(record.rows)
    room = max(MAX_ERRORS_KEPT - len(job.errors), 0)
    job.errors = [*job.errors, *errors[:room]]
    job.processed_rows += succeeded + failed
    job.succeeded_rows += succeeded
    job.failed_rows += failed
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["errors", "processed_rows", "succeeded_rows", "failed_rows", "heartbeat_at"])


def _error_entry(record: Record, external_id: str, error: Mapping[str, Any]) -> dict[str, Any]:
    """{row, error, ...}: the row is the file row the bad value sits on where it can be told."""
    row, column = _locate(record, str(error.get("field") or ""))
    message = str(error.get("message") or "")
    return {
        "row": row,
        "rows": record.rows,
        "external_id": external_id,
        "field": column or None,
        "code": error.get("code"),
        "error": f"{column}: {message}" if column else message,
    }


def _locate(record: Record, field_name: str) -> tuple[int, str]:
    for prefix, rows, columns in (
        ("items[", record.item_rows, _ITEM_COLUMNS),
        ("shipments[", record.shipment_rows, _SHIPMENT_COLUMNS),
    ):
        if field_name.startswith(prefix) and rows:
            index, _sep, rest = field_name[len(prefix) :].partition("].")
            if index.isdigit() and 0 < int(index) <= len(rows):
                return rows[int(index) - 1], _column_for(rest, columns)
    if field_name.startswith("customer.") and record.item_rows:
        return record.row, _column_for(field_name.removeprefix("customer."), _CUSTOMER_COLUMNS)
    if record.item_rows:
        return record.row, _column_for(field_name, _ORDER_COLUMNS)
    return record.row, field_name


def _column_for(key: str, columns: Mapping[str, str]) -> str:
    return next((column for column, k in columns.items() if k == key), key)


def _summary(job: ImportJob) -> str:
    return _("%(ok)d of %(total)d rows imported, %(bad)d failed.") % {
        "ok": job.succeeded_rows,
        "total": job.total_rows,
        "bad": job.failed_rows,
    }


def _finish(job: ImportJob, status: str, message: str) -> None:
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(status=status, message=message[:500], finished_at=timezone.now())
        record_event(
            "import.finished" if status == ImportStatus.DONE else "import.failed",
            actor=job.created_by,
            subject=job,
            data={
                "kind": job.kind,
                "total": job.total_rows,
                "succeeded": job.succeeded_rows,
                "failed": job.failed_rows,
                "message": message,
            },
        )
    job.refresh_from_db()


# --- Reading files -------------------------------------------------------------------------------
def read_records(job: ImportJob) -> list[Record]:
    """The records of the job's file, or ImportFileError if the file as a whole is unusable."""
    with job.file.open("rb") as handle:
        raw = handle.read()
    text = decode(raw)
    if job.file_format == "json":
        return parse_json(text, job.kind)
    if job.kind == ImportKind.ORDERS:
        return parse_orders_csv(text)
    return parse_customers_csv(text)


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            _("The file is not UTF-8 text (byte %(pos)d). In Excel use “Save as: CSV UTF-8”.") % {"pos": exc.start}
        ) from exc


def parse_json(text: str, kind: str) -> list[Record]:
    """A list of objects like the API's, or {"orders": [...]} / {"customers": [...]}."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            _("The file is not valid JSON (line %(line)d, column %(col)d: %(msg)s).")
            % {"line": exc.lineno, "col": exc.colno, "msg": exc.msg}
        ) from exc
    if isinstance(document, dict) and kind in document:
        document = document[kind]
    if not isinstance(document, list):
        raise ImportFileError(_("The JSON file must hold a list of %(kind)s.") % {"kind": kind})
    return [Record(rows=[i], data=item) for i, item in enumerate(document, 1)]


def _csv_rows(text: str, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(file row, {column: value}) for each non-blank data row; the header is row 1."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise ImportFileError(_("Required columns are missing: %(cols)s.") % {"cols": ", ".join(missing)})
        for number, values in enumerate(reader, 2):
            if any(v.strip() for v in values):
                yield number, {h: v.strip() for h, v in zip(header, values, strict=False) if h}
    except csv.Error as exc:
        raise ImportFileError(_("The CSV file is malformed: %(msg)s.") % {"msg": exc}) from exc


def parse_orders_csv(text: str) -> list[Record]:
    """One row per order item; rows sharing `order_external_id` are one order (in file order)."""
    rows = list(_csv_rows(text, ORDER_REQUIRED_COLUMNS))
    if rows and not any(c in rows[0][1] for c in ORDER_CUSTOMER_COLUMNS):
        raise ImportFileError(
            _("Add a column to find the customer: %(cols)s.") % {"cols": ", ".join(ORDER_CUSTOMER_COLUMNS)}
        )
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    loose: list[Record] = []
    for number, row in rows:
        key = row.get("order_external_id", "")
        if key:
            groups.setdefault(key, []).append((number, row))
        else:  # reported as a bad row of its own, with the reason from the service
            loose.append(Record(rows=[number], data={"external_id": ""}, item_rows=[number]))
    records = [_order_record(group) for group in groups.values()] + loose
    return sorted(records, key=lambda r: r.row)


def _order_record(group: list[tuple[int, dict[str, str]]]) -> Record:
    first = group[0][1]
    data: dict[str, Any] = _pick(first, _ORDER_COLUMNS)
    data["customer"] = _pick(first, _CUSTOMER_COLUMNS)
    record = Record(rows=[n for n, _row in group], data=data)
    items, shipments = [], {}
    for number, row in group:
        if row.get("sku") or row.get("item_name"):
            items.append(_pick(row, _ITEM_COLUMNS))
            record.item_rows.append(number)
        tracking = row.get("tracking_number", "")
        if tracking and tracking not in shipments:
            shipments[tracking] = _pick(row, _SHIPMENT_COLUMNS)
            record.shipment_rows.append(number)
    data["items"], data["shipments"] = items, list(shipments.values())
    return record


def _pick(row: Mapping[str, str], columns: Mapping[str, str]) -> dict[str, str]:
    """Non-empty cells only: an empty cell means "not given", so defaults apply."""
    return {key: row[column] for column, key in columns.items() if row.get(column)}


def parse_customers_csv(text: str) -> list[Record]:
    """One row per customer; empty cells leave the stored value as it is."""
    return [
        Record(rows=[number], data={"external_id": row.get("external_id", ""), **_pick(row, _CUSTOMER_FIELDS)})
        for number, row in _csv_rows(text, CUSTOMER_REQUIRED_COLUMNS)
    ]


_CUSTOMER_FIELDS = {c: c for c in _CUSTOMER_FILE_COLUMNS if c != "external_id"}


# --- Recovery ------------------------------------------------------------------------------------
QUEUED_GRACE = timedelta(minutes=5)
STALLED_AFTER = timedelta(minutes=10)


def recover_stalled_imports(now: datetime | None = None) -> dict[str, int]:
    """Requeue jobs whose enqueue was lost or whose worker died mid-run.

    Upserts are idempotent, so a stalled job restarts from the top with its counters reset:
    rows already imported come back as "unchanged".
    """
    now = now or timezone.now()
    requeued = restarted = 0
    for job_id in ImportJob.objects.filter(status=ImportStatus.QUEUED, created_at__lt=now - QUEUED_GRACE).values_list(
        "pk", flat=True
    ):
        _enqueue(job_id)
        requeued += 1
    stalled = ImportJob.objects.filter(status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALLED_AFTER)
    for job in stalled:
        reset = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, heartbeat_at=job.heartbeat_at).update(
            status=ImportStatus.QUEUED, processed_rows=0, succeeded_rows=0, failed_rows=0, errors=[]
        )
        if reset:  # one row updated: this sweep owns the restart
            record_event("import.restarted", subject=job, data={"stalled_since": job.heartbeat_at})
            _enqueue(job.pk)
            restarted += 1
    return {"requeued": requeued, "restarted": restarted}
