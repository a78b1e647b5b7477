"""Permission-scoped reads of orders and import jobs; recipient details masked like the customer's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Window

from desk.accounts.permissions import can
from desk.core.errors import NotFound
from desk.core.prepared import Prepared, Read
from desk.customers.models import Customer
from desk.customers.queries import mask_address, mask_phone
from desk.orders.models import ImportJob, ImportStatus, Order, OrderItem, Shipment, ShipmentEvent


def orders_visible_to(user: Any) -> QuerySet[Order]:
    """Orders with their storefront, customer, items and shipments (with scans) fetched in 5 queries."""
    base = (
        Order.objects.select_related("storefront", "customer")
        .prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.order_by("id")),
            Prefetch(
                "shipments",
                queryset=Shipment.objects.order_by("id").prefetch_related(
                    Prefetch("events", queryset=ShipmentEvent.objects.order_by("-happened_at", "-id"))
                ),
            ),
        )
        .order_by("-placed_at", "-id")
    )
    return base if can(user, "customer.view") else base.none()


def get_order_for(user: Any, order_id: int | str) -> Order:
    pk = int(order_id) if str(order_id).isdigit() else None
    order = orders_visible_to(user).filter(pk=pk).first() if pk else None
    if order is None:
        raise NotFound(f"No order {order_id}.", code="order.not_found")
    return order


def orders_of_customer(user: Any, customer: Customer) -> QuerySet[Order]:
    return orders_visible_to(user).filter(customer=customer)


# The newest orders of a customer with their items, shipments and latest scans: the customer-360 panel's
# reads, prepared once per process (`desk.core.prepared`) and keyed by the list's size.
def _newest(customer_id: int, size: int) -> QuerySet[Order]:
    return Order.objects.filter(customer_id=customer_id).order_by("-placed_at", "-id")[:size]


_RECENT_ORDERS: Prepared[Order] = Prepared(
    lambda customer_id, variant: (
        _newest(customer_id, variant).select_related("storefront").annotate(listed=Window(Count("id")))
    )
)
_RECENT_ITEMS: Prepared[OrderItem] = Prepared(
    lambda customer_id, variant: OrderItem.objects.filter(
        order_id__in=Subquery(_newest(customer_id, variant).values("id"))
    ).order_by("id")
)
SCAN_SHOWN = ("id", "status", "happened_at", "location", "description")  # of the latest scan
_LATEST_SCAN = ShipmentEvent.objects.filter(shipment_id=OuterRef("pk")).order_by("-happened_at", "-id")
_RECENT_SHIPMENTS: Prepared[Shipment] = Prepared(
    lambda customer_id, variant: (
        Shipment.objects.filter(order_id__in=Subquery(_newest(customer_id, variant).values("id")))
        .annotate(**{f"scan_{name}": Subquery(_LATEST_SCAN.values(name)[:1]) for name in SCAN_SHOWN})
        .order_by("id")
    )
)


def recent_orders(user: Any, customer_id: int, size: int) -> list[Order]:
    """The customer's newest `size` orders as `orders_visible_to` gives them, items and shipments attached,
    each carrying the customer's order total as `listed`; of each shipment's scans only the latest (what
    the customer-360 panel shows: the full history is the order's). Three statements."""
    if not can(user, "customer.view"):
        return []
    orders = _RECENT_ORDERS(customer_id, variant=size)
    if not orders:
        return []
    items = _by(_RECENT_ITEMS(customer_id, variant=size), "order_id")
    shipments = _RECENT_SHIPMENTS(customer_id, variant=size)
    for shipment in shipments:
        scan = {name: getattr(shipment, f"scan_{name}") for name in SCAN_SHOWN}
        latest = [ShipmentEvent(shipment_id=shipment.pk, **scan)] if scan["id"] is not None else []
        shipment._prefetched_objects_cache = {"events": latest}  # type: ignore[attr-defined]
    by_order = _by(shipments, "order_id")
    for order in orders:
        cache = {"items": items.get(order.pk, []), "shipments": by_order.get(order.pk, [])}
        order._prefetched_objects_cache = cache  # type: ignore[attr-defined]
    return orders


def recent_orders_reads(user: Any, customer_id: int, size: int) -> list[Read]:
    """`recent_orders`' three reads, for `reads_ahead` (independent of each other: by the customer)."""
    if not can(user, "customer.view"):
        return []
    return [read.ahead(customer_id, variant=size) for read in (_RECENT_ORDERS, _RECENT_ITEMS, _RECENT_SHIPMENTS)]


def _by(rows: list[Any], key: str) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, key), []).append(row)
    return grouped


def search_orders(
    user: Any, *, customer: int | None = None, status: str = "", storefront: str = "", number: str = ""
) -> QuerySet[Order]:
    qs = orders_visible_to(user)
    if customer is not None:
        qs = qs.filter(customer_id=customer)
    if status:
        qs = qs.filter(status=status)
    if storefront:
        qs = qs.filter(storefront__code=storefront)
    if number:
        qs = qs.filter(number=number)
    return qs


# --- Presenting an order -------------------------------------------------------------------------
@dataclass(frozen=True)
class ShipmentView:
    id: int
    carrier: str
    tracking_number: str
    status: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    events: list[ShipmentEvent]


@dataclass(frozen=True)
class OrderView:
    """An order as one user may see it: the recipient's phone and address masked unless allowed."""

    id: int
    external_id: str
    number: str
    storefront: str
    customer_id: int
    status: str
    placed_at: datetime
    paid_at: datetime | None
    currency: str
    total_amount: Decimal
    shipping_fee: Decimal
    discount_amount: Decimal
    payment_method: str
    payment_reference: str
    recipient_name: str
    recipient_phone: str
    shipping_address: str
    shipping_insured: bool
    confirmed_exclusions: list[str]
    items: list[OrderItem]
    shipments: list[ShipmentView]
    masked: bool


def present_order(order: Order, user: Any) -> OrderView:
    """Uses only prefetched rows when the order came from `orders_visible_to` (no extra queries)."""
    masked = not can(user, "customer.view_pii")
    return OrderView(
        id=order.pk,
        external_id=order.external_id,
        number=order.number,
        storefront=order.storefront.code,
        customer_id=order.customer_id,
        status=order.status,
        placed_at=order.placed_at,
        paid_at=order.paid_at,
        currency=order.currency,
        total_amount=order.total_amount,
        shipping_fee=order.shipping_fee,
        discount_amount=order.discount_amount,
        payment_method=order.payment_method,
        payment_reference=order.payment_reference,
        recipient_name=order.recipient_name,
        recipient_phone=mask_phone(order.recipient_phone) if masked else order.recipient_phone,
        shipping_address=mask_address(order.shipping_address) if masked else order.shipping_address,
        shipping_insured=order.shipping_insured,
        confirmed_exclusions=list(order.confirmed_exclusions or []),
        items=list(order.items.all()),
        shipments=[_present_shipment(s) for s in order.shipments.all()],
        masked=masked,
    )


def _present_shipment(shipment: Shipment) -> ShipmentView:
    return ShipmentView(
        id=shipment.pk,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        status=shipment.status,
        shipped_at=shipment.shipped_at,
        delivered_at=shipment.delivered_at,
        events=list(shipment.events.all()),
    )


# --- Import jobs -----------------------------------------------------------------------------------
def import_jobs_visible_to(user: Any) -> QuerySet[ImportJob]:
    """Import jobs are seen by those who may import (their error reports quote customer data)."""
    base = ImportJob.objects.select_related("created_by").order_by("-id")
    return base if can(user, "order.import") else base.none()


def get_import_job_for(user: Any, job_id: int | str) -> ImportJob:
    pk = int(job_id) if str(job_id).isdigit() else None
    job = import_jobs_visible_to(user).filter(pk=pk).first() if pk else None
    if job is None:
        raise NotFound(f"No import {job_id}.", code="import.not_found")
    return job


def progress_of(job: ImportJob) -> int:
    """Percent of the file's rows processed so far (100 once done, whatever the count)."""
    if job.status == ImportStatus.DONE:
        return 100
    return int(100 * job.processed_rows / job.total_rows) if job.total_rows else 0
