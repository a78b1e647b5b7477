"""Huey jobs of the SLA app."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from desk.sla import services
from desk.sla.sweep import SweepResult


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]  # huey ships no type hints
def sweep_sla() -> SweepResult:
    """Every minute: fire the warnings and breaches that came due (idempotent, claims its rows)."""
    return services.sweep()
