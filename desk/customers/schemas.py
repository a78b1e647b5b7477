"""What the customers API reads and writes.

Types are checked here (a wrong type is a 400 for the whole request); business rules (known
tier, valid email, identity not held by someone else) are checked per row by the services, so
one bad customer in a batch of 500 is reported and the other 499 are imported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Field, Schema
from pydantic import StringConstraints

from desk.core.api import ErrorOut

MAX_BATCH = 500
Short = Annotated[str, StringConstraints(max_length=500)]


class IdentityIn(Schema):
    channel: Annotated[str, StringConstraints(max_length=20)]
    value: Annotated[str, StringConstraints(max_length=200)]


class CustomerIn(Schema):
    """One customer of the shop, matched by `external_id`; fields left out stay as they are."""

    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    name: Short | None = None
    email: Short | None = None
    phone: Short | None = None
    address: Short | None = None
    language: Short | None = None
    tier: Short | None = Field(None, description="regular, vip or svip")
    preferred_channel: Short | None = Field(None, description="web, email, phone, wechat, weibo, app or api")
    consent_marketing: bool | None = None
    consent_data_processing: bool | None = None
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
    tags: list[Annotated[str, StringConstraints(max_length=50)]] | None = Field(None, max_length=50)
    identities: list[IdentityIn] | None = Field(None, max_length=20)


class CustomerBatchIn(Schema):
    customers: list[CustomerIn] = Field(..., min_length=1, max_length=MAX_BATCH)


class RowResultOut(Schema):
    row: int = Field(..., description="1-based position in the request")
    external_id: str
    action: str = Field(..., description="created, updated, unchanged or failed")
    id: int | None
    error: ErrorOut | None


class BatchOut(Schema):
    created: int
    updated: int
    unchanged: int
    failed: int
    results: list[RowResultOut]


class IdentityOut(Schema):
    channel: str
    value: str


class CustomerOut(Schema):
    """Phone, email and address are masked (138****8000) unless the caller may see them (`masked`)."""

    id: int
    external_id: str | None
    name: str
    email: str
    phone: str
    address: str
    language: str
    tier: str
    is_vip: bool
    preferred_channel: str
    consent_marketing: bool
    consent_data_processing: bool
    dedicated_agent_id: int | None
    dedicated_agent_name: str
    tags: list[str]
    identities: list[IdentityOut]
    notes: str
    created_at: datetime
    masked: bool


class CustomerPage(Schema):
    items: list[CustomerOut]
    limit: int
    offset: int
    next_offset: int | None


class CustomerFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Name contains, or exact external id/email/phone.")
    tier: str | None = Field(None, max_length=10)
    tag: str | None = Field(None, max_length=50)


class RevealIn(Schema):
    """Why the contact details are needed (recorded), and which of them; none named means all three."""

    reason: Annotated[str, StringConstraints(max_length=1000)] = Field(
        ..., description="A few words, 2 to 200 characters, e.g. 'call about a lost parcel'."
    )
    fields: list[Annotated[str, StringConstraints(max_length=20)]] | None = Field(
        None, max_length=3, description="phone, email and/or address"
    )


class RevealOut(Schema):
    """The real values of the fields asked for (null for the others)."""

    customer_id: int
    phone: str | None
    email: str | None
    address: str | None
    remaining: int | None = Field(..., description="Reveals left to you this hour; null where no limit applies.")
