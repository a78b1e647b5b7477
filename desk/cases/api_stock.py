"""The warehouse stock over the API: levels per SKU, goods arriving, grade A returns back on sale.

Mounted under /api/stock. Reading needs `stock.manage` or `case.inspect` (as the stock page);
the two actions are one service call each (`services_exchange.restock_sku`, `resell_returned`),
which check `stock.manage` (403), validate the input (400) and record the event and the movement.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from ninja import Query, Router

from desk.cases import queries
from desk.cases import services_exchange as exchange
from desk.cases.models import Stock
from desk.cases.schemas import ResellIn, RestockIn, StockFilters, StockOut, StockPage, StockSku
from desk.core.api import ERRORS, AuthedRequest, PageParams, paginate
from desk.core.errors import NotFound

router = Router(tags=["stock"])


@router.get("", response={200: StockPage, **ERRORS})
def list_stock(request: AuthedRequest, filters: Query[StockFilters], page: Query[PageParams]) -> Any:
    """Stock levels by SKU (ascending): sellable, reserved, available and returned by grade."""
    return paginate(queries.stock_visible_to(request.auth, sku=filters.sku, q=filters.q), page)


@router.post("/restock", response={200: StockOut, **ERRORS})
def restock(request: AuthedRequest, payload: RestockIn) -> Stock:
    """Sellable units arrived (a new SKU is created with its name, model and spec)."""
    data = payload.model_dump()
    return exchange.restock_sku(data.pop("sku"), by=request.auth, **data)


@router.post("/resell", response={200: StockOut, **ERRORS})
def resell(request: AuthedRequest, payload: ResellIn) -> Stock:
    """Resaleable (grade A) returned units go back on sale (二次销售)."""
    return exchange.resell_returned(payload.sku, by=request.auth, quantity=payload.quantity)


# Registered after the actions: `/restock` and `/resell` would otherwise match `/{sku}` (405).
@router.get("/{sku}", response={200: StockOut, **ERRORS})
def get_stock(request: AuthedRequest, sku: StockSku) -> Stock:
    """One SKU's stock levels."""
    row = queries.stock_visible_to(request.auth, sku=sku).first()
    if row is None:
        raise NotFound(_("%(sku)s is not a stocked SKU.") % {"sku": sku}, code="stock.unknown_sku", field="sku")
    return row
