"""Huey jobs of the cases app."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from desk.cases import notices, sweep


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]  # huey ships no type hints
def sweep_cases() -> sweep.SweepResult:
    """Every minute: act on the case timeouts that came due (idempotent, claims its rows)."""
    return sweep.run()


@db_task()  # type: ignore[untyped-decorator]  # huey ships no type hints
def deliver_notice(notice_id: int) -> None:
    """Send one customer notice (idempotent: the claim decides who sends; failures are retried by the sweep)."""
    notices.deliver(notice_id)
