"""Periodic housekeeping (Huey)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from desk.core.maintenance import refresh_planner_statistics


@db_periodic_task(crontab(hour="4", minute="17"))
def refresh_statistics() -> None:
    """Nightly, so the planner follows the data as tickets pile up."""
    refresh_planner_statistics()
