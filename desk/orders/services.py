"""Orders arrive from the shop (API batches, CSV/JSON files); these functions are their only writers.

`upsert_order` is idempotent by the shop's external id: the same payload twice leaves one order
and records one `order.imported` event; a changed payload updates it and records `order.updated`
with what moved. Every order is written all-or-nothing: an order with one bad item writes nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.core.errors import ValidationFailed
from desk.core.events import diff, record_event
from desk.customers import services as customer_services
from desk.customers.models import Channel, Customer
from desk.customers.services import BatchResult, clean_bool, clean_choice, clean_text, run_batch
from desk.orders.models import Order, OrderItem, OrderStatus, Shipment, ShipmentEvent, ShipmentStatus, Storefront

MAX_ITEMS = 200
MAX_SHIPMENTS = 20
MAX_SHIPMENT_EVENTS = 100
MAX_AMOUNT = Decimal("9999999999.99")
CENT = Decimal("0.01")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
ORDER_KEYS = {
    "external_id", "number", "storefront", "storefront_name", "customer", "status", "placed_at", "paid_at",
    "currency", "total_amount", "shipping_fee", "discount_amount", "payment_method", "payment_reference",
    "recipient_name", "recipient_phone", "shipping_address", "items", "shipments", "customer_id",
    "shipping_insured", "confirmed_exclusions",
}  # fmt: skip
CUSTOMER_KEYS = {"external_id", "name", "email", "phone", "address"}


# --- Cleaned input -------------------------------------------------------------------------------
@dataclass
class ItemInput:
    sku: str
    name: str
    model: str
    unit_price: Decimal
    quantity: int
    discount_amount: Decimal


@dataclass
class ShipmentInput:
    carrier: str
    tracking_number: str
    status: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class OrderInput:
    external_id: str
    storefront_code: str
    storefront_name: str
    customer: dict[str, Any]
    customer_id: int | None
    fields: dict[str, Any]
    items: list[ItemInput]
    shipments: list[ShipmentInput]


@contextmanager
def _within(prefix: str) -> Iterator[None]:
    """Name nested fields in errors (`items[2].unit_price`) so a shop can find the bad cell."""
    try:
        yield
    except ValidationFailed as exc:
        exc.field = f"{prefix}.{exc.field}" if exc.field else prefix
        raise


def clean_decimal(value: Any, field_name: str, *, default: Decimal | None = None) -> Decimal:
    """Money as a number or a string ("199", "199.00", "¥199.00"), at least 0, rounded to cents."""
    if value is None or value == "":
        if default is None:
            raise ValidationFailed(_("This field is required."), code="required", field=field_name)
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValidationFailed(_("Must be a number."), code="invalid_type", field=field_name)
    try:
        amount = Decimal(str(value).strip().lstrip("¥￥").replace(",", ""))
    except InvalidOperation as exc:
        raise ValidationFailed(_("Must be a number."), code="invalid_number", field=field_name) from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise ValidationFailed(
            _("Must be between 0 and %(max)s.") % {"max": MAX_AMOUNT}, code="out_of_range", field=field_name
        )
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def clean_quantity(value: Any, field_name: str) -> int:
    if value is None or value == "":
        return 1
    text = str(value).strip()
    if isinstance(value, bool) or not isinstance(value, int | str | float) or not text.isdigit():
        raise ValidationFailed(_("Must be a whole number of at least 1."), code="invalid_quantity", field=field_name)
    quantity = int(text)
    if not 1 <= quantity <= 100_000:
        raise ValidationFailed(_("Must be between 1 and 100000."), code="out_of_range", field=field_name)
    return quantity


def clean_datetime(value: Any, field_name: str, *, required: bool = False) -> datetime | None:
    """ISO 8601 or "YYYY-MM-DD HH:MM[:SS]"; a time without zone is the shop's local time."""
    if value is None or value == "":
        if required:
            raise ValidationFailed(_("This field is required."), code="required", field=field_name)
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = _parse_moment(value.strip(), field_name)
    else:
        raise ValidationFailed(_("Must be a date and time."), code="invalid_type", field=field_name)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _parse_moment(text: str, field_name: str) -> datetime:
    try:
        moment = parse_datetime(text.replace("/", "-"))
        day = None if moment else parse_date(text.replace("/", "-"))
    except ValueError:
        moment = day = None
    if moment is None and isinstance(day, date):
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise ValidationFailed(
            _("Not a date and time (use 2024-05-01T14:30:00+08:00)."), code="invalid_datetime", field=field_name
        )
    return moment


def _require_list(value: Any, field_name: str, *, limit: int, required: bool = False) -> list[Any]:
    if value is None or value == "":
        value = []
    if not isinstance(value, list | tuple):
        raise ValidationFailed(_("Must be a list."), code="invalid_type", field=field_name)
    if required and not value:
        raise ValidationFailed(_("At least one is required."), code="required", field=field_name)
    if len(value) > limit:
        raise ValidationFailed(_("At most %(n)d.") % {"n": limit}, code="too_many", field=field_name)
    return list(value)


def _require_mapping(value: Any, field_name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationFailed(_("Must be an object."), code="invalid_type", field=field_name)
    return value


def clean_order(data: Mapping[str, Any]) -> OrderInput:
    """Check every field of an order payload before anything is written; errors name the field."""
    unknown = sorted(set(data) - ORDER_KEYS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), code="unknown_field", field=unknown[0])
    external_id = clean_text(data.get("external_id"), "external_id", max_length=100, required=True)
    storefront = clean_text(data.get("storefront"), "storefront", max_length=30) or "own"
    if not _SLUG.match(storefront):
        raise ValidationFailed(_("Use letters, digits, - or _."), code="invalid_code", field="storefront")
    items = _require_list(data.get("items"), "items", limit=MAX_ITEMS, required=True)
    shipments = _require_list(data.get("shipments"), "shipments", limit=MAX_SHIPMENTS)
    order = OrderInput(
        external_id=external_id,
        storefront_code=storefront,
        storefront_name=clean_text(data.get("storefront_name"), "storefront_name", max_length=100),
        customer_id=_clean_customer_id(data.get("customer_id")),
        customer=_clean_customer_ref(data.get("customer"), required=not data.get("customer_id")),
        fields=_clean_order_fields(data, external_id),
        items=[_clean_item(item, i) for i, item in enumerate(items, 1)],
        shipments=[_clean_shipment(s, i) for i, s in enumerate(shipments, 1)],
    )
    _check_tracking_numbers_unique(order.shipments)
    if data.get("total_amount") in (None, ""):
        order.fields["total_amount"] = _computed_total(order)
    return order


def _clean_customer_id(value: Any) -> int | None:
    """The desk's own customer id, for callers that already resolved the customer."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not str(value).isdigit():
        raise ValidationFailed(_("Must be a customer id."), code="invalid_type", field="customer_id")
    return int(value)


def _clean_customer_ref(value: Any, *, required: bool) -> dict[str, Any]:
    if value is None and not required:
        return {}
    ref = dict(_require_mapping(value, "customer"))
    unknown = sorted(set(ref) - CUSTOMER_KEYS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), code="unknown_field", field=f"customer.{unknown[0]}")
    ref = {k: v for k, v in ref.items() if v not in (None, "")}
    if required and not ({"external_id", "phone", "email"} & set(ref)):
        raise ValidationFailed(
            _("Give the customer's external_id, phone or email."), code="order.no_customer", field="customer"
        )
    return ref


def _clean_order_fields(data: Mapping[str, Any], external_id: str) -> dict[str, Any]:
    text = {"payment_method": 30, "payment_reference": 100, "recipient_name": 100, "shipping_address": 300}
    fields: dict[str, Any] = {k: clean_text(data.get(k), k, max_length=n) for k, n in text.items()}
    fields["recipient_phone"] = clean_text(data.get("recipient_phone"), "recipient_phone", max_length=32)
    fields["number"] = clean_text(data.get("number"), "number", max_length=64) or external_id
    fields["status"] = clean_choice(data.get("status"), "status", OrderStatus.values, default=OrderStatus.PAID)
    fields["placed_at"] = clean_datetime(data.get("placed_at"), "placed_at", required=True)
    fields["paid_at"] = clean_datetime(data.get("paid_at"), "paid_at")
    fields["currency"] = (clean_text(data.get("currency"), "currency", max_length=3) or "CNY").upper()
    fields["shipping_fee"] = clean_decimal(data.get("shipping_fee"), "shipping_fee", default=Decimal(0))
    fields["discount_amount"] = clean_decimal(data.get("discount_amount"), "discount_amount", default=Decimal(0))
    if data.get("total_amount") not in (None, ""):
        fields["total_amount"] = clean_decimal(data.get("total_amount"), "total_amount")
    if data.get("shipping_insured") not in (None, ""):
        fields["shipping_insured"] = clean_bool(data.get("shipping_insured"), "shipping_insured")
    if data.get("confirmed_exclusions") is not None:
        fields["confirmed_exclusions"] = clean_exclusions(data.get("confirmed_exclusions"))
    return fields


def clean_exclusions(value: Any) -> list[str]:
    """Optional no-reason-return exclusions the customer confirmed at checkout: codes, as a list or one
    cell split on , ; | (spreadsheets). The after-sales policy applies those its version lists."""
    from desk.cases.models import Exclusion  # the cases app builds on orders: read its codes late

    codes = re.split(r"[,;|]", value) if isinstance(value, str) else value
    if not isinstance(codes, list | tuple):
        raise ValidationFailed(_("Must be a list."), code="invalid_type", field="confirmed_exclusions")
    cleaned = list(dict.fromkeys(clean_text(c, "confirmed_exclusions", max_length=30) for c in codes))
    cleaned = [c for c in cleaned if c]
    unknown = [c for c in cleaned if c not in Exclusion.values]
    if unknown:
        raise ValidationFailed(
            _("Unknown exclusion %(code)s; use one of: %(codes)s.")
            % {"code": unknown[0], "codes": ", ".join(Exclusion.values)},
            code="invalid_choice",
            field="confirmed_exclusions",
        )
    return cleaned


def _clean_item(value: Any, index: int) -> ItemInput:
    with _within(f"items[{index}]"):
        item = _require_mapping(value, "")
        return ItemInput(
            sku=clean_text(item.get("sku"), "sku", max_length=64, required=True),
            name=clean_text(item.get("name"), "name", max_length=200, required=True),
            model=clean_text(item.get("model"), "model", max_length=100),
            unit_price=clean_decimal(item.get("unit_price"), "unit_price"),
            quantity=clean_quantity(item.get("quantity"), "quantity"),
            discount_amount=clean_decimal(item.get("discount_amount"), "discount_amount", default=Decimal(0)),
        )


def _clean_shipment(value: Any, index: int) -> ShipmentInput:
    with _within(f"shipments[{index}]"):
        shipment = _require_mapping(value, "")
        status = shipment.get("status")
        events = _require_list(shipment.get("events"), "events", limit=MAX_SHIPMENT_EVENTS)
        return ShipmentInput(
            carrier=clean_text(shipment.get("carrier"), "carrier", max_length=50, required=True),
            tracking_number=clean_text(
                shipment.get("tracking_number"), "tracking_number", max_length=64, required=True
            ),
            status=clean_choice(status, "status", ShipmentStatus.values) if status else None,
            shipped_at=clean_datetime(shipment.get("shipped_at"), "shipped_at"),
            delivered_at=clean_datetime(shipment.get("delivered_at"), "delivered_at"),
            events=[_clean_shipment_event(e, i) for i, e in enumerate(events, 1)],
        )


def _clean_shipment_event(value: Any, index: int) -> dict[str, Any]:
    with _within(f"events[{index}]"):
        event = _require_mapping(value, "")
        return {
            "status": clean_choice(event.get("status"), "status", ShipmentStatus.values),
            "happened_at": clean_datetime(event.get("happened_at"), "happened_at", required=True),
            "location": clean_text(event.get("location"), "location", max_length=100),
            "description": clean_text(event.get("description"), "description", max_length=300),
        }


def _check_tracking_numbers_unique(shipments: Sequence[ShipmentInput]) -> None:
    seen: set[str] = set()
    for index, shipment in enumerate(shipments, 1):
        if shipment.tracking_number in seen:
            raise ValidationFailed(
                _("This tracking number appears twice in the order."),
                code="order.duplicate_tracking",
                field=f"shipments[{index}].tracking_number",
            )
        seen.add(shipment.tracking_number)


def _computed_total(order: OrderInput) -> Decimal:
    items = sum((i.unit_price * i.quantity - i.discount_amount for i in order.items), Decimal(0))
    total = items + order.fields["shipping_fee"] - order.fields["discount_amount"]
    return max(total, Decimal(0)).quantize(CENT)


# --- Upserting orders ----------------------------------------------------------------------------
def upsert_order(data: Mapping[str, Any], *, by: Any) -> Order:
    """Create or update one order by its external id (see `upsert_order_row` for what happened)."""
    authorize(by, "order.import")
    return upsert_order_row(data, by=by)[0]


def upsert_orders(rows: Sequence[Mapping[str, Any]], *, by: Any, first_row: int = 1) -> BatchResult:
    """Import many orders in one transaction, each in its own savepoint (see `run_batch`)."""
    authorize(by, "order.import")
    numbered = [(first_row + i, row) for i, row in enumerate(rows)]
    return upsert_numbered_orders(numbered, by=by)


def upsert_numbered_orders(rows: Sequence[tuple[int, Mapping[str, Any]]], *, by: Any) -> BatchResult:
    """Like `upsert_orders` with the caller's own row numbers (file lines); the caller authorized."""
    with transaction.atomic():
        return run_batch(rows, lambda data: upsert_order_row(data, by=by))


def upsert_order_row(data: Mapping[str, Any], *, by: Any) -> tuple[Order, str]:
    """The unchecked core of `upsert_order`, for callers that authorized the whole batch."""
    cleaned = clean_order(data)
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(external_id=cleaned.external_id).first()
        before = _order_snapshot(order) if order else None
        order = _write_order(order, cleaned, by)
        after = _order_snapshot(order)
        if before is None:
            _order_event("order.imported", order, by, after=after)
            return order, "created"
        if before == after:
            # Nothing moved: undo the rewrite so updated_at and the timeline stay quiet.
            transaction.set_rollback(True)
            return order, "unchanged"
        old, new = diff(before, after)
        _order_event("order.updated", order, by, before=old, after=new)
        return order, "updated"


def _write_order(order: Order | None, cleaned: OrderInput, by: Any) -> Order:
    customer = _customer_by_id(cleaned.customer_id) if cleaned.customer_id else None
    customer = customer or _resolve_order_customer(cleaned.customer, by)
    storefront = _storefront(cleaned.storefront_code, cleaned.storefront_name)
    if order is None:
        order = Order(external_id=cleaned.external_id)
    for key, value in cleaned.fields.items():
        setattr(order, key, value)
    order.customer = customer
    order.storefront = storefront
    order.save()
    _sync_items(order, cleaned.items)
    for shipment in cleaned.shipments:
        _upsert_shipment(order, shipment)
    return order


def _customer_by_id(pk: int) -> Customer:
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        raise ValidationFailed(_("No customer with this id."), code="order.unknown_customer", field="customer_id")
    return customer


def _resolve_order_customer(ref: Mapping[str, Any], by: Any) -> Customer:
    """By the shop's customer id first (created if new), else by a phone or email identity."""
    with _within("customer"):
        if ref.get("external_id"):
            existing = Customer.objects.filter(external_id=str(ref["external_id"]).strip()).first()
            if existing is not None:
                return existing
            payload = {**ref, "name": ref.get("name") or ref.get("phone") or ref.get("email") or ref["external_id"]}
            return customer_services.upsert_customer_row(payload, by=by)[0]
        for channel in (Channel.PHONE, Channel.EMAIL):
            found = customer_services.find_customer(channel, ref[channel]) if ref.get(channel) else None
            if found is not None:
                return found
        channel = Channel.PHONE if ref.get("phone") else Channel.EMAIL
        profile = {k: v for k, v in ref.items() if k in {"email", "phone", "address"} and k != channel}
        return customer_services.resolve_customer(channel, ref[channel], name=ref.get("name", ""), by=by, **profile)


def _storefront(code: str, name: str) -> Storefront:
    storefront, _created = Storefront.objects.get_or_create(code=code, defaults={"name": name or code})
    return storefront


def _sync_items(order: Order, items: Sequence[ItemInput]) -> None:
    """Make the order's items exactly `items`, reusing rows by SKU so tickets that point at an
    item keep pointing at it across re-imports."""
    existing: dict[str, list[OrderItem]] = defaultdict(list)
    for item in order.items.order_by("id"):
        existing[item.sku].append(item)
    keep: list[int] = []
    for given in items:
        row = existing[given.sku].pop(0) if existing[given.sku] else OrderItem(order=order)
        for key, value in vars(given).items():
            setattr(row, key, value)
        row.save()
        keep.append(row.pk)
    order.items.exclude(pk__in=keep).delete()


def _upsert_shipment(order: Order, given: ShipmentInput) -> Shipment:
    shipment = Shipment.objects.filter(order=order, tracking_number=given.tracking_number).first()
    shipment = shipment or Shipment(order=order, tracking_number=given.tracking_number)
    shipment.carrier = given.carrier
    shipment.shipped_at = given.shipped_at or shipment.shipped_at
    shipment.delivered_at = given.delivered_at or shipment.delivered_at
    shipment.save()
    for event in given.events:
        ShipmentEvent.objects.get_or_create(
            shipment=shipment, status=event["status"], happened_at=event["happened_at"], defaults=event
        )
    _settle_shipment_status(shipment, given.status)
    return shipment


def _settle_shipment_status(shipment: Shipment, explicit: str | None) -> None:
    """The status the shop states, else the latest scan's; delivery fills delivered_at."""
    latest = shipment.events.order_by("-happened_at", "-id").first()
    status = explicit or (latest.status if latest else shipment.status)
    delivered_at = shipment.delivered_at
    if status == ShipmentStatus.DELIVERED and delivered_at is None:
        delivered_at = latest.happened_at if latest else timezone.now()
    if (status, delivered_at) != (shipment.status, shipment.delivered_at):
        shipment.status, shipment.delivered_at = status, delivered_at
        shipment.save(update_fields=["status", "delivered_at"])


def _order_snapshot(order: Order) -> dict[str, Any]:
    """What an import can change, in a comparable form (used for "unchanged" and the event diff)."""
    snap: dict[str, Any] = {}
    for name in ("number", "status", "placed_at", "paid_at", "currency", "total_amount", "shipping_fee",
                 "discount_amount", "payment_method", "payment_reference", "recipient_name",
                 "recipient_phone", "shipping_address", "customer_id", "storefront_id", "shipping_insured",
                 "confirmed_exclusions"):  # fmt: skip
        snap[name] = _plain(getattr(order, name))
    snap["items"] = [
        [i.sku, i.name, i.model, _plain(i.unit_price), i.quantity, _plain(i.discount_amount)]
        for i in order.items.order_by("id")
    ]
    snap["shipments"] = [
        [s.tracking_number, s.carrier, s.status, _plain(s.shipped_at), _plain(s.delivered_at), s.events.count()]
        for s in order.shipments.order_by("id")
    ]
    return snap


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.quantize(CENT))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _order_event(verb: str, order: Order, by: Any, **kwargs: Any) -> None:
    record_event(verb, actor=by, subject=order, customer_id=order.customer_id, data={"number": order.number}, **kwargs)


# --- Shipment tracking ---------------------------------------------------------------------------
def record_shipment_event(
    shipment: Shipment,
    status: str,
    *,
    happened_at: datetime | str | None = None,
    location: str = "",
    description: str = "",
    by: Any = None,
) -> ShipmentEvent:
    """Add one tracking scan to the shipment's status history and move its status to the latest scan.

    `by` is None for a carrier's push; a staff user needs order.import. The same scan reported
    twice is stored once.
    """
    if by is not None:
        authorize(by, "order.import", subject=shipment)
    status = clean_choice(status, "status", ShipmentStatus.values)
    moment = clean_datetime(happened_at, "happened_at") or timezone.now()
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update().select_related("order").get(pk=shipment.pk)
        before = shipment.status
        scan, _created = ShipmentEvent.objects.get_or_create(
            shipment=shipment,
            status=status,
            happened_at=moment,
            defaults={
                "location": clean_text(location, "location", max_length=100),
                "description": clean_text(description, "description", max_length=300),
            },
        )
        _settle_shipment_status(shipment, None)
        if shipment.status != before:
            record_event(
                "shipment.status_changed",
                actor=by,
                subject=shipment,
                customer_id=shipment.order.customer_id,
                before={"status": before},
                after={"status": shipment.status},
                data={"order": shipment.order_id, "tracking_number": shipment.tracking_number},
            )
    return scan
