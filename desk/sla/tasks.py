"""Huey jobs of the SLA app."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from desk.sla import services
from desk.sla.sweep import SweepResult


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]  # huey ships no type hints
def sweep_sla() -> SweepResult:
    """Every minute: fire the warnings and breaches that came due (idempotent, claims its rows)."""
    return services.sweep()


@db_task()  # type: ignore[untyped-decorator]
def reschedule_calendar_targets(calendar_id: int) -> int:
    """After a calendar, its hours or its days changed: running deadlines counted on it, again."""
    return services.reschedule_calendar(calendar_id)
