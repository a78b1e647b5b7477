"""Time the whole return flow through the services, request to refund (target ≥ 50 flows/s).

    .venv/bin/python bench/cases_flow.py                      # SQLite, var/bench-cases-flow.sqlite3 (fresh, WAL)
    .venv/bin/python bench/cases_flow.py --flows 1000
    .venv/bin/python bench/cases_flow.py --database-url postgres://postgres@127.0.0.1:5432/desk_bench_cases_flow
    .venv/bin/python bench/cases_flow.py --profile            # cProfile's top functions after the run
    .venv/bin/python bench/cases_flow.py --workers 4          # 4 processes, each its own share of the flows

Each flow, in one process, as the app runs it (settings from DATABASE_URL, a fresh database migrated
first): a delivered order (made before the clock starts), then open → approve → return instructions
→ the customer's shipment → receive → inspect → refund with the simulated provider (confirmed). It
prints flows/s, the SQL statements one flow costs per step (BEGIN and COMMIT included) and its commits.

One process runs one flow after another, so on PostgreSQL each commit's WAL flush (one fsync,
~1.7–3 ms on this machine's disk) is waited for in turn. `--workers N` runs N processes at once, each
through its own share of the orders, as the app's web and task workers serve many customers at once:
their commits share the flushes (PostgreSQL's group commit) and one's CPU work fills another's wait.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import fresh_database, setup_django  # noqa: E402

STEPS = ["open", "approve", "instructions", "shipment", "receive", "inspect", "refund"]


def prepare(url: str) -> None:
    fresh_database(url)
    env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--skip-checks", "-v0"], cwd=ROOT, env=env, check=True)


def cast() -> dict[str, Any]:
    from desk.accounts.models import Role
    from desk.core.testing import make_staff, make_team

    team = make_team("bench-cases", "售后组")
    return {
        "agent": make_staff("bench_case_agent", Role.SUPERVISOR, team=team),
        "warehouse": make_staff("bench_case_warehouse", Role.WAREHOUSE, team=make_team("bench-wh", "仓储组")),
        "finance": make_staff("bench_case_manager", Role.MANAGER),
    }


def orders(n: int) -> list[Any]:
    """`n` delivered orders, paid and signed for two days ago, one customer each."""
    from django.db import transaction
    from django.utils import timezone

    from desk.core.testing import make_customer, make_order
    from desk.orders.models import OrderStatus, Shipment, ShipmentStatus

    now = timezone.now()
    made = []
    with transaction.atomic():
        for i in range(n):
            order = make_order(make_customer(f"顾客{i}"), items=1, payment_reference=f"PAY-{i}")
            order.status = OrderStatus.DELIVERED
            order.save(update_fields=["status"])
            Shipment.objects.create(
                order=order,
                carrier="SF",
                tracking_number=f"SF{order.pk:010d}",
                status=ShipmentStatus.DELIVERED,
                shipped_at=now - timedelta(days=3),
                delivered_at=now - timedelta(days=2),
            )
            made.append(order)
    return made


def flow(order: Any, staff: dict[str, Any], queries: Counter[str] | None) -> None:
    from desk.cases import services
    from desk.cases.models import CaseType, Grade, Reason, RefundStatus

    def step(name: str, work: Any) -> Any:
        if queries is None:
            return work()
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            done = work()
        queries[name] += len(captured)
        queries[f"{name} commits"] += sum(1 for q in captured.captured_queries if q["sql"] == "COMMIT")
        return done

    item = order.items.all()[0]
    case = step(
        "open",
        lambda: services.open_case(
            by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON, items=[(item, 1)]
        ),
    )
    case = step("approve", lambda: services.approve_case(case, by=staff["agent"]))
    case = step(
        "instructions",
        lambda: services.send_return_instructions(
            case, by=staff["agent"], address="上海市仓库", contact="退货组", phone="021-5555"
        ),
    )
    case = step(
        "shipment", lambda: services.record_return_shipment(case, carrier="SF", tracking_number=f"SFR{case.pk}")
    )
    case = step("receive", lambda: services.receive_return(case, by=staff["warehouse"]))
    case = step(
        "inspect",
        lambda: services.inspect_return(
            case, by=staff["warehouse"], grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
        ),
    )
    refund = step("refund", lambda: services.start_refund(case, by=staff["finance"]))
    if refund.status != RefundStatus.CONFIRMED:
        raise SystemExit(f"flow for {order.number} ended with refund {refund.status}")


def in_parallel(made: list[Any], staff: dict[str, Any], workers: int) -> tuple[float, float]:
    """`workers` processes (forked: the warmed-up caches come along), each through every `workers`-th
    order; wall seconds from the moment all are ready to the last one's end, and their CPU seconds."""
    from django.db import connections

    connections.close_all()  # each process opens its own connection (and pool: the parent's is closed first)
    for connection in connections.all():
        if getattr(connection, "pool", None) is not None:
            connection.close_pool()
    context = multiprocessing.get_context("fork")
    ready, cpu = context.Barrier(workers + 1), context.Queue()

    def work(part: list[Any]) -> None:
        ready.wait()
        began = time.process_time()
        try:
            for order in part:
                flow(order, staff, None)
        finally:  # a failed worker reports too (NaN), or the parent would wait for it forever
            done = time.process_time() - began if sys.exc_info()[0] is None else float("nan")
            cpu.put(done)
            connections.close_all()

    processes = [context.Process(target=work, args=(made[i::workers],)) for i in range(workers)]
    for process in processes:
        process.start()
    ready.wait()
    began = time.perf_counter()
    spent = sum(cpu.get() for _process in processes)
    seconds = time.perf_counter() - began
    for process in processes:
        process.join()
        if process.exitcode or spent != spent:  # NaN: a worker failed
            raise SystemExit(f"a worker failed (exit code {process.exitcode})")
    return seconds, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_CASES_FLOW_DATABASE_URL", "sqlite:///var/bench-cases-flow.sqlite3"),
    )
    parser.add_argument("--flows", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25 by cumulative time")
    parser.add_argument("--workers", type=int, default=1, help="processes running flows at once (default 1)")
    args = parser.parse_args()
    os.chdir(ROOT)
    prepare(args.database_url)
    setup_django(args.database_url)
    from huey.contrib.djhuey import HUEY
    from huey.storage import MemoryStorage

    HUEY.storage = MemoryStorage(HUEY.name)  # notices are enqueued after commit: no worker here
    from django.db import connection

    staff = cast()
    made = orders(args.flows + 5)
    per_step: Counter[str] = Counter()
    for order in made[:5]:  # warm-up, and the statements one flow costs
        flow(order, staff, per_step)
    profiler = cProfile.Profile() if args.profile else None
    if args.workers > 1:
        seconds, cpu = in_parallel(made[5:], staff, args.workers)
    else:
        began, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        for order in made[5:]:
            flow(order, staff, None)
        if profiler is not None:
            profiler.disable()
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    vendor = connection.vendor
    journal = ""
    if vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            journal = f", journal {cursor.fetchone()[0]}"
    per_flow = {name: per_step[name] // 5 for name in STEPS}
    commits = {name: per_step[f"{name} commits"] // 5 for name in STEPS}
    processes = f", {args.workers} processes" if args.workers > 1 else ""
    print(f"Return flows (request → refund), {vendor}{journal}{processes}", flush=True)
    print(f"  {args.flows:,} flows in {seconds:.2f} s: {args.flows / seconds:,.1f} flows/s (CPU {cpu:.2f} s)")
    print(f"  SQL per flow: {sum(per_flow.values())} ({', '.join(f'{k} {v}' for k, v in per_flow.items())})")
    print(f"  commits per flow: {sum(commits.values())} ({', '.join(f'{k} {v}' for k, v in commits.items())})")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
