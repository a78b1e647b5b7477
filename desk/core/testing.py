"""Builders shared by the tests, the demo data and the benchmarks: state made as users make it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

_seq = count(1)


def make_staff(username: str, role: str, *, team: Any = None, password: str = "desk-pass-123", **profile: Any) -> Any:  # noqa: S107  test users
    from desk.accounts.models import StaffProfile

    user = get_user_model().objects.create_user(
        username=username, password=password, email=f"{username}@shop.example", first_name=username.title()
    )
    StaffProfile.objects.create(
        user=user, role=role, team=team, display_name=profile.pop("display_name", ""), **profile
    )
    return user


def make_team(code: str, name: str | None = None, **fields: Any) -> Any:
    from desk.accounts.models import Team

    return Team.objects.create(code=code, name=name or code.title(), **fields)


def make_customer(name: str = "王小明", **fields: Any) -> Any:
    from desk.customers.models import Customer

    n = next(_seq)
    fields.setdefault("email", f"customer{n}@example.com")
    fields.setdefault("phone", f"1380013{n:04d}")
    fields.setdefault("address", "上海市浦东新区世纪大道100号")
    return Customer.objects.create(name=name, **fields)


def make_storefront(code: str = "own") -> Any:
    from desk.orders.models import Storefront

    return Storefront.objects.get_or_create(code=code, defaults={"name": code.title()})[0]


def make_order(customer: Any, *, items: int = 1, unit_price: str = "199.00", **fields: Any) -> Any:
    from desk.orders.models import Order, OrderItem

    n = next(_seq)
    now = timezone.now()
    price = Decimal(unit_price)
    order = Order.objects.create(
        external_id=fields.pop("external_id", f"ext-{n}"),
        number=fields.pop("number", f"SO{n:08d}"),
        storefront=fields.pop("storefront", None) or make_storefront(),
        customer=customer,
        placed_at=fields.pop("placed_at", now - timedelta(days=3)),
        paid_at=now - timedelta(days=3),
        total_amount=price * items,
        recipient_name=customer.name,
        recipient_phone=customer.phone,
        shipping_address=customer.address,
        **fields,
    )
    for i in range(items):
        OrderItem.objects.create(
            order=order, sku=f"SKU-{n}-{i}", name=f"蓝牙耳机 {i}", model="BT-100", unit_price=price
        )
    return order


def request_type(code: str = "product_quality") -> Any:
    from desk.tickets.models import RequestType

    return RequestType.objects.get(code=code)


def sqlite_plan(sql: str, params: Any) -> str:
    """SQLite's plan for `sql` as a fresh database would choose it, by its indexes alone.

    Another test's ANALYZE (of near-empty tables) can stay in the connection's planner after its
    transaction is undone, and with it a table scan looks as cheap as the index. The statistics are
    dropped inside the test's own transaction, which is undone after it.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'")
        if cursor.fetchone()[0]:
            cursor.execute("DELETE FROM sqlite_stat1")
            cursor.execute("ANALYZE sqlite_schema")  # the planner reloads what is left: nothing
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return " | ".join(str(row[-1]) for row in cursor.fetchall())
