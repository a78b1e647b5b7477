"""The customer page and the customer-360 panel shown beside a ticket."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.messages import get_messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from desk.accounts.permissions import can
from desk.core.errors import NotFound
from desk.customers.models import Channel, Customer, Tier
from desk.customers.queries import customer_360, get_customer_for
from desk.orders.models import OrderStatus, ShipmentStatus

PANEL_SIZES = {"orders": 3, "tickets": 8, "events": 12}
PAGE_SIZES = {"orders": 50, "tickets": 100, "events": 100}


def _labels() -> dict[str, dict[str, Any]]:
    """Choice labels for values the 360 view carries as plain strings."""
    return {
        "order_status": dict(OrderStatus.choices),
        "shipment_status": dict(ShipmentStatus.choices),
        "tier": dict(Tier.choices),
        "channel": dict(Channel.choices),
    }


def _context(request: HttpRequest, pk: int, sizes: dict[str, int], customer: Customer | None = None) -> dict[str, Any]:
    if customer is None:
        try:
            customer = get_customer_for(request.user, pk)
        except NotFound as error:
            raise Http404(error.message) from error
    view = customer_360(customer, request.user, **sizes)
    return {"c360": view, "p": view.profile, "labels": _labels(), "can": can, "lang": get_language()}


@require_GET
@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Full profile, identities, orders, tickets and the timeline, newest first."""
    context = _context(request, pk, PAGE_SIZES) | {"messages": get_messages(request), "nav": "customer"}
    return render(request, "customers/detail.html", context)


def panel_context(request: HttpRequest, customer: Customer, current_ticket: int | None) -> dict[str, Any] | None:
    """What the customer-360 panel shows, for the ticket page to render inline; None where the user may not
    see customers. `customer` comes with the ticket, its tags and identities attached (`attach_details`).
    The page arrives whole, and the htmx refresh below re-renders the same template."""
    if not can(request.user, "customer.view"):
        return None
    context = _context(request, customer.pk, PANEL_SIZES, customer)
    context["current_ticket"] = current_ticket
    return context


@require_GET
@login_required
def panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The customer-360 panel beside a ticket, refreshed by htmx; ?ticket= marks the current ticket."""
    context = _context(request, pk, PANEL_SIZES)
    context["current_ticket"] = int(request.GET["ticket"]) if request.GET.get("ticket", "").isdigit() else None
    return render(request, "customers/partials/panel.html", context)
