"""Load N tickets (default 1,000,000) with customers, orders, messages, events and SLA targets, fast.

    DATABASE_URL=... .venv/bin/python bench/load.py --tickets 1000000

Rows are written as plain tuples (executemany on SQLite, COPY on PostgreSQL), not model
instances; ids are chosen here so foreign keys need no read-back. Ticket text comes from a small
pool of Chinese and English sentences tokenised by jieba once per template, plus the order
number, so a search for an order number finds one ticket and 退货 finds many. The newest
`--open` tickets (default min(100,000, N/10)) are open, with running SLA targets; the rest are
resolved or closed. Staff, the benchmark login and its API token are made through the services.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

BATCH = 20_000
BENCH_PASSWORD = "bench-pass-123"  # noqa: S105 - a throwaway login for a throwaway database
SUPERVISOR = "bench_supervisor"
INTEGRATION = "bench_integration"
TEAMS = [
    ("support", "售后客服组"),
    ("logistics", "物流组"),
    ("quality", "质量组"),
    ("refunds", "退款组"),
    ("vip", "VIP组"),
]
AGENTS_PER_TEAM = 10

# (request type code, subject, description)
TEMPLATES = [
    ("product_quality", "耳机左耳没有声音", "收到的降噪蓝牙耳机左耳完全没有声音，重新配对也不行，想换货。"),
    ("product_quality", "空气炸锅有异味", "空气炸锅第一次用就有很重的塑料味，担心质量问题，要求退货退款。"),
    (
        "product_quality",
        "Watch screen cracked on arrival",
        "The smart watch arrived with a cracked screen. Replacement?",
    ),
    ("product_quality", "Headphones stopped charging", "My wireless headphones stopped charging after two days."),
    ("logistics", "快递三天没有更新物流", "订单显示已发货，但是物流信息三天没有更新，什么时候能到？"),
    ("logistics", "包裹显示已签收但没收到", "快递显示已签收，但我本人没有收到包裹，也没有人代收。"),
    ("logistics", "Parcel stuck in transit", "My parcel has been stuck in transit for a week. Where is it?"),
    ("usage", "扫地机器人无法连接WiFi", "扫地机器人按照说明书操作还是连不上家里的WiFi，请教怎么设置。"),
    ("usage", "How do I reset the keyboard lighting?", "The keyboard lighting is stuck on rainbow mode. How to reset?"),
    ("return_exchange", "保温杯颜色发错了", "我买的是粉色儿童保温杯，收到的是蓝色，要求换货。"),
    ("return_exchange", "七天无理由退货", "台灯不太适合书房，包装都在，申请七天无理由退货。"),
    ("return_exchange", "Wrong colour scarf, exchange please", "I received the wrong colour of the wool scarf."),
    ("refund", "退款什么时候到账", "退货已经寄回去五天了，退款还没有到账，请帮忙查一下。"),
    ("refund", "Refund not received", "I returned the headphones last week but have not received my refund yet."),
    ("invoice", "需要开具增值税专用发票", "公司采购需要增值税专用发票，请问怎么申请？"),
    ("invoice", "Invoice for my order", "Could you send me a VAT invoice for my last order?"),
    ("complaint", "客服态度差，要投诉", "上次联系客服，对方态度非常差，问题也没解决，我要投诉！"),
    ("complaint", "Very disappointed with the service", "Third time I contact you about the same problem."),
    ("other", "会员积分怎么使用", "我的会员积分有2000分，请问可以抵扣现金吗？"),
    ("other", "Gift wrapping for my order", "Can you add gift wrapping and a card to my order?"),
]
NAMES = [
    "王小明",
    "李娜",
    "张伟",
    "刘洋",
    "陈静",
    "杨帆",
    "赵磊",
    "黄丽",
    "Emily Carter",
    "James Wilson",
    "Olivia Chen",
]
PRODUCTS = [("AUD-PRO2", "降噪蓝牙耳机 Pro 2", "899.00"), ("WAT-S3", "智能手表 S3", "1299.00"),
            ("KIT-AF5", "空气炸锅 5L", "459.00"), ("KB-MX87", "Mechanical keyboard MX87", "569.00")]  # fmt: skip
OPEN_MIX = ["new", "open", "open", "open", "open", "pending_customer", "pending_internal", "new", "open", "open"]


# --- Writing rows -------------------------------------------------------------------------------
class Table:
    """Fast inserts into one model's table; columns not given get the field's default."""

    def __init__(self, model: Any, given: Sequence[str]) -> None:
        from django.db import connection
        from django.utils import timezone

        self.model, self.connection = model, connection
        fields = list(model._meta.concrete_fields)
        self.given = list(given)
        names = {f.attname for f in fields}
        unknown = set(self.given) - names
        if unknown:
            raise SystemExit(f"{model.__name__} has no fields {sorted(unknown)}")
        self.filled = [f for f in fields if f.attname not in self.given and not f.primary_key]
        self.defaults = tuple(_default(f, timezone.now()) for f in self.filled)
        self.columns = self.given + [f.column for f in self.filled]
        by_attname = {f.attname: f for f in fields}
        self.convert = [_converter(by_attname[a], connection.vendor) for a in self.given]
        self.convert += [_converter(f, connection.vendor) for f in self.filled]

    def write(self, rows: Iterable[tuple[Any, ...]]) -> int:
        """Insert all rows in batches; returns how many."""
        total, batch = 0, []
        for row in rows:
            batch.append(row + self.defaults)
            if len(batch) >= BATCH:
                total += self._flush(batch)
                batch = []
        return total + (self._flush(batch) if batch else 0)

    def _flush(self, batch: list[tuple[Any, ...]]) -> int:
        converters = [(i, c) for i, c in enumerate(self.convert) if c is not None]
        if converters:
            batch = [_converted(row, converters) for row in batch]
        table = self.connection.ops.quote_name(self.model._meta.db_table)
        cols = ", ".join(self.connection.ops.quote_name(c) for c in self.columns)
        raw = self.connection.connection
        if self.connection.vendor == "postgresql":
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in self.columns)
            raw.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)
        return len(batch)


def _converted(row: tuple[Any, ...], converters: list[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    values = list(row)
    for i, convert in converters:
        values[i] = convert(values[i])
    return values


def _default(field: Any, now: datetime) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    if field.has_default():
        return field.get_default()
    if field.null:
        return None
    return "" if field.get_internal_type() in ("CharField", "TextField", "SlugField") else 0


def _converter(field: Any, vendor: str) -> Callable[[Any], Any] | None:
    kind = field.get_internal_type()
    if kind == "JSONField":
        return lambda v: v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    if vendor != "sqlite":
        return None
    if kind == "DateTimeField":
        return _sqlite_datetime
    if kind == "DecimalField":
        return lambda v: None if v is None else str(v)
    return None


def _sqlite_datetime(value: datetime | None) -> str | None:
    """Django stores aware datetimes on SQLite as naive UTC text."""
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _next_id(model: Any) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


# --- The shop's people --------------------------------------------------------------------------
def make_staff() -> dict[str, Any]:
    """Teams, 10 agents each, the benchmark supervisor and an integration user with a token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from desk.accounts.models import ApiToken, Role, StaffProfile, Team
    from desk.accounts.services import issue_token
    from desk.tickets.models import RoutingRule

    user_model = get_user_model()
    password = make_password(BENCH_PASSWORD)  # hashed once: PBKDF2 per user would take a minute
    teams = [Team.objects.get_or_create(code=f"bench-{code}", defaults={"name": name})[0] for code, name in TEAMS]
    agents: dict[int, list[int]] = {}
    for team in teams:
        names = [f"bench_{team.code[6:]}_{n}" for n in range(AGENTS_PER_TEAM)]
        users = [user_model(username=u, password=password, email=f"{u}@shop.example") for u in names]
        user_model.objects.bulk_create(users, ignore_conflicts=True)
        users = list(user_model.objects.filter(username__in=names))
        StaffProfile.objects.bulk_create(
            [StaffProfile(user=u, role=Role.AGENT, team=team) for u in users], ignore_conflicts=True
        )
        agents[team.pk] = [u.pk for u in users]
    RoutingRule.objects.get_or_create(name="bench default", defaults={"team": teams[0], "position": 1000})
    supervisor = _user(user_model, StaffProfile, SUPERVISOR, Role.SUPERVISOR, teams[0], password)
    teams[0].lead = supervisor
    teams[0].save(update_fields=["lead"])
    integration = _user(user_model, StaffProfile, INTEGRATION, Role.INTEGRATION, None, password)
    ApiToken.objects.filter(user=integration, name="bench").delete()
    _token, key = issue_token(integration, "bench", by=None)
    return {"teams": [t.pk for t in teams], "agents": agents, "supervisor": supervisor.pk, "api_key": key}


def _user(user_model: Any, profile_model: Any, username: str, role: str, team: Any, password: str) -> Any:
    user, _created = user_model.objects.get_or_create(username=username, defaults={"password": password})
    profile_model.objects.update_or_create(user=user, defaults={"role": role, "team": team})
    return user


# --- Customers and orders -----------------------------------------------------------------------
def load_customers(count: int, now: datetime) -> int:
    from desk.customers.models import Customer

    first = _next_id(Customer)
    table = Table(Customer, ["id", "name", "email", "phone", "address", "tier", "created_at", "updated_at"])
    tiers = ["regular"] * 18 + ["vip", "svip"]

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(count):
            cid = first + i
            yield (cid, NAMES[i % len(NAMES)], f"c{cid}@example.com", f"139{cid:08d}"[:11],
                   "上海市浦东新区世纪大道100号", tiers[i % 20], now, now)  # fmt: skip

    table.write(rows())
    return first


def load_orders(customers: int, first_customer: int, now: datetime) -> int:
    """Two orders per customer, each with one item and one shipment."""
    from desk.orders.models import Order, OrderItem, Shipment, Storefront

    storefront = Storefront.objects.get_or_create(code="bench", defaults={"name": "Bench shop"})[0]
    first = _next_id(Order)
    count = customers * 2
    orders = Table(Order, ["id", "external_id", "number", "storefront_id", "customer_id", "status", "placed_at",
                           "paid_at", "total_amount", "recipient_name", "shipping_address"])  # fmt: skip
    placed = now - timedelta(days=10)
    prices = [Decimal(p[2]) for p in PRODUCTS]
    orders.write(
        (first + i, f"bench-{first + i}", f"SO{first + i:09d}", storefront.pk, first_customer + i % customers,
         "delivered", placed, placed, prices[i % len(prices)], "收件人", "上海市浦东新区世纪大道100号")
        for i in range(count)
    )  # fmt: skip
    items = Table(OrderItem, ["order_id", "sku", "name", "model", "unit_price"])
    items.write((first + i, *_product(i), prices[i % len(prices)]) for i in range(count))
    shipments = Table(Shipment, ["order_id", "carrier", "tracking_number", "status", "shipped_at", "delivered_at"])
    shipments.write((first + i, "顺丰速运", f"SF{first + i:012d}", "delivered", placed, placed) for i in range(count))
    return first


def _product(i: int) -> tuple[str, str, str]:
    sku, name, _price = PRODUCTS[i % len(PRODUCTS)]
    return sku, name, sku.lower()


# --- Tickets, messages, events, SLA targets -------------------------------------------------------
def load_tickets(n: int, n_open: int, customers: int, first_customer: int, first_order: int, staff: dict) -> int:
    """N tickets, newest `n_open` of them open; one customer message and one or two events each."""
    from django.utils import timezone

    from desk.core.models import Event
    from desk.tickets.models import RequestType, Ticket, TicketMessage
    from desk.tickets.search import search_text_for

    types = {t.code: t.pk for t in RequestType.objects.all()}
    templates = [(types[code], s, d, search_text_for(s, d)) for code, s, d in TEMPLATES]  # jieba once each
    first = _next_id(Ticket)
    now = timezone.now()
    step = timedelta(days=365) / max(n, 1)  # created over the last year, one every ~30 s at 1M
    start = now - timedelta(days=365)
    teams, agents = staff["teams"], staff["agents"]

    def ticket(i: int) -> tuple[Any, ...]:
        tid, cust = first + i, i % customers
        order_id = first_order + cust + (i // customers % 2) * customers
        rtype, subject, description, words = templates[i % len(templates)]
        team = teams[i % len(teams)]
        is_open = i >= n - n_open
        status = OPEN_MIX[i % len(OPEN_MIX)] if is_open else ("closed" if i % 5 else "resolved")
        assignee = None if (is_open and i % 10 == 3) else agents[team][i % AGENTS_PER_TEAM]
        created = start + step * i
        done = None if is_open else created + timedelta(hours=20)
        responded = None if status == "new" else created + timedelta(minutes=30)
        due, state = (created + timedelta(hours=8), "ok") if is_open else (None, "met")
        return (tid, subject, description, rtype, 2 + (i % 7 == 0), status, "web", first_customer + cust, "regular",
                order_id, team, assignee, created, done or created, responded, responded, done, done if status ==
                "closed" else None, due, state, f"{words} so{order_id:09d}")  # fmt: skip

    tickets = Table(Ticket, ["id", "subject", "description", "request_type_id", "priority", "status", "channel",
                             "customer_id", "customer_tier", "order_id", "team_id", "assignee_id", "created_at",
                             "updated_at", "first_responded_at", "accepted_at", "resolved_at", "closed_at",
                             "sla_due_at", "sla_state", "search_text"])  # fmt: skip
    _timed("tickets", lambda: tickets.write(ticket(i) for i in range(n)))
    messages = Table(TicketMessage, ["ticket_id", "kind", "channel", "body", "created_at"])
    _timed(
        "messages",
        lambda: messages.write(
            (first + i, "customer", "web", templates[i % len(templates)][2], start + step * i) for i in range(n)
        ),
    )
    events = Table(Event, ["created_at", "actor_label", "verb", "subject_type", "subject_id", "customer_id",
                           "ticket_id", "after"])  # fmt: skip
    created_after = json.dumps({"status": "new", "channel": "web"})
    closed_after = json.dumps({"status": "closed"})

    def event_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            tid, cid, at = first + i, first_customer + i % customers, start + step * i
            yield (at, "system", "ticket.created", "ticket", tid, cid, tid, created_after)
            if i < n - n_open:
                yield (at + timedelta(hours=20), "system", "ticket.updated", "ticket", tid, cid, tid, closed_after)

    _timed("events", lambda: events.write(event_rows()))
    return first


def load_sla_targets(first_ticket: int, n: int, n_open: int) -> int:
    """Two running targets per open ticket; ~1% fall due just now, unswept, for the sweep to find."""
    from django.utils import timezone

    from desk.sla.models import BusinessCalendar, SlaPolicy, SlaTarget

    calendar = BusinessCalendar.objects.get_or_create(name="bench 7x24", defaults={"always_open": True})[0]
    policy = SlaPolicy.objects.get_or_create(name="bench", defaults={"calendar": calendar, "position": 1000})[0]
    now = timezone.now()
    table = Table(SlaTarget, ["ticket_id", "policy_id", "metric", "target_seconds", "status", "started_at",
                              "due_at", "warn_at", "warned_at", "breached_at"])  # fmt: skip

    def rows() -> Iterator[tuple[Any, ...]]:
        for k in range(n_open):
            tid = first_ticket + n - n_open + k
            started = now - timedelta(hours=1)
            for metric, seconds in (("resolution", 7 * 24 * 3600), ("accept", 7200)):
                # 1 in 100 came due a minute ago and was never swept: the sweep warns and escalates it.
                due = now - timedelta(minutes=1) if k % 100 == 0 else started + timedelta(seconds=seconds)
                yield (tid, policy.pk, metric, seconds, "running", started, due, due - timedelta(seconds=seconds // 5),
                       None, None)  # fmt: skip

    return table.write(rows())


# --- Indexes: off while loading, back on after --------------------------------------------------------
def suspend_search_index() -> None:
    """Bulk loading through FTS triggers or a live GIN index is slow; rebuild once at the end."""
    from django.db import connection

    from desk.tickets import search_index

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in search_index.SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif connection.vendor == "postgresql":
            cursor.execute("DROP INDEX IF EXISTS ticket_search_vector_gin")


def resume_search_index() -> None:
    from django.db import connection

    from desk.tickets import search_index

    if connection.vendor == "sqlite":
        search_index.heal_sqlite_triggers(connection)
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # CREATE INDEX refuses pending FK checks
        search_index.install_index(connection)


def finish(vendor: str) -> None:
    """Reset sequences after explicit ids (PostgreSQL) and refresh planner statistics."""
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            for sql in connection.ops.sequence_reset_sql(no_style(), list(apps.get_models())):
                cursor.execute(sql)
            # As autovacuum would after a bulk load: statistics, and the visibility map that lets
            # the overview's counts read the index alone.
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA optimize")


def _skip_fk_triggers(connection: Any) -> None:
    """On PostgreSQL as superuser, skip the per-row FK triggers (ids are consistent by construction)."""
    from django.db import DatabaseError, transaction

    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:  # a savepoint
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        print("  (not superuser: foreign keys are checked row by row)", flush=True)


def _timed(label: str, work: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    result = work()
    print(f"  {label:<12} {time.perf_counter() - began:7.1f} s", flush=True)
    return result


def load(n: int, n_open: int | None = None) -> dict[str, Any]:
    """Load everything in one transaction; returns the staff ids and API key for the driver."""
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    n_open = min(100_000, n // 10) if n_open is None else min(n_open, n)
    customers = max(1, n // 4)
    began = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-400000")
    with transaction.atomic():
        _skip_fk_triggers(connection)
        staff = make_staff()
        suspend_search_index()
        now = timezone.now()
        first_customer = _timed("customers", lambda: load_customers(customers, now))
        first_order = _timed("orders", lambda: load_orders(customers, first_customer, now))
        first_ticket = load_tickets(n, n_open, customers, first_customer, first_order, staff)
        _timed("sla targets", lambda: load_sla_targets(first_ticket, n, n_open))
        _timed("search index", resume_search_index)
    _timed("analyze", lambda: finish(connection.vendor))
    print(f"loaded {n:,} tickets ({n_open:,} open) in {time.perf_counter() - began:.1f} s", flush=True)
    return staff | {"first_ticket": first_ticket, "first_customer": first_customer, "first_order": first_order,
                    "tickets": n, "open": n_open}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=None, help="open tickets (default min(100000, N/10))")
    parser.add_argument("--json", type=Path, help="write the ids and API key the driver needs here")
    args = parser.parse_args()
    info = load(args.tickets, args.open)
    if args.json:
        args.json.write_text(json.dumps(info, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
