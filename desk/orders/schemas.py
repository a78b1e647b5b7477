"""What the orders and imports API reads and writes.

Types are checked here (a wrong type is a 400 for the whole request); business rules (known
status, an item per order, a customer to attach to) are checked per order by the services, so
one bad order in a batch is reported with its reason and the others are imported.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import StringConstraints

from desk.core.api import Id
from desk.orders.queries import progress_of

MAX_BATCH = 500
Short = Annotated[str, StringConstraints(max_length=500)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"))]


class CustomerRefIn(Schema):
    """Which customer the order belongs to: the shop's id (created if new), else phone or email."""

    external_id: Short | None = None
    name: Short | None = None
    phone: Short | None = None
    email: Short | None = None
    address: Short | None = None


class ItemIn(Schema):
    sku: Short
    name: Short
    model: Short | None = None
    unit_price: Money
    quantity: int = Field(1, ge=1, le=100_000)
    discount_amount: Money | None = None


class ShipmentEventIn(Schema):
    status: Short = Field(..., description="created, in_transit, out_for_delivery, delivered, exception, returned")
    happened_at: datetime
    location: Short | None = None
    description: Short | None = None


class ShipmentIn(Schema):
    carrier: Short
    tracking_number: Short
    status: Short | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    events: list[ShipmentEventIn] | None = Field(None, max_length=100)


class OrderIn(Schema):
    """One order of the shop, matched by `external_id`; items are replaced, shipments upserted."""

    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    number: Short | None = None
    storefront: Short | None = Field(None, description="Storefront code (created if new); default 'own'.")
    storefront_name: Short | None = None
    customer: CustomerRefIn | None = None
    customer_id: Id | None = Field(None, description="The desk's customer id, instead of `customer`.")
    status: Short | None = Field(None, description="pending_payment, paid, shipped, delivered, completed, cancelled")
    placed_at: datetime
    paid_at: datetime | None = None
    currency: Short | None = None
    total_amount: Money | None = Field(None, description="Computed from items, shipping and discount if left out.")
    shipping_fee: Money | None = None
    discount_amount: Money | None = None
    payment_method: Short | None = None
    payment_reference: Short | None = None
    recipient_name: Short | None = None
    recipient_phone: Short | None = None
    shipping_address: Short | None = None
    shipping_insured: bool | None = Field(None, description="Shipping insurance (运费险) was bought with the order.")
    confirmed_exclusions: list[Short] | None = Field(
        None,
        max_length=10,
        description="Optional no-reason-return exclusions the customer confirmed at checkout (e.g. unsealed_hygiene).",
    )
    items: list[ItemIn] = Field(..., max_length=200)
    shipments: list[ShipmentIn] | None = Field(None, max_length=20)


class OrderBatchIn(Schema):
    orders: list[OrderIn] = Field(..., min_length=1, max_length=MAX_BATCH)


class ItemOut(Schema):
    id: int
    sku: str
    name: str
    model: str
    unit_price: Decimal
    quantity: int
    discount_amount: Decimal


class ShipmentEventOut(Schema):
    status: str
    happened_at: datetime
    location: str
    description: str


class ShipmentOut(Schema):
    id: int
    carrier: str
    tracking_number: str
    status: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    events: list[ShipmentEventOut] = Field(..., description="Newest first.")


class OrderOut(Schema):
    """The recipient's phone and address are masked unless the caller may see them (`masked`)."""

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
    items: list[ItemOut]
    shipments: list[ShipmentOut]
    masked: bool


class OrderPage(Schema):
    items: list[OrderOut]
    limit: int
    offset: int
    next_offset: int | None


class OrderFilters(Schema):
    customer: Id | None = None
    status: str | None = Field(None, max_length=20)
    storefront: str | None = Field(None, max_length=30)
    number: str | None = Field(None, max_length=64)


class ImportErrorOut(Schema):
    row: int = Field(..., description="File row (the header is row 1) or position in a JSON list")
    error: str
    rows: list[int] = Field(default_factory=list, description="Every file row of the failed order")
    external_id: str = ""
    field: str | None = None
    code: str | None = None


class ImportJobOut(Schema):
    id: int
    kind: str
    file_format: str
    original_name: str
    status: str = Field(..., description="queued, running, done or failed")
    total_rows: int
    processed_rows: int
    succeeded_rows: int
    failed_rows: int
    progress: int = Field(..., description="Percent of rows processed")
    message: str
    errors: list[ImportErrorOut]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportJobPage(Schema):
    items: list[ImportJobOut]
    limit: int
    offset: int
    next_offset: int | None


def job_out(job: Any) -> dict[str, Any]:
    fields = ("id", "kind", "file_format", "original_name", "status", "total_rows", "processed_rows",
              "succeeded_rows", "failed_rows", "message", "errors", "created_at", "started_at",
              "finished_at")  # fmt: skip
    return {f: getattr(job, f) for f in fields} | {"progress": progress_of(job)}


class ImportKindIn(Schema):
    kind: Annotated[str, StringConstraints(max_length=20)] = Field(..., description="orders or customers")
