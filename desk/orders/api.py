"""Orders and import jobs over the API: batch upsert from the shop, masked reads, file imports."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile

from desk.core.api import ERRORS, Id, PageParams, paginate
from desk.customers.schemas import BatchOut  # one batch answer for every upsert
from desk.orders import imports, queries, services
from desk.orders.schemas import (
    ImportJobOut,
    ImportJobPage,
    ImportKindIn,
    OrderBatchIn,
    OrderFilters,
    OrderOut,
    OrderPage,
    job_out,
)

router = Router(tags=["orders"])
imports_router = Router(tags=["imports"])


# --- Orders --------------------------------------------------------------------------------------
@router.post("", response={200: BatchOut, **ERRORS})
def upsert_orders(request: HttpRequest, payload: OrderBatchIn) -> Any:
    """Create or update up to 500 orders by `external_id` (idempotent); per-row results.

    Sending the same order twice leaves one order (`unchanged` the second time). An order with a
    bad item is not written at all; the other orders of the batch are.
    """
    rows = [o.model_dump(exclude_none=True) for o in payload.orders]
    return services.upsert_orders(rows, by=request.auth).as_dict()


@router.get("", response={200: OrderPage, **ERRORS})
def list_orders(request: HttpRequest, filters: Query[OrderFilters], page: Query[PageParams]) -> Any:
    """Newest first; `customer` limits to one customer's orders."""
    found = queries.search_orders(
        request.auth,
        customer=filters.customer,
        status=filters.status or "",
        storefront=filters.storefront or "",
        number=filters.number or "",
    )
    result = paginate(found, page)
    result["items"] = [queries.present_order(o, request.auth) for o in result["items"]]
    return result


@router.get("/{order_id}", response={200: OrderOut, **ERRORS})
def get_order(request: HttpRequest, order_id: Id) -> Any:
    return queries.present_order(queries.get_order_for(request.auth, order_id), request.auth)


# --- Import files --------------------------------------------------------------------------------
@imports_router.post("", response={201: ImportJobOut, **ERRORS})
def start_import(request: HttpRequest, kind: Form[ImportKindIn], file: File[UploadedFile]) -> Any:
    """Upload a .csv or .json file of `orders` or `customers`; it is imported in the background.

    Poll `GET /api/imports/{id}` for progress and the row-by-row error report (see docs/import.md).
    """
    job = imports.start_import(file, kind.kind, by=request.auth)
    job.refresh_from_db()  # the worker may already have moved it on
    return Status(201, job_out(job))


@imports_router.get("", response={200: ImportJobPage, **ERRORS})
def list_imports(request: HttpRequest, page: Query[PageParams]) -> Any:
    result = paginate(queries.import_jobs_visible_to(request.auth), page)
    result["items"] = [job_out(j) for j in result["items"]]
    return result


@imports_router.get("/{job_id}", response={200: ImportJobOut, **ERRORS})
def get_import(request: HttpRequest, job_id: Id) -> Any:
    """Progress (`processed_rows` of `total_rows`) and the error report: [{row, error, ...}]."""
    return job_out(queries.get_import_job_for(request.auth, job_id))
