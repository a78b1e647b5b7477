"""The customer page and the customer-360 panel shown beside a ticket."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.messages import get_messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from desk.accounts.permissions import can
from desk.core.errors import DomainError, NotFound
from desk.core.prepared import Read
from desk.customers import services
from desk.customers.models import Channel, Customer, Tier
from desk.customers.queries import customer_360, customer_360_reads, get_customer_for, masked_contact
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


def panel_reads(request: HttpRequest, customer_id: int) -> list[Read]:
    """The panel's prepared reads, for a page that shows it to read them with its own (`reads_ahead`)."""
    if not can(request.user, "customer.view"):
        return []
    return customer_360_reads(customer_id, request.user, **PANEL_SIZES)


@require_GET
@login_required
def panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The customer-360 panel beside a ticket, refreshed by htmx; ?ticket= marks the current ticket."""
    context = _context(request, pk, PANEL_SIZES)
    context["current_ticket"] = int(request.GET["ticket"]) if request.GET.get("ticket", "").isdigit() else None
    return render(request, "customers/partials/panel.html", context)


@require_POST
@login_required
def reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """One masked contact field's real value, as the fragment htmx swaps in for the field's "Show" form.

    `services.reveal_contact` checks the role, the reason and the hourly limit and records the reveal;
    a refusal comes back as the form again with the message (403, 422 or 429; the form swaps 4xx in).
    """
    field = request.POST.get("field", "")
    if field not in services.REVEALABLE_FIELDS:
        return HttpResponse(_("Only phone, email and address can be revealed."), status=400, content_type="text/plain")
    try:
        customer = get_customer_for(request.user, pk, details=False)
    except NotFound as error:
        raise Http404(error.message) from error
    reason = request.POST.get("reason", "")
    context: dict[str, Any] = {"customer_id": customer.pk, "field": field, "value": None, "reason": reason}
    try:
        revealed = services.reveal_contact(customer, by=request.user, reason=reason, fields=[field])
    except DomainError as error:
        context |= {"shown": masked_contact(customer, field), "error": error.message}
        return render(request, "customers/partials/reveal_answer.html", context, status=_reveal_status(error))
    context["value"] = getattr(revealed, field) or ""
    return render(request, "customers/partials/reveal_answer.html", context)


def _reveal_status(error: DomainError) -> int:
    """403 refused, 429 over the limit, 422 for input the rules reject (as the case pages answer)."""
    return 422 if error.status == 400 else error.status
