"""The staff session store: one read for the session and its user, honouring expiry, logout, a changed
password and a deactivated user like Django's database store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from desk.accounts.models import Role, StaffSession
from desk.accounts.sessions import take_session_user
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

    StaffSession.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get(queue).status_code == 302  # expired: back to the login page

    assert _log_in(client).status_code == 302
    assert client.get(queue).status_code == 200
    client.post(reverse("accounts:logout"))
    assert client.get(queue).status_code == 302


def test_a_page_reads_its_session_and_user_in_one_statement(client, settings):
    settings.SESSION_ENGINE = "desk.accounts.sessions"
    user = make_staff("sess_agent", Role.AGENT)
    _log_in(client)
    assert StaffSession.objects.get().user_id == user.pk  # the column written with the session
    client.get(reverse("tickets:queue"))
    with CaptureQueriesContext(connection) as page:
        assert client.get(reverse("tickets:queue")).status_code == 200
    reads = [q["sql"] for q in page.captured_queries if '"auth_user"."password"' in q["sql"]]
    assert len(reads) == 1, reads  # the user came with the session
    assert "accounts_staff_session" in reads[0]
    assert take_session_user(user.pk) is None  # handed out once, for that request only


def test_a_changed_password_or_a_deactivated_user_ends_the_session(client, settings):
    settings.SESSION_ENGINE = "desk.accounts.sessions"
    user = make_staff("sess_agent", Role.AGENT)
    queue = reverse("tickets:queue")
    _log_in(client)
    user.set_password("another-pass-456")
    user.save()
    assert client.get(queue).status_code == 302  # the session's password hash no longer matches

    user.set_password("desk-pass-123")
    user.save()
    _log_in(client)
    assert client.get(queue).status_code == 200
    user.is_active = False
    user.save()
    assert client.get(queue).status_code == 302


def test_deleting_a_user_deletes_their_sessions(client, settings):
    settings.SESSION_ENGINE = "desk.accounts.sessions"
    user = make_staff("sess_agent", Role.AGENT)
    _log_in(client)
    assert StaffSession.objects.filter(user=user).count() == 1
    user.delete()
    assert not StaffSession.objects.exists()
