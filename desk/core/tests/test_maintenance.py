from __future__ import annotations

from django.db import connection

from desk.core.maintenance import refresh_planner_statistics
from desk.core.testing import make_customer


def test_statistics_are_gathered_for_the_planner(db):
    for n in range(3):
        make_customer(f"顾客{n}")
    refresh_planner_statistics(full=True)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'customers_customer'")
        else:
            cursor.execute("SELECT COUNT(*) FROM pg_stats WHERE tablename = 'customers_customer'")
        assert cursor.fetchone()[0] > 0
