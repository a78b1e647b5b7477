"""Small builders shared by the SLA tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from desk.core.testing import request_type
from desk.tickets import services as tickets

SH = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SH)


def at(text: str) -> datetime:
    """A Shanghai wall-clock time, e.g. at("2026-11-23 10:48")."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SH)  # noqa: DTZ007  zone set here


def open_ticket(by: Any, customer: Any, code: str = "product_quality", **kw: Any) -> Any:
    """A ticket as a customer's request becomes one: routed, assigned, clock started."""
    kw.setdefault("subject", "耳机左耳没有声音")
    kw.setdefault("description", "收到的蓝牙耳机左耳没有声音")
    return tickets.create_ticket(by=by, customer=customer, request_type=request_type(code), **kw)


def targets_of(ticket: Any) -> dict[str, Any]:
    return {t.metric: t for t in ticket.sla_targets.all()}


def calendar_form(**fields: Any) -> dict[str, Any]:
    """The admin's add form for a calendar open Saturdays 10:00–16:00, with `fields` changed."""
    data = {
        "name": "周末值班", "time_zone": "Asia/Shanghai",
        "hours-TOTAL_FORMS": "1", "hours-INITIAL_FORMS": "0",
        "hours-0-weekday": "5", "hours-0-opens": "10:00", "hours-0-closes": "16:00",
        "days-TOTAL_FORMS": "0", "days-INITIAL_FORMS": "0",
    }  # fmt: skip
    return data | fields
