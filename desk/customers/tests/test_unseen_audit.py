"""A user who may not see customers is told there is no such customer; the attempt is audited."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from desk.accounts.permissions import can
from desk.core.models import Event


@pytest.mark.parametrize("path", ["customers:detail", "customers:panel"])
def test_customer_pages_are_404_without_customer_view_and_recorded(client, customer, path):
    visitor = get_user_model().objects.create_user("visitor", password="x")  # a login with no desk role
    assert not can(visitor, "customer.view")
    client.force_login(visitor)
    assert client.get(reverse(path, args=[customer.pk])).status_code == 404
    assert client.get(reverse(path, args=[customer.pk + 1000])).status_code == 404
    denied = Event.objects.filter(verb="permission.denied", actor=visitor, subject_type="customer")
    assert list(denied.values_list("subject_id", "data__action")) == [(customer.pk, "customer.view")]
