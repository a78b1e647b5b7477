"""Load a fresh database, serve the desk and the floor with gunicorn, drive both with wrk, print figures.

    .venv/bin/python bench/run.py                                   # 1,000,000 tickets on SQLite
    .venv/bin/python bench/run.py --tickets 20000 --duration 5      # quick check of the harness
    .venv/bin/python bench/run.py --database-url postgres://postgres@127.0.0.1:5432/desk_bench

Each figure is wrk's requests/s, p50 and p99 at -t2 -c32 on loopback, with its ratio to the floor
(a bare Django project in bench/floor: no auth, two middlewares, a 50-row page from a table of the
same size through a Django template, and a one-row insert). SQL queries per page are counted
in-process; the SLA sweep is timed over the open tickets. Pages that do not exist yet print
"not available". See docs/bench.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
KEPT = ", kept connections"  # the floor served with FLOOR_CONN_MAX_AGE=600 (bench/floor/settings.py)
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
sys.path.insert(0, str(ROOT))


@dataclass
class Target:
    """One thing wrk drives; `compare` names the floor figure it is held against."""

    name: str
    server: str  # "desk", "floor" or "floor-kept"
    path: str
    method: str = "GET"
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    compare: str | None = "floor page"
    count_queries: bool = False


@dataclass
class Result:
    target: Target
    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    errors: str = ""
    queries: int | None = None
    note: str = ""


# --- Databases ------------------------------------------------------------------------------------
def fresh_database(url: str) -> None:
    """Drop and recreate the database `url` names (a file on SQLite)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = Path(parts.path[1:])  # sqlite:///var/x is relative, sqlite:////tmp/x absolute
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg

    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def floor_url(url: str) -> str:
    """The floor's database beside the desk's: `x.sqlite3` → `x-floor.sqlite3`, `db` → `db_floor`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return url.replace(".sqlite3", "-floor.sqlite3") if url.endswith(".sqlite3") else url + "-floor"
    return parts._replace(path=parts.path + "_floor").geturl()


def run_step(label: str, args: list[str], env: dict[str, str]) -> None:
    began = time.perf_counter()
    print(f"== {label}", flush=True)
    subprocess.run(args, cwd=ROOT, env=env, check=True)
    print(f"   {label}: {time.perf_counter() - began:.1f} s", flush=True)


def prepare(args: argparse.Namespace, env: dict[str, str], info_path: Path) -> None:
    fresh_database(args.database_url)
    fresh_database(floor_url(args.database_url))
    run_step("migrate", [PYTHON, "manage.py", "migrate", "--skip-checks", "-v0"], env)
    load = [PYTHON, "bench/load.py", "--tickets", str(args.tickets), "--json", str(info_path)]
    run_step(f"load {args.tickets:,} tickets", load, env)
    cases = [PYTHON, "bench/cases_load.py", "--cases", str(args.tickets), "--into-existing",
             "--database-url", args.database_url]  # fmt: skip
    run_step(f"load {args.tickets:,} after-sales cases", cases, env)
    run_step(f"floor {args.tickets:,} rows", [PYTHON, "-m", "bench.floor", "--rows", str(args.tickets)], env)


# --- Servers ---------------------------------------------------------------------------------------
def start_server(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """gunicorn with 2 workers, as the README's scaled shape runs it."""
    command = [GUNICORN, app, "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            http_request(port, "GET", "/")
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{app} did not start; see {log}") from None
            time.sleep(0.1)
    raise SystemExit(f"{app} did not answer on port {port}; see {log}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def http_request(port: int, method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body.encode() or None, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# --- wrk ---------------------------------------------------------------------------------------------
_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


WARM_UP_REQUESTS = 10


def drive(target: Target, port: int, args: argparse.Namespace, scratch: Path) -> Result:
    result = Result(target)
    status = http_request(port, target.method, target.path, target.body, target.headers)
    if status == 404:
        result.note = "not available (404)"
        return result
    if status >= 400:
        result.note = f"not available (HTTP {status})"
        return result
    if target.method == "GET":  # warm both gunicorn workers (templates, caches) before measuring
        for _ in range(WARM_UP_REQUESTS):
            http_request(port, target.method, target.path, target.body, target.headers)
    script = scratch / f"{abs(hash(target.name))}.lua"
    script.write_text(_lua(target), encoding="utf-8")
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
               "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}{target.path}"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    out = done.stdout
    if done.stderr.strip():  # a Lua error: wrk carries on without the script, so say so
        result.note = f"wrk: {done.stderr.strip().splitlines()[0]}"
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result.rps = float(rps.group(1)) if rps else None
    for pct, value, unit in _LATENCY.findall(out):
        setattr(result, f"p{pct}", float(value) * _UNITS[unit])
    problems = [m.group(0).strip() for m in re.finditer(r"(Non-2xx or 3xx responses: \d+|Socket errors:.*)", out)]
    result.errors = "; ".join(problems)
    return result


def drive_safely(target: Target, port: int, args: argparse.Namespace, scratch: Path) -> Result:
    """One slow or broken page must not cost the figures of all the others."""
    try:
        return drive(target, port, args, scratch)
    except (OSError, subprocess.CalledProcessError) as error:
        return Result(target, note=f"failed: {type(error).__name__} {error}"[:120])


def summary(r: Result) -> str:
    return f"{fmt(r.rps, '.1f')} req/s, p50 {fmt(r.p50, '.1f')} ms, p99 {fmt(r.p99, '.1f')} ms {r.note} {r.errors}"


def _lua_string(text: str) -> str:
    """JSON's escapes for quotes, backslashes and newlines are Lua's too; \\u escapes are not, so keep UTF-8."""
    return json.dumps(text, ensure_ascii=False)


def _lua(target: Target) -> str:
    lines = [f'wrk.method = "{target.method}"']
    if target.body:
        lines.append(f"wrk.body = {_lua_string(target.body)}")
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in target.headers.items()]
    return "\n".join(lines) + "\n"


# --- In-process measurements ---------------------------------------------------------------------------
def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def session_cookie(info: dict[str, Any]) -> tuple[str, Any]:
    """Log the benchmark supervisor in (a real session row the servers will read)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=info["supervisor"]))
    return f"sessionid={client.cookies['sessionid'].value}", client


def count_queries(client: Any, path: str) -> int | None:
    """SQL statements for one request, after a warm-up request (first-use caches excluded)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if client.get(path).status_code >= 400:
        return None
    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    return len(captured.captured_queries)


def time_search(queries: list[str], repeat: int) -> list[tuple[str, float, float, int]]:
    """The keyword query alone, as the queue page runs it: open tickets, newest 51 (p50, p99 in ms)."""
    from desk.tickets.models import OPEN_STATUSES, Ticket
    from desk.tickets.queries import keyword_page, search_tickets

    def page(q: str) -> int:
        open_tickets = Ticket.objects.filter(status__in=OPEN_STATUSES)
        walked = keyword_page(open_tickets, q, offset=0, limit=51)  # SQLite: the index walked newest first
        qs = walked if walked is not None else search_tickets(open_tickets, q).order_by("-id")[:51]
        return len(list(qs.values_list("id", flat=True)))

    figures = []
    for q in queries:
        timings, found = [], 0
        for _ in range(repeat):
            began = time.perf_counter()
            found = page(q)
            timings.append((time.perf_counter() - began) * 1000)
        timings.sort()
        figures.append((q, statistics.median(timings), timings[int(len(timings) * 0.99) - 1], found))
    return figures


def time_sweep() -> str:
    """desk.sla.services.sweep over the open tickets' targets, or why it could not run."""
    from django.utils import timezone

    from desk.sla import services

    sweep = getattr(services, "sweep", None)
    if sweep is None:
        return "not available (desk.sla.services.sweep missing)"
    began = time.perf_counter()
    try:
        outcome = sweep()
    except TypeError:
        outcome = sweep(now=timezone.now())
    return f"{time.perf_counter() - began:.2f} s (returned {outcome!r})"


# --- The run -------------------------------------------------------------------------------------------
def targets(info: dict[str, Any], cookie: str) -> list[Target]:
    ticket = info["first_ticket"] + info["tickets"] - 7  # an open one, in the newest block
    customer = info["first_customer"]
    body = json.dumps({"subject": "耳机没有声音 headphones silent", "description": "左耳没有声音，想退货。",
                       "request_type": "product_quality", "customer_id": customer}, ensure_ascii=False)  # fmt: skip
    page = {"Cookie": cookie}
    api = {"Authorization": f"Bearer {info['api_key']}", "Content-Type": "application/json"}
    return [
        Target("floor page", "floor", "/", compare=None),
        Target("floor insert", "floor", "/insert", method="POST", compare=None),
        Target(f"floor page{KEPT}", "floor-kept", "/", compare=None),
        Target(f"floor insert{KEPT}", "floor-kept", "/insert", method="POST", compare=None),
        Target("queue (all, status=open)", "desk", "/?tab=all&status=open", headers=page, count_queries=True),
        Target("queue (team, priority=3)", "desk", "/?tab=team&priority=3", headers=page, count_queries=True),
        Target("ticket page", "desk", f"/tickets/{ticket}/", headers=page, count_queries=True),
        Target("API create ticket", "desk", "/api/tickets", "POST", body, api, compare="floor insert"),
        Target("search 退货 (zh)", "desk", "/?tab=all&q=" + quote("退货"), headers=page, count_queries=True),
        Target("search 耳机 左耳 (zh)", "desk", "/?tab=all&q=" + quote("耳机 左耳"), headers=page),
        Target("search refund (en)", "desk", "/?tab=all&q=refund", headers=page, count_queries=True),
        Target(
            "search order no. (rare)", "desk", f"/?tab=all&status=any&q=so{info['first_order']:09d}", headers=page
        ),  # fmt: skip
        Target("overview", "desk", "/overview/", headers=page, count_queries=True),
        *case_targets(info, page),
    ]


def case_targets(info: dict[str, Any], page: dict[str, str]) -> list[Target]:
    """The staff case list and an open case's page, when the database has cases (bench/cases_load.py)."""
    from django.db.models import Max

    from desk.cases.models import AfterSalesCase

    newest = AfterSalesCase.objects.aggregate(m=Max("pk"))["m"]
    if newest is None:
        return []
    number = AfterSalesCase(pk=newest - 3).number  # an open one, in the newest block
    return [
        Target("case list", "desk", "/cases/", headers=page, count_queries=True),
        Target("case page", "desk", f"/cases/{number}/", headers=page, count_queries=True),
    ]


def fmt(value: float | None, pattern: str) -> str:
    """`pattern` as for format(); a missing figure is a dash of the same width."""
    width = int(re.match(r"\d*", pattern).group(0) or 0)
    return "-".rjust(width) if value is None else format(value, pattern)


def report(results: list[Result], extra: list[str]) -> None:
    """`ratio` is against the floor as specified (Django's default connection per request); `strict`
    against the faster of that and the floor with kept connections."""
    floor = {r.target.name: r.rps for r in results if r.target.server.startswith("floor")}
    print()
    print(f"{'target':<36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7} {'strict':>7} {'SQL':>4}  note")
    for r in results:
        compare = r.target.compare or ""
        base = floor.get(compare)
        strict = max((x for x in (base, floor.get(compare + KEPT)) if x), default=None)
        ratio = f"{r.rps / base:.2f}x" if r.rps and base else "-"
        strict_ratio = f"{r.rps / strict:.2f}x" if r.rps and strict else "-"
        queries = "-" if r.queries is None else str(r.queries)
        note = "; ".join(x for x in (r.note, r.errors) if x)
        print(f"{r.target.name:<36} {fmt(r.rps, '9.1f')} {fmt(r.p50, '8.1f')} {fmt(r.p99, '8.1f')} "
              f"{ratio:>7} {strict_ratio:>7} {queries:>4}  {note}")  # fmt: skip
    for line in extra:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", "sqlite:///var/bench.sqlite3"))
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=8123, help="the desk; the floor gets the next port")
    parser.add_argument("--reuse", action="store_true", help="skip migrate and load: reuse the last loaded data")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    os.chdir(ROOT)
    env = os.environ | {"DATABASE_URL": args.database_url, "FLOOR_DATABASE_URL": floor_url(args.database_url),
                        "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false"}  # fmt: skip
    info_path = ROOT / "var" / f"bench-{re.sub(r'[^A-Za-z0-9]+', '-', args.database_url).strip('-')}.json"
    if not args.reuse:
        prepare(args, env, info_path)
    info = json.loads(info_path.read_text(encoding="utf-8"))
    setup_django(args.database_url)
    cookie, client = session_cookie(info)
    plan = targets(info, cookie)
    queries = {t.name: count_queries(client, t.path) for t in plan if t.count_queries}
    searches = time_search(["退货", "耳机 左耳", "refund", "headphones", f"so{info['first_order']:09d}"], 200)
    from django.db import connections

    connections.close_all()
    results = serve_and_drive(plan, args, env)
    for r in results:
        r.queries = queries.get(r.target.name)
    extra = [f"\nkeyword query alone over {info['open']:,} open of {info['tickets']:,} tickets "
             "(in-process, 200 runs): p50 / p99 ms, matches on the first page"]  # fmt: skip
    extra += [f"  {q:<16} {p50:7.1f} {p99:7.1f}   {found}" for q, p50, p99, found in searches]
    extra.append(f"\nSLA sweep over {info['open']:,} open tickets: {time_sweep()}")
    report(results, extra)


def serve_and_drive(plan: list[Target], args: argparse.Namespace, env: dict[str, str]) -> list[Result]:
    ports = {"desk": args.port, "floor": args.port + 1, "floor-kept": args.port + 2}
    floor_env = env | {"DJANGO_SETTINGS_MODULE": "bench.floor.settings"}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        servers = {
            "desk": start_server("config.wsgi", ports["desk"], env, scratch / "desk.log"),
            "floor": start_server("bench.floor.wsgi", ports["floor"], floor_env, scratch / "floor.log"),
            "floor-kept": start_server(
                "bench.floor.wsgi",
                ports["floor-kept"],
                floor_env | {"FLOOR_CONN_MAX_AGE": "600"},
                scratch / "floor-kept.log",
            ),  # fmt: skip
        }
        try:
            results = []
            for target in plan:
                print(f"-- {target.name}", flush=True)
                results.append(drive_safely(target, ports[target.server], args, scratch))
                print(f"   {summary(results[-1])}", flush=True)
        finally:
            for proc in servers.values():
                stop_server(proc)
            for name in servers:
                tail = (scratch / f"{name}.log").read_text(errors="replace")[-2000:]
                if tail.strip():
                    print(f"--- {name} server log (tail) ---\n{tail}")
    return results


if __name__ == "__main__":
    main()
