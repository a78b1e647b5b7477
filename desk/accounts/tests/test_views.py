"""Login with lockout, logout, availability and the notification inbox."""

from __future__ import annotations

import pytest
from django.urls import reverse

from desk.accounts.models import Availability, Notification
from desk.core.models import Event


def test_login_page_renders_in_chinese_by_default(client, db):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_login_with_the_right_password_goes_to_the_queue(client, agent):
    response = client.post(reverse("accounts:login"), {"username": "agent", "password": "desk-pass-123"})
    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:queue")
    assert client.get(reverse("tickets:queue")).status_code == 200


def test_login_follows_a_local_next_but_not_another_site(client, agent):
    ok = client.post(
        reverse("accounts:login"), {"username": "agent", "password": "desk-pass-123", "next": "/overview/"}
    )
    assert ok["Location"] == "/overview/"
    client.logout()
    evil = client.post(
        reverse("accounts:login"), {"username": "agent", "password": "desk-pass-123", "next": "https://evil.example/"}
    )
    assert evil["Location"] == reverse("tickets:queue")


def test_wrong_password_shows_an_error(client, agent):
    response = client.post(reverse("accounts:login"), {"username": "agent", "password": "nope"})
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()


def test_lockout_after_five_failures_shows_a_readable_page(client, agent, settings):
    settings.AXES_ENABLED = True
    for _ in range(5):
        client.post(reverse("accounts:login"), {"username": "agent", "password": "wrong"})
    response = client.post(reverse("accounts:login"), {"username": "agent", "password": "desk-pass-123"})
    assert response.status_code == 429
    html = response.content.decode()
    assert 'data-testid="locked"' in html
    assert "15" in html  # minutes of cool-off


def test_logout_needs_post(client, agent):
    client.force_login(agent)
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("tickets:queue")).status_code == 302


def test_availability_toggle_records_an_event(client, agent):
    client.force_login(agent)
    response = client.post(reverse("accounts:availability"), {"availability": "away", "next": "/"})
    assert response.status_code == 302
    agent.staff.refresh_from_db()
    assert agent.staff.availability == Availability.AWAY
    event = Event.objects.get(verb="staff.availability_changed")
    assert event.before == {"availability": "available"}
    assert event.after == {"availability": "away"}


def test_bad_availability_is_refused_without_change(client, agent):
    client.force_login(agent)
    response = client.post(reverse("accounts:availability"), {"availability": "asleep"})
    assert response.status_code == 302
    agent.staff.refresh_from_db()
    assert agent.staff.availability == Availability.AVAILABLE


def test_availability_ignores_an_outside_next(client, agent):
    client.force_login(agent)
    response = client.post(reverse("accounts:availability"), {"availability": "away", "next": "https://evil.example/"})
    assert response["Location"] == reverse("tickets:queue")


def test_notifications_list_badge_and_mark_read(client, agent, senior_agent):
    mine = Notification.objects.create(user=agent, verb="ticket.mentioned", text="你在 TK0000001 被提到", link="/")
    Notification.objects.create(user=agent, verb="ticket.assigned", text="你负责 TK0000002")
    theirs = Notification.objects.create(user=senior_agent, verb="x", text="别人的通知")
    client.force_login(agent)
    html = client.get(reverse("accounts:notifications")).content.decode()
    assert "你在 TK0000001 被提到" in html
    assert "别人的通知" not in html
    assert ">2</span>" in client.get(reverse("accounts:notification_badge")).content.decode()
    client.post(reverse("accounts:mark_read"), {"notification": mine.pk})
    mine.refresh_from_db()
    assert mine.read_at is not None
    client.post(reverse("accounts:mark_read"), {"notification": theirs.pk})
    theirs.refresh_from_db()
    assert theirs.read_at is None
    client.post(reverse("accounts:mark_read"))
    assert not Notification.objects.filter(user=agent, read_at=None).exists()
    assert "unread" not in client.get(reverse("accounts:notification_badge")).content.decode()


@pytest.mark.parametrize(("language", "heading"), [("en", "Queues"), ("zh-hans", "队列")])
def test_language_switch_changes_the_page_language(client, agent, language, heading):
    client.force_login(agent)
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    html = client.get(reverse("tickets:queue")).content.decode()
    assert f'<html lang="{language}">' in html
    assert heading in html


def test_short_notifications_address_leads_to_the_inbox(client, agent):
    client.force_login(agent)
    response = client.get("/notifications/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:notifications")
