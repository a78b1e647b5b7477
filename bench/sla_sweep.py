"""Time the SLA sweep when many timers come due at once (issue 3: 100,000 open tickets, ≤ 2 s).

    .venv/bin/python bench/sla_sweep.py                       # SQLite, var/bench-sla.sqlite3
    .venv/bin/python bench/sla_sweep.py --reuse --due 99000   # the same data again
    .venv/bin/python bench/sla_sweep.py --database-url postgres://postgres@127.0.0.1:5432/desk_bench_sla

Loads `--tickets` open tickets (default 100,000) with two running targets each through
`bench/load.py` (the database is dropped and recreated unless `--reuse`), gives every bench
team two available senior agents so breaches have someone to go up to, and makes the bench
policy escalate fully (notify the supervisor, raise priority, reassign up). Then, for `--due`
tickets (default 99,000): their `accept` target's warning comes due (a sweep warns them all),
then the deadline itself passes (a sweep breaches and escalates them all); each sweep is
followed by a second one that must find nothing. Every run first resets the targets, so
`--reuse` measures the same work again.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import fresh_database, setup_django  # noqa: E402

SENIORS_PER_TEAM = 2


def prepare(url: str, tickets: int) -> None:
    fresh_database(url)
    env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--skip-checks", "-v0"], cwd=ROOT, env=env, check=True)
    load = [sys.executable, "bench/load.py", "--tickets", str(tickets), "--open", str(tickets)]
    subprocess.run(load, cwd=ROOT, env=env, check=True)


def seniors_and_policy() -> None:
    """Two available senior agents per bench team, and a policy that escalates all the way."""
    from django.contrib.auth import get_user_model

    from desk.accounts.models import Availability, Role, StaffProfile, Team
    from desk.sla.models import SlaPolicy

    user_model = get_user_model()
    for team in Team.objects.filter(code__startswith="bench-"):
        for k in range(SENIORS_PER_TEAM):
            user, _ = user_model.objects.get_or_create(username=f"bench_{team.code[6:]}_senior_{k}")
            StaffProfile.objects.update_or_create(
                user=user, defaults={"role": Role.SENIOR_AGENT, "team": team, "availability": Availability.AVAILABLE}
            )
    SlaPolicy.objects.filter(name="bench").update(
        escalate_notify_supervisor=True, escalate_raise_priority=True, escalate_reassign_up=True
    )


def reset(due: int) -> list[int]:
    """Every target running, unwarned and far from due; returns the `due` tickets that will fire."""
    from django.db import transaction
    from django.utils import timezone

    from desk.sla.models import SlaTarget, TargetStatus
    from desk.tickets.models import OPEN_STATUSES, Priority, SlaState, Ticket

    now = timezone.now()
    with transaction.atomic():
        SlaTarget.objects.update(
            status=TargetStatus.RUNNING,
            warned_at=None,
            breached_at=None,
            started_at=now - timedelta(hours=1),
            warn_at=now + timedelta(days=1),
            due_at=now + timedelta(days=2),
        )
        Ticket.objects.filter(status__in=OPEN_STATUSES).update(
            sla_state=SlaState.OK, sla_due_at=now + timedelta(days=2), priority=Priority.NORMAL
        )
        _owners_as_loaded()
    _vacuum()
    ids = SlaTarget.objects.filter(metric="accept").order_by("ticket_id").values_list("ticket_id", flat=True)
    return list(ids[:due])


def _vacuum() -> None:
    """What autovacuum does between real outages: a reset rewrites every ticket and target row, and
    PostgreSQL would otherwise plan the sweep's counts over a table of mostly dead rows."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE tickets_ticket, sla_slatarget, core_event, accounts_notification")


def _owners_as_loaded() -> None:
    """Undo the last run's escalations: each ticket back with an agent of its team (1 in 10 unassigned)."""
    from django.contrib.auth import get_user_model
    from django.db.models import F

    from desk.accounts.models import Role
    from desk.tickets.models import Ticket

    agents: dict[int, list[int]] = {}
    staff = get_user_model().objects.filter(username__startswith="bench_", staff__role=Role.AGENT)
    for pk, team in staff.order_by("pk").values_list("pk", "staff__team_id"):
        agents.setdefault(team, []).append(pk)
    for team, people in agents.items():
        for k in range(10):
            owner = None if k == 3 else people[k % len(people)]
            tickets = Ticket.objects.annotate(slot=F("pk") % 10).filter(team_id=team, slot=k)
            tickets.update(assignee_id=owner)


def come_due(ticket_ids: list[int], field: str) -> None:
    """The `accept` target of these tickets: its warning (or its deadline) passed a minute ago."""
    from django.db import transaction
    from django.utils import timezone

    from desk.sla.models import SlaTarget

    past = timezone.now() - timedelta(minutes=1)
    changes: dict[str, Any] = {"warn_at": past} if field == "warn_at" else {"warn_at": past, "due_at": past}
    with transaction.atomic():
        for start in range(0, len(ticket_ids), 5000):
            chunk = ticket_ids[start : start + 5000]
            SlaTarget.objects.filter(metric="accept", ticket_id__in=chunk).update(**changes)


def timed_sweep(label: str) -> dict[str, Any]:
    from desk.sla import services

    began, cpu = time.perf_counter(), time.process_time()
    result = dict(services.sweep())
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    shown = {k: v for k, v in result.items() if k != "seconds"}
    print(f"  {label:<30} {seconds:7.2f} s (this process on CPU {cpu:6.2f} s)  {shown}", flush=True)
    return result


def counts() -> str:
    from desk.accounts.models import Notification
    from desk.core.models import Event
    from desk.webhooks.models import WebhookDelivery

    return (
        f"events {Event.objects.filter(verb__startswith='sla.').count():,}, "
        f"notifications {Notification.objects.filter(verb__startswith='sla.').count():,}, "
        f"webhook deliveries {WebhookDelivery.objects.count():,}"
    )


def endpoint(on: bool) -> None:
    """An active endpoint that wants sla.* events, so the outbox rows are part of the work."""
    from desk.webhooks.models import WebhookEndpoint

    WebhookEndpoint.objects.filter(name="bench sla").delete()
    if on:
        WebhookEndpoint.objects.create(
            name="bench sla", url="https://hooks.example.com/sla", secret="s" * 32, event_types=["sla.*"], active=True
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_SLA_DATABASE_URL", "sqlite:///var/bench-sla.sqlite3")
    )
    parser.add_argument("--tickets", type=int, default=100_000, help="open tickets to load")
    parser.add_argument("--due", type=int, default=99_000, help="tickets whose timers come due at once")
    parser.add_argument("--reuse", action="store_true", help="skip migrate and load")
    parser.add_argument("--no-webhook", action="store_true", help="no active endpoint (no outbox rows)")
    args = parser.parse_args()
    os.chdir(ROOT)
    if not args.reuse:
        prepare(args.database_url, args.tickets)
    setup_django(args.database_url)
    from huey.contrib.djhuey import HUEY
    from huey.storage import MemoryStorage

    # The sweep enqueues webhook sends after commit: keep them in memory (no worker runs them here,
    # and the development queue must not get them).
    HUEY.storage = MemoryStorage(HUEY.name)
    seniors_and_policy()
    endpoint(not args.no_webhook)
    from desk.accounts.models import Notification
    from desk.core.models import Event
    from desk.webhooks.models import WebhookDelivery

    Event.objects.filter(verb__startswith="sla.").delete()
    Notification.objects.filter(verb__startswith="sla.").delete()
    WebhookDelivery.objects.all().delete()
    ids = reset(args.due)
    print(
        f"SLA sweep, {args.database_url.split(':')[0]}, {len(ids):,} of the open tickets' timers due at once",
        flush=True,
    )
    timed_sweep("nothing due")
    come_due(ids, "warn_at")
    timed_sweep(f"{len(ids):,} warnings")
    timed_sweep("again (nothing left)")
    come_due(ids, "due_at")
    timed_sweep(f"{len(ids):,} breaches, escalated")
    timed_sweep("again (nothing left)")
    print(f"  written: {counts()}", flush=True)


if __name__ == "__main__":
    main()
