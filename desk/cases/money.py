"""Refund amounts: what each returned unit cost the customer, and what may still be refunded.

An order's discount (满减, coupons) is spread over its lines in proportion to their value after
the line's own discount; a partial return refunds the units' share of their line. Rounding is to
the cent, half up, and a line never gives back more than it was paid, however it is split.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet, Sum

from desk.cases.models import (
    LIVE_REFUND_STATUSES,
    RELEASED_CASE_STATES,
    RELEASING_CASE_TYPES,
    ZERO,
    AfterSalesCase,
    CaseItem,
    CaseState,
    Refund,
)
from desk.core.prepared import Prepared, prefetched_or_read
from desk.orders.models import Order, OrderItem

CENT = Decimal("0.01")
# Cases closed without a refund give their items back: they may be claimed again.
RELEASING_CLOSE_REASONS = ["rejected", "expired", "withdrawn", "converted"]


@dataclass(frozen=True)
class Amounts:
    goods: Decimal
    shipping: Decimal
    restocking_fee: Decimal
    lines: dict[int, Decimal]  # order item id -> goods amount refunded for it

    @property
    def refund(self) -> Decimal:
        return max(self.goods + self.shipping - self.restocking_fee, ZERO)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def paid_per_line(order: Order, items: Sequence[OrderItem]) -> dict[int, Decimal]:
    """What the customer paid for each line: price × quantity − line discount − its share of the order discount."""
    net = {i.pk: i.unit_price * i.quantity - i.discount_amount for i in items}
    total = sum(net.values(), ZERO)
    if total <= 0 or order.discount_amount <= 0:
        return {pk: max(value, ZERO) for pk, value in net.items()}
    paid: dict[int, Decimal] = {}
    left = order.discount_amount
    ordered = sorted(net)
    for pk in ordered[:-1]:
        share = cents(order.discount_amount * net[pk] / total)
        paid[pk], left = net[pk] - share, left - share
    paid[ordered[-1]] = net[ordered[-1]] - left  # the last line takes the rounding remainder
    return {pk: max(value, ZERO) for pk, value in paid.items()}


def _claimed_rows(order_id: int, exclude_case: int) -> QuerySet[CaseItem, tuple[int, int, Decimal]]:
    return (
        CaseItem.objects.filter(case__order_id=order_id)
        .exclude(case__state=CaseState.REJECTED)
        .exclude(Q(case__state__in=RELEASED_CASE_STATES) & Q(case__case_type__in=RELEASING_CASE_TYPES))
        .exclude(Q(case__state=CaseState.CLOSED) & Q(case__close_reason__in=RELEASING_CLOSE_REASONS))
        .exclude(case_id=exclude_case)
        .values_list("order_item_id", "quantity", "amount")
    )


# Read on every request for a case and on its page: compiled once.
_CLAIMED = Prepared(_claimed_rows)
_ORDER_ITEMS: Prepared[OrderItem] = Prepared(lambda order_id: OrderItem.objects.filter(order_id=order_id))


def order_items(order: Order) -> list[OrderItem]:
    """The order's lines (`order.items.all()`, from a prefetch when the caller made one)."""
    return prefetched_or_read(order, "items", _ORDER_ITEMS)


def claimed_items(order: Order, *, exclude_case: int | None = None) -> dict[int, tuple[int, Decimal]]:
    """Units and amounts of each line already in live cases (open, or closed with a refund)."""
    rows: list[tuple[int, int, Decimal]] = _CLAIMED.rows(order.pk, exclude_case or 0)
    claimed: dict[int, tuple[int, Decimal]] = {}
    for item_id, quantity, amount in rows:
        q, a = claimed.get(item_id, (0, ZERO))
        claimed[item_id] = (q + quantity, a + amount)
    return claimed


def compute(
    order: Order,
    lines: Iterable[tuple[OrderItem, int]],
    *,
    refund_shipping: bool,
    restocking_fee_percent: Decimal,
    exclude_case: int | None = None,
    claimed: dict[int, tuple[int, Decimal]] | None = None,
) -> Amounts:
    """The case's refund from its lines; shipping is refunded once the whole order has come back."""
    items = order_items(order)
    paid = paid_per_line(order, items)
    claimed = claimed_items(order, exclude_case=exclude_case) if claimed is None else claimed
    by_line: dict[int, Decimal] = {}
    units_left = {i.pk: i.quantity - claimed.get(i.pk, (0, ZERO))[0] for i in items}
    for item, quantity in lines:
        before_q, before_amount = claimed.get(item.pk, (0, ZERO))
        share = cents(paid[item.pk] * quantity / item.quantity)
        if before_q + quantity >= item.quantity:
            share = paid[item.pk] - before_amount  # the last units take what is left of the line
        by_line[item.pk] = max(min(share, paid[item.pk] - before_amount), ZERO)
        units_left[item.pk] -= quantity
    goods = sum(by_line.values(), ZERO)
    whole_order = all(left <= 0 for left in units_left.values())
    shipping = order.shipping_fee if refund_shipping and whole_order else ZERO
    fee = cents(goods * restocking_fee_percent / 100)
    return Amounts(goods=goods, shipping=shipping, restocking_fee=fee, lines=by_line)


def refunded_so_far(order: Order) -> tuple[Decimal, int]:
    """Money out (or on its way out) for this order's payment, and how many refunds made it."""
    live = Refund.objects.filter(order=order, status__in=LIVE_REFUND_STATUSES)
    totals = live.aggregate(total=Sum("amount"), count=Count("id"))
    return totals["total"] or ZERO, totals["count"]


def refundable(order: Order) -> Decimal:
    return max(order.total_amount - refunded_so_far(order)[0], ZERO)


def case_total(case: AfterSalesCase) -> Decimal:
    """What the case refunds: goods and shipping, less the restocking fee and any deduction for the
    goods' condition (a no-reason return that came back not intact)."""
    return case.goods_amount + case.shipping_refund - case.restocking_fee - case.deduction
