"""Load many after-sales cases fast, then time the case sweep when 100,000 timeouts come due at once.

    .venv/bin/python bench/cases_load.py --cases 100000          # SQLite, var/bench-cases.sqlite3
    .venv/bin/python bench/cases_load.py --reuse                 # the same data, the sweep again
    .venv/bin/python bench/cases_load.py --cases 1000000 --database-url postgres://postgres@127.0.0.1:5432/desk_bench_cases

Loads `--cases` cases (default 1,000,000) with customers, orders (two per customer, one item and a
delivered shipment each, through `bench/load.py`) and one item per case, written as plain rows
(executemany on SQLite, COPY on PostgreSQL). The newest `--open` cases (default min(100,000, N/10))
are open, by fives: three return requests waiting for the shop's answer, one received return
waiting for inspection, one approved return waiting for the customer's parcel; the rest are closed
(refunded). The staff of `bench/load.py` (its supervisor hears of escalations) are made too.

Then `--due` open cases (default all of them) come due at once and the sweep runs: it escalates the
unanswered requests and the uninspected returns (an event and a notification each, or a summary)
and closes the unshipped returns (an event, a customer notice); a second sweep must find nothing.
Every run first puts the open cases back as loaded (on PostgreSQL, then vacuums the tables it rewrote), so
`--reuse` measures the same work again.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import fresh_database, setup_django  # noqa: E402

KINDS = ["requested", "requested", "requested", "received", "approved"]  # open cases, by id % 5
DUE_COLUMN = {"requested": "answer_due_at", "received": "inspect_due_at", "approved": "ship_due_at"}


def prepare(url: str) -> None:
    fresh_database(url)
    env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--skip-checks", "-v0"], cwd=ROOT, env=env, check=True)


def load(n: int, n_open: int, *, staff: bool = True) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from bench import load as tickets

    began = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-400000")
    customers = max(1, n // 10)
    with transaction.atomic():
        tickets._skip_fk_triggers(connection)
        if staff:  # (into bench/run.py's database: its staff and API token exist already)
            tickets.make_staff()
        now = timezone.now()
        first_customer = tickets._timed("customers", lambda: tickets.load_customers(customers, now))
        first_order = tickets._timed("orders", lambda: tickets.load_orders(customers, first_customer, now))
        tickets._timed("cases", lambda: load_cases(n, n_open, customers, first_customer, first_order, now))
    tickets._timed("analyze", lambda: tickets.finish(connection.vendor))
    print(f"loaded {n:,} cases ({n_open:,} open) in {time.perf_counter() - began:.1f} s", flush=True)


def load_cases(n: int, n_open: int, customers: int, first_customer: int, first_order: int, now: Any) -> None:
    from bench.load import Table, _next_id
    from desk.cases.models import AfterSalesCase, CaseItem, PolicyVersion
    from desk.orders.models import OrderItem

    version = PolicyVersion.objects.order_by("pk").values_list("pk", flat=True)[0]
    first = _next_id(AfterSalesCase)
    first_item = OrderItem.objects.filter(order_id=first_order).values_list("pk", flat=True).get()
    orders = customers * 2
    later = now + timedelta(days=30)
    columns = ["id", "case_type", "state", "customer_id", "order_id", "reason", "policy_version_id", "decision",
               "goods_amount", "refund_amount", "return_shipping_payer", "close_reason", "created_at", "updated_at",
               "approved_at", "received_at", "closed_at", "answer_due_at", "ship_due_at", "inspect_due_at"]  # fmt: skip
    decision = '{"outcome": "allowed", "rule": "no_reason", "message": "7-day no-reason return"}'
    closed_until = n - n_open

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            cid = first + i
            order = i % orders
            created = now - timedelta(days=3) if i >= closed_until else now - timedelta(days=30 + i % 300)
            kind = KINDS[cid % 5] if i >= closed_until else "closed"
            due = {DUE_COLUMN[kind]: later} if kind in DUE_COLUMN else {}
            yield (cid, "return_refund", kind, first_customer + order % customers, first_order + order, "no_reason",
                   version, decision, "899.00", "899.00", "customer", "refunded" if kind == "closed" else "",
                   created, created, created if kind != "requested" else None,
                   created if kind == "received" else None, created if kind == "closed" else None,
                   due.get("answer_due_at"), due.get("ship_due_at"), due.get("inspect_due_at"))  # fmt: skip

    Table(AfterSalesCase, columns).write(rows())
    items = Table(CaseItem, ["case_id", "order_item_id", "quantity", "amount"])
    items.write((first + i, first_item + i % orders, 1, "899.00") for i in range(n))


# --- The sweep ---------------------------------------------------------------------------------
def open_ids() -> list[int]:
    from django.db.models import Max

    from desk.cases.models import AfterSalesCase

    newest = AfterSalesCase.objects.aggregate(m=Max("pk"))["m"] or 0
    first_open = AfterSalesCase.objects.exclude(close_reason="refunded").order_by("pk").values_list("pk", flat=True)
    start = first_open.first() or newest + 1
    return list(range(start, newest + 1))


def reset(ids: list[int]) -> None:
    """The open cases as loaded: each in its state, its deadline far away; the last run's writes gone."""
    from django.db import connection, transaction
    from django.db.models import F
    from django.utils import timezone

    from desk.accounts.models import Notification
    from desk.cases.models import AfterSalesCase, CustomerNotice
    from desk.core.models import Event

    later = timezone.now() + timedelta(days=30)
    with transaction.atomic():
        CustomerNotice.objects.all().delete()
        Event.objects.filter(subject_type="aftersalescase").delete()
        Notification.objects.filter(verb__startswith="case.").delete()
        for k, kind in enumerate(KINDS):
            cases = AfterSalesCase.objects.annotate(slot=F("pk") % 5).filter(pk__gte=ids[0], slot=k)
            cleared = dict.fromkeys(DUE_COLUMN.values())
            cases.update(state=kind, close_reason="", closed_at=None, **(cleared | {DUE_COLUMN[kind]: later}))
    if connection.vendor == "postgresql":
        # The reset deletes the last run's 120,000 events and rewrites 100,000 cases: vacuum as autovacuum
        # would between two sweeps in production, or each run reads past the dead rows of all before it.
        with connection.cursor() as cursor:
            cursor.execute(
                "VACUUM ANALYZE core_event, cases_aftersalescase, cases_customernotice, accounts_notification"
            )


def come_due(ids: list[int], kinds: set[str]) -> None:
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from desk.cases.models import AfterSalesCase

    past = timezone.now() - timedelta(minutes=1)
    with transaction.atomic():
        for k, kind in enumerate(KINDS):
            if kind not in kinds:
                continue
            cases = AfterSalesCase.objects.annotate(slot=F("pk") % 5).filter(pk__gte=ids[0], pk__lte=ids[-1], slot=k)
            cases.update(**{DUE_COLUMN[kind]: past})


def timed_sweep(label: str) -> dict[str, Any]:
    from desk.cases import sweep

    began, cpu = time.perf_counter(), time.process_time()
    result = dict(sweep.run())
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    shown = {k: v for k, v in result.items() if v and k != "seconds"}
    print(f"  {label:<32} {seconds:7.2f} s (this process on CPU {cpu:6.2f} s)  {shown}", flush=True)
    return result


def counts() -> str:
    from desk.accounts.models import Notification
    from desk.cases.models import AfterSalesCase, CustomerNotice
    from desk.core.models import Event

    return (
        f"cases {AfterSalesCase.objects.count():,}, events {Event.objects.filter(verb__startswith='case.').count():,}, "
        f"notifications {Notification.objects.filter(verb__startswith='case.').count():,}, "
        f"customer notices {CustomerNotice.objects.count():,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_CASES_DATABASE_URL", "sqlite:///var/bench-cases.sqlite3")
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=None, help="open cases (default min(100000, N/10))")
    parser.add_argument("--due", type=int, default=None, help="open cases that come due at once (default all)")
    parser.add_argument("--reuse", action="store_true", help="skip migrate and load")
    parser.add_argument(
        "--kinds", default="requested,received,approved", help="which open cases come due (states, comma-separated)"
    )
    parser.add_argument(
        "--into-existing", action="store_true", help="load into a migrated, loaded database (bench/run.py's), no sweep"
    )
    args = parser.parse_args()
    os.chdir(ROOT)
    n_open = min(100_000, args.cases // 10) if args.open is None else min(args.open, args.cases)
    if not (args.reuse or args.into_existing):
        prepare(args.database_url)
    setup_django(args.database_url)
    from huey.contrib.djhuey import HUEY
    from huey.storage import MemoryStorage

    HUEY.storage = MemoryStorage(HUEY.name)  # customer notices are enqueued after commit: no worker here
    if not args.reuse:
        load(args.cases, n_open, staff=not args.into_existing)
    if args.into_existing:
        return
    ids = open_ids()
    due = ids[: args.due] if args.due is not None else ids
    reset(ids)
    print(f"Case sweep, {args.database_url.split(':')[0]}, {len(due):,} of {len(ids):,} open cases due at once")
    timed_sweep("nothing due")
    kinds = set(args.kinds.split(","))
    come_due(due, kinds)
    timed_sweep(f"{len(due):,} open, {args.kinds} due")
    timed_sweep("again (nothing left)")
    print(f"  written: {counts()}", flush=True)


if __name__ == "__main__":
    main()
