"""Customers over the API: batch upsert from the shop, masked reads, the timeline."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from desk.accounts.api_audit import EventPage, event_out
from desk.core.api import ERRORS, AuthedRequest, ErrorOut, Id, PageParams, paginate
from desk.customers import queries, services
from desk.customers.schemas import (
    BatchOut,
    CustomerBatchIn,
    CustomerFilters,
    CustomerOut,
    CustomerPage,
    RevealIn,
    RevealOut,
)

router = Router(tags=["customers"])


@router.post("", response={200: BatchOut, **ERRORS})
def upsert_customers(request: HttpRequest, payload: CustomerBatchIn) -> Any:
    """Create or update up to 500 customers by `external_id`; each row succeeds or fails on its own."""
    rows = [c.model_dump(exclude_none=True) for c in payload.customers]
    return services.upsert_customers(rows, by=request.auth).as_dict()


@router.get("", response={200: CustomerPage, **ERRORS})
def list_customers(request: HttpRequest, filters: Query[CustomerFilters], page: Query[PageParams]) -> Any:
    found = queries.search_customers(request.auth, q=filters.q or "", tier=filters.tier or "", tag=filters.tag or "")
    result = paginate(found, page)
    result["items"] = [queries.present_customer(c, request.auth) for c in result["items"]]
    return result


@router.get("/{customer_id}", response={200: CustomerOut, **ERRORS})
def get_customer(request: HttpRequest, customer_id: Id) -> Any:
    customer = queries.get_customer_for(request.auth, customer_id)
    return queries.present_customer(customer, request.auth)


@router.get("/{customer_id}/timeline", response={200: EventPage, **ERRORS})
def customer_timeline(request: HttpRequest, customer_id: Id, page: Query[PageParams]) -> Any:
    """Everything about the customer (tickets, orders, profile changes), newest first, a page at a time."""
    customer = queries.get_customer_for(request.auth, customer_id)
    result = paginate(queries.timeline_events(customer, user=request.auth), page)
    return result | {"items": [event_out(e, request.auth) for e in result["items"]]}


@router.post("/{customer_id}/reveal", response={200: RevealOut, **ERRORS, 429: ErrorOut})
def reveal_contact(request: AuthedRequest, customer_id: Id, payload: RevealIn) -> Any:
    """The real phone, email or address of one customer for a role that sees them masked, with a reason.

    Recorded as `customer.pii_revealed` (reason and field names, never the values); at most
    `DESK_PII_REVEALS_PER_HOUR` reveals per user and hour (429 `customer.reveal_limit` beyond).
    """
    customer = queries.get_customer_for(request.auth, customer_id, details=False)
    return services.reveal_contact(customer, by=request.auth, reason=payload.reason, fields=payload.fields)
