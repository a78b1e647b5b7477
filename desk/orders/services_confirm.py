"""Auto-confirm receipt (自动确认收货): a delivered order completes on its own after N days.

- The clock: a delivered order gets `auto_confirm_at` = the latest delivery + its storefront's
  `auto_confirm_days` (10 by default); the periodic job arms it and confirms the orders that are due.
- The pause: while the order has an open after-sales case the clock stands still. Opening a case
  stamps `auto_confirm_paused_at`; when the order's last open case closes, the deadline moves by the
  time spent paused (only the part after delivery counts), so the customer keeps the days that were left.

Each change records one `order.auto_confirm_*` event. The job claims each due order with a conditional
update (status still delivered, not paused, still due), so an order is confirmed once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from desk.core.events import record_event
from desk.orders.models import Order, OrderStatus

log = logging.getLogger(__name__)

PAUSABLE = [OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED]  # not yet completed or cancelled


class AutoConfirmResult(TypedDict):
    scheduled: int
    confirmed: int


def pause_auto_confirm(order: Order, *, by: Any, reason: str = "") -> Order:
    """An after-sales case opened: stop the order's auto-confirm clock (in the caller's transaction,
    the order locked by the caller). A second open case leaves the pause as it is."""
    if order.auto_confirm_paused_at is not None or order.status not in PAUSABLE:
        return order
    now = timezone.now()
    order.auto_confirm_paused_at = now
    Order.objects.filter(pk=order.pk).update(auto_confirm_paused_at=now)
    _event("order.auto_confirm_paused", order, by, {"paused_at": None}, {"paused_at": now}, reason=reason)
    return order


def resume_auto_confirm(order: Order, *, by: Any, reason: str = "") -> Order:
    """The order's last open case closed: restart the clock with the time that was left (caller's
    transaction). Nothing happens while another case is still open."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    paused_at = order.auto_confirm_paused_at
    if paused_at is None or _has_open_case(order.pk):
        return order
    now = timezone.now()
    deadline = order.auto_confirm_at
    delivered = _delivered_at(order.pk)
    if deadline is None and order.status == OrderStatus.DELIVERED and delivered is not None:
        deadline = delivered + timedelta(days=_days(order))
    if deadline is not None:
        paused_from = max(paused_at, delivered) if delivered is not None else paused_at
        deadline += max(now - paused_from, timedelta(0))  # the paused time does not count
    before = {"paused_at": paused_at, "auto_confirm_at": order.auto_confirm_at}
    order.auto_confirm_paused_at, order.auto_confirm_at = None, deadline
    Order.objects.filter(pk=order.pk).update(auto_confirm_paused_at=None, auto_confirm_at=deadline)
    _event(
        "order.auto_confirm_resumed", order, by, before, {"paused_at": None, "auto_confirm_at": deadline}, reason=reason
    )
    return order


def resume_after_cases(order_ids: Iterable[int], *, by: Any) -> int:
    """`resume_auto_confirm` for the paused ones of many orders whose cases closed (one query when none is)."""
    paused = Order.objects.filter(pk__in=list(order_ids), auto_confirm_paused_at__isnull=False).order_by("pk")
    resumed = 0
    for order in paused:
        if resume_auto_confirm(order, by=by).auto_confirm_paused_at is None:
            resumed += 1
    return resumed


def confirm_due_receipts(now: datetime | None = None) -> AutoConfirmResult:
    """The periodic job: arm the clock of newly delivered orders, then confirm receipt of the due ones."""
    now = now or timezone.now()
    result = AutoConfirmResult(scheduled=_arm(now), confirmed=0)
    due = Order.objects.filter(
        status=OrderStatus.DELIVERED, auto_confirm_paused_at=None, auto_confirm_at__lte=now
    ).order_by("auto_confirm_at", "pk")
    for pk in list(due.values_list("pk", flat=True)):
        try:
            with transaction.atomic():
                order = Order.objects.select_for_update().get(pk=pk)
                deadline = order.auto_confirm_at
                if not due.filter(pk=pk).update(status=OrderStatus.COMPLETED, auto_confirm_at=None):
                    continue  # a case paused it just in time, or another worker confirmed it
                before = {"status": OrderStatus.DELIVERED.value, "auto_confirm_at": deadline}
                after = {"status": OrderStatus.COMPLETED.value, "auto_confirm_at": None}
                _event("order.auto_confirmed", order, None, before, after)
        except Exception:  # one broken order must not stop the others; it stays due
            log.exception("auto-confirm of order %s failed", pk)
            continue
        result["confirmed"] += 1
    if any(result.values()):
        log.info("auto-confirm at %s: %s", now.isoformat(), result)
    return result


def _arm(now: datetime) -> int:
    """Delivered orders without a deadline (and not paused) get one: latest delivery + the storefront's days."""
    fresh = (
        Order.objects.filter(status=OrderStatus.DELIVERED, auto_confirm_at=None, auto_confirm_paused_at=None)
        .annotate(delivered=Max("shipments__delivered_at"))
        .values_list("pk", "delivered", "storefront__auto_confirm_days")
    )
    armed = 0
    for pk, delivered, days in list(fresh):
        deadline = (delivered or now) + timedelta(days=days)
        with transaction.atomic():
            if not Order.objects.filter(
                pk=pk, status=OrderStatus.DELIVERED, auto_confirm_at=None, auto_confirm_paused_at=None
            ).update(auto_confirm_at=deadline):
                continue
            order = Order.objects.get(pk=pk)
            _event(
                "order.auto_confirm_scheduled", order, None, {"auto_confirm_at": None}, {"auto_confirm_at": deadline}
            )
        armed += 1
    return armed


def _has_open_case(order_id: int) -> bool:
    from desk.cases.models import OPEN_CASE_STATES  # the cases app builds on orders, not the other way

    return Order.objects.filter(pk=order_id, cases__state__in=OPEN_CASE_STATES).exists()


def _delivered_at(order_id: int) -> datetime | None:
    found: datetime | None = Order.objects.filter(pk=order_id).aggregate(at=Max("shipments__delivered_at"))["at"]
    return found


def _days(order: Order) -> int:
    days: int = Order.objects.filter(pk=order.pk).values_list("storefront__auto_confirm_days", flat=True).get()
    return days


def _event(
    verb: str, order: Order, by: Any, before: dict[str, Any], after: dict[str, Any], *, reason: str = ""
) -> None:
    data = {"number": order.number, **({"reason": reason} if reason else {})}
    record_event(verb, actor=by, subject=order, customer_id=order.customer_id, before=before, after=after, data=data)
