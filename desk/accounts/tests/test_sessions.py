"""The prepared session read honours expiry and logout like Django's database store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from desk.accounts.models import Role
from desk.core.testing import make_staff

pytestmark = pytest.mark.django_db


def _log_in(client):
    return client.post(reverse("accounts:login"), {"username": "sess_agent", "password": "desk-pass-123"})


def test_a_session_works_until_it_expires_or_the_user_logs_out(client, settings):
    settings.SESSION_ENGINE = "desk.accounts.sessions"  # the embedded default (with Redis: cached_db)
    make_staff("sess_agent", Role.AGENT)
    assert _log_in(client).status_code == 302
    queue = reverse("tickets:queue")
    assert client.get(queue).status_code == 200

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get(queue).status_code == 302  # expired: back to the login page

    assert _log_in(client).status_code == 302
    assert client.get(queue).status_code == 200
    client.post(reverse("accounts:logout"))
    assert client.get(queue).status_code == 302
