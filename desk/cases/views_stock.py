"""The warehouse's stock page: sellable and returned units per SKU, goods arriving, grade A back on sale.

Reading needs `case.inspect` or `stock.manage`; the two actions need `stock.manage`, which the
services check (`services_exchange.restock_sku`, `resell_returned`); each records its event and a
`StockMovement`. A refused or invalid action re-renders the page with the message and a 4xx status.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from desk.accounts.permissions import can
from desk.cases import services_exchange as exchange
from desk.cases.forms import ResellForm, RestockForm, StockSearchForm
from desk.cases.models import Stock
from desk.cases.views import _invalid, _render, _status, staff_page
from desk.core.errors import DomainError, Forbidden

STOCK_ROWS = 200
STOCK_ACTIONS = {"restock": RestockForm, "resell": ResellForm}


def _require_stock_view(user: Any) -> None:
    if not (can(user, "stock.manage") or can(user, "case.inspect")):
        raise Forbidden(_("Your role may not see the warehouse stock."), code="permission.denied")


def _rows(term: str) -> list[Stock]:
    rows = Stock.objects.order_by("sku")
    if term:
        rows = rows.filter(Q(sku__icontains=term) | Q(name__icontains=term) | Q(model__icontains=term))
    return list(rows[:STOCK_ROWS])  # `available` is a property of the row


def _context(request: HttpRequest, term: str, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "stock",
        "q": term,
        "rows": _rows(term),
        "limit": STOCK_ROWS,
        "may_manage": can(request.user, "stock.manage"),
        "restock_form": RestockForm(),
        "error": None,
        "error_sku": "",
        **extra,
    }


@require_GET
@staff_page
def stock_page(request: HttpRequest) -> HttpResponse:
    """Every stocked SKU (or those matching the search), with the forms the role may use."""
    _require_stock_view(request.user)
    form = StockSearchForm(request.GET or None)
    term = (form.cleaned_data.get("q") or "").strip() if form.is_valid() else ""
    return _render(request, "cases/stock.html", _context(request, term))


@require_POST
@staff_page
def stock_action(request: HttpRequest, verb: str) -> HttpResponse:
    """Restock (goods arrive) or resell (grade A returned units back on sale), then back to the page."""
    _require_stock_view(request.user)
    form_class = STOCK_ACTIONS.get(verb)
    if form_class is None:
        raise Http404(_("No such action."))
    form = form_class(request.POST)
    term = request.POST.get("q", "")
    try:
        if not form.is_valid():
            raise _invalid(form)
        data = form.cleaned_data
        if verb == "restock":
            row = exchange.restock_sku(data.pop("sku"), by=request.user, **data)
            done = _("%(sku)s: %(n)s units arrived; %(on_hand)s on hand.")
            messages.success(request, done % {"sku": row.sku, "n": data["quantity"], "on_hand": row.on_hand})
        else:
            row = exchange.resell_returned(data["sku"], by=request.user, quantity=data["quantity"])
            done = _("%(sku)s: %(n)s returned units back on sale; %(on_hand)s on hand.")
            messages.success(request, done % {"sku": row.sku, "n": data["quantity"], "on_hand": row.on_hand})
    except DomainError as error:
        extra: dict[str, Any] = {
            "error": error.message,
            "error_sku": request.POST.get("sku", "") if verb == "resell" else "",
        }
        if verb == "restock":
            extra["restock_form"] = form
        return _render(request, "cases/stock.html", _context(request, term, **extra), status=_status(error))
    return redirect(reverse("cases:stock") + ("?" + urlencode({"q": term}) if term else ""))
