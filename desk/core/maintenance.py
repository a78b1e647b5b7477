"""Keeping the database's query planner informed.

SQLite chooses between indexes by its statistics (sqlite_stat1). Without them it guessed wrong
on the queue page at a million tickets (a sort of every open ticket: 160 ms instead of 1 ms), so
statistics are gathered after every migrate and refreshed daily. PostgreSQL's autovacuum keeps
its own statistics; an ANALYZE after migrate only brings the first ones forward.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection

log = logging.getLogger(__name__)

# Rows sampled per index: enough for the planner, fast at a million rows.
SQLITE_ANALYSIS_LIMIT = 2000


def refresh_planner_statistics(*, full: bool = False) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            cursor.execute("ANALYZE" if full else "PRAGMA optimize")
        elif connection.vendor == "postgresql":
            cursor.execute("ANALYZE")


def after_migrate(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("using", "default") != "default":
        return
    refresh_planner_statistics(full=True)
    log.info("planner statistics refreshed")
