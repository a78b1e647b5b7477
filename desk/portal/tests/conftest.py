"""Portal fixtures: a delivered order, and a browser (Django's test client) logged in to the portal."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from desk.cases.tests.conftest import at, deliver
from desk.core.testing import make_order


def code_from_mail(message: Any) -> str:
    found = re.search(r"\b(\d{6})\b", message.body)
    assert found, message.body
    return found.group(1)


def log_in(client: Client, order: Any, contact: str, capture: Any) -> Client:
    """Ask for a code (delivered after commit), read it from the email outbox and enter it."""
    with capture(execute=True):
        response = client.post("/portal/login/", {"order_number": order.number, "contact": contact})
    assert response.status_code == 302, response.content.decode()
    code = code_from_mail(mail.outbox[-1])
    response = client.post("/portal/login/code/", {"code": code})
    assert response.status_code == 302, response.content.decode()
    return client


@pytest.fixture
def delivered_order(customer: Any, time_machine: Any) -> Any:
    """Two lines of 2 × 150.00 paid 11-05, signed for 11-10; now is 11-12 (inside the 7-day window)."""
    time_machine.move_to(at(5), tick=False)
    order = make_order(customer, items=2, unit_price="150.00", payment_reference="PAY-1")
    order.items.update(quantity=2)
    order.total_amount = Decimal("600.00")
    order.save(update_fields=["total_amount"])
    deliver(order)
    time_machine.move_to(at(12), tick=False)
    return order


@pytest.fixture
def portal(client: Client, delivered_order: Any, django_capture_on_commit_callbacks: Any) -> Client:
    """The customer of `delivered_order`, logged in to the portal with their email."""
    return log_in(client, delivered_order, delivered_order.customer.email, django_capture_on_commit_callbacks)
