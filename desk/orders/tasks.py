"""Background jobs of the orders area (Huey)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from desk.orders.imports import process_import


@db_task()
def run_import(job_id: int) -> None:
    """Import an uploaded file; takes an id and is idempotent (the job is claimed once)."""
    process_import(job_id)
