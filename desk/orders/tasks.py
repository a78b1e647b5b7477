"""Background jobs of the orders area (Huey)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from desk.orders import services_confirm
from desk.orders.imports import process_import, recover_stalled_imports


@db_task()
def run_import(job_id: int) -> None:
    """Import an uploaded file; takes an id and is idempotent (the job is claimed once)."""
    process_import(job_id)


@db_periodic_task(crontab(minute="*/5"))
def recover_imports() -> None:
    """Nothing uploaded is lost when a worker restarts mid-import."""
    recover_stalled_imports()


@db_periodic_task(crontab(minute="*/5"))
def auto_confirm_receipts() -> services_confirm.AutoConfirmResult:
    """Delivered orders are confirmed as received when their (unpaused) auto-confirm deadline passes."""
    return services_confirm.confirm_due_receipts()
