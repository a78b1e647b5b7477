"""Opening a ticket from the console, for contacts that did not arrive through a connected channel."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.core.errors import DomainError, ValidationFailed
from desk.customers.models import Channel, Customer
from desk.customers.services import find_customer, normalize_identity, resolve_customer
from desk.orders.models import Order
from desk.tickets import services
from desk.tickets.forms import NewTicketForm
from desk.tickets.views import _invalid, _render, staff_page


@staff_page
def new_ticket(request: HttpRequest) -> HttpResponse:
    """The form, and on POST the ticket: routed, assigned and on the clock like any other."""
    authorize(request.user, "ticket.create")
    prefill = {k: request.GET[k][:254] for k in ("contact", "order_number") if k in request.GET}
    form = NewTicketForm(request.POST or None, initial=prefill)
    if request.method != "POST":
        return _render(request, "tickets/new.html", {"form": form, "error": None})
    try:
        if not form.is_valid():
            raise _invalid(form)
        with transaction.atomic():  # a customer created for a ticket that then fails is not kept
            ticket = _open(request.user, form)
    except DomainError as error:
        return _render(request, "tickets/new.html", {"form": form, "error": error.message}, status=error.status)
    messages.success(request, _("%(n)s opened.") % {"n": ticket.number})
    return redirect("tickets:detail", pk=ticket.pk)


def _open(user: Any, form: NewTicketForm) -> Any:
    data = form.cleaned_data
    customer = _customer(user, form)
    return services.create_ticket(
        by=user, customer=customer, subject=data["subject"], description=data["description"],
        request_type=data["request_type"], channel=data["channel"], priority=data["priority"],
        order=_order(customer, data["order_number"].strip()), tags=form.tag_list(),
    )  # fmt: skip


def _customer(user: Any, form: NewTicketForm) -> Customer:
    channel, contact, name = form.contact_channel(), form.cleaned_data["contact"], form.cleaned_data["name"].strip()
    found = find_customer(channel, contact) or _by_contact_field(channel, contact)
    if found is not None:
        return found
    if not name:
        raise ValidationFailed(
            _("No customer has this phone or email. Check it, or give a name to create the customer."),
            code="ticket.unknown_customer", field="contact",
        )  # fmt: skip
    # Reached by this contact, on the channel the ticket came in: the customer prefers it until told otherwise.
    return resolve_customer(channel, contact, name=name, by=user, preferred_channel=form.cleaned_data["channel"])


def _by_contact_field(channel: str, contact: str) -> Customer | None:
    """A customer whose record (imported, not yet seen on that channel) has this phone or email."""
    value = normalize_identity(channel, contact)
    field = "email__iexact" if channel == Channel.EMAIL else "phone"
    matches = list(Customer.objects.filter(**{field: value})[:2])
    if len(matches) > 1:
        raise ValidationFailed(
            _("Several customers have this phone or email: enter their other contact (phone or email) instead."),
            code="ticket.ambiguous_customer", field="contact",
        )  # fmt: skip
    return matches[0] if matches else None


def _order(customer: Customer, number: str) -> Order | None:
    if not number:
        return None
    order = Order.objects.filter(customer=customer, number=number).first()
    if order is None:
        raise ValidationFailed(
            _("This customer has no order %(n)s.") % {"n": number}, code="ticket.unknown_order", field="order_number"
        )
    return order
