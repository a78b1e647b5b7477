"""The admin edits calendars (hours and days inline) and policies; targets are read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from desk.sla.models import BusinessCalendar, SlaPolicy, SlaTarget
from desk.sla.tests.helpers import calendar_form, open_ticket


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@shop.example", "desk-pass-123")
    client.force_login(user)
    return client


def test_calendar_page_shows_hours_and_days_inline(admin_client, business):
    page = admin_client.get(f"/admin/sla/businesscalendar/{business.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "hours-TOTAL_FORMS" in body
    assert "days-TOTAL_FORMS" in body
    assert "春节调休上班" in body  # a seeded make-up working day


def test_policy_list_and_form(admin_client, default_policy):
    assert admin_client.get("/admin/sla/slapolicy/").status_code == 200
    page = admin_client.get(f"/admin/sla/slapolicy/{default_policy.pk}/change/")
    assert page.status_code == 200
    assert "escalate_reassign_up" in page.content.decode()


def test_admin_can_add_a_calendar_with_hours(admin_client):
    data = calendar_form()
    response = admin_client.post("/admin/sla/businesscalendar/add/", data)
    assert response.status_code == 302
    assert BusinessCalendar.objects.get(name="周末值班").hours.get().weekday == 5


def test_targets_are_read_only(admin_client, routed, agent, customer):
    ticket = open_ticket(agent, customer)
    target = SlaTarget.objects.filter(ticket=ticket).first()
    assert admin_client.get("/admin/sla/slatarget/").status_code == 200
    assert admin_client.get("/admin/sla/slatarget/add/").status_code == 403
    page = admin_client.get(f"/admin/sla/slatarget/{target.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert SlaPolicy.objects.filter(pk=target.policy_id).exists()
