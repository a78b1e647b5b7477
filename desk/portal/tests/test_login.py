"""Logging in to the portal with an order number and a one-time code sent by email or SMS."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from desk.core.models import Event
from desk.customers.models import Channel, CustomerIdentity
from desk.portal import services
from desk.portal.errors import BadCode, Throttled, TooManyAttempts
from desk.portal.models import LoginCode, PortalSession, SimulatedSms
from desk.portal.tests.conftest import code_from_mail, log_in

pytestmark = pytest.mark.django_db


def ask(client: Client, order_number: str, contact: str, capture: Any) -> Any:
    with capture(execute=True):
        return client.post("/portal/login/", {"order_number": order_number, "contact": contact})


def test_code_is_emailed_and_only_its_hash_is_stored(client, delivered_order, django_capture_on_commit_callbacks):
    response = ask(
        client, delivered_order.number, delivered_order.customer.email.upper(), django_capture_on_commit_callbacks
    )

    assert response.status_code == 302
    assert response["Location"] == "/portal/login/code/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [delivered_order.customer.email]
    code = code_from_mail(mail.outbox[0])
    row = LoginCode.objects.get()
    assert row.customer == delivered_order.customer
    assert code not in row.code_hash
    assert row.expires_at == timezone.now() + timedelta(minutes=10)
    event = Event.objects.get(verb="portal.code_sent")
    assert event.customer_id == delivered_order.customer_id
    assert event.data["matched"] is True
    assert code not in str(event.data)


def test_the_code_travels_through_a_real_smtp_server_and_logs_the_customer_in(
    client, delivered_order, smtp_server, django_capture_on_commit_callbacks
):
    ask(client, delivered_order.number, delivered_order.customer.email, django_capture_on_commit_callbacks)

    assert len(smtp_server) == 1
    message = smtp_server[0]
    assert message["To"] == delivered_order.customer.email
    code = re.search(r"\b(\d{6})\b", message.get_body(preferencelist=("plain",)).get_content()).group(1)
    response = client.post("/portal/login/code/", {"code": code})
    assert response.status_code == 302
    assert PortalSession.objects.get().customer == delivered_order.customer


def test_right_code_opens_a_portal_session_for_that_customer(
    client, delivered_order, django_capture_on_commit_callbacks
):
    log_in(client, delivered_order, delivered_order.customer.email, django_capture_on_commit_callbacks)

    session = PortalSession.objects.get()
    assert session.customer == delivered_order.customer
    assert Event.objects.filter(verb="portal.login", customer_id=delivered_order.customer_id).count() == 1
    page = client.get("/portal/")
    assert page.status_code == 200
    assert delivered_order.number in page.content.decode()


def test_code_is_texted_to_the_recipient_phone_through_the_simulated_gateway(
    client, delivered_order, django_capture_on_commit_callbacks
):
    delivered_order.recipient_phone = "139 0000 1111"
    delivered_order.save(update_fields=["recipient_phone"])

    ask(client, delivered_order.number, "+86 139-0000-1111", django_capture_on_commit_callbacks)

    sms = SimulatedSms.objects.get()
    assert sms.phone == "13900001111"
    assert mail.outbox == []
    code = code_from_mail(sms)
    assert client.post("/portal/login/code/", {"code": code}).status_code == 302
    assert client.get("/portal/").status_code == 200


def test_an_email_identity_of_the_customer_is_accepted(delivered_order, django_capture_on_commit_callbacks):
    CustomerIdentity.objects.create(customer=delivered_order.customer, channel=Channel.EMAIL, value="Wang@Work.example")
    with django_capture_on_commit_callbacks(execute=True):
        row = services.send_login_code(delivered_order.number, "wang@work.example")
    assert row.customer == delivered_order.customer
    assert mail.outbox[0].to == ["wang@work.example"]


def test_unknown_order_or_foreign_contact_gets_the_same_answer_and_no_code(
    client, delivered_order, django_capture_on_commit_callbacks
):
    unknown = ask(client, "SO-DOES-NOT-EXIST", delivered_order.customer.email, django_capture_on_commit_callbacks)
    stranger = ask(Client(), delivered_order.number, "someone@else.example", django_capture_on_commit_callbacks)

    assert unknown.status_code == stranger.status_code == 302
    assert unknown["Location"] == stranger["Location"] == "/portal/login/code/"
    assert mail.outbox == []
    assert SimulatedSms.objects.count() == 0
    assert LoginCode.objects.filter(customer=None).count() == 2
    # Guessing a code for the unmatched request is simply wrong, like any wrong code.
    response = client.post("/portal/login/code/", {"code": "123456"})
    assert response.status_code == 400
    assert PortalSession.objects.count() == 0


def test_wrong_code_is_refused_and_counted(client, delivered_order, django_capture_on_commit_callbacks):
    ask(client, delivered_order.number, delivered_order.customer.email, django_capture_on_commit_callbacks)
    right = code_from_mail(mail.outbox[0])
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    response = client.post("/portal/login/code/", {"code": wrong})

    assert response.status_code == 400
    assert LoginCode.objects.get().attempts == 1
    assert Event.objects.filter(verb="portal.login_failed", data__reason="portal.bad_code").count() == 1
    assert client.get("/portal/").status_code == 302  # still logged out
    assert client.post("/portal/login/code/", {"code": right}).status_code == 302


def test_code_expires_after_ten_minutes(delivered_order, time_machine, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.send_login_code(delivered_order.number, delivered_order.customer.email)
    code = code_from_mail(mail.outbox[0])

    time_machine.move_to(timezone.now() + timedelta(minutes=10), tick=False)

    with pytest.raises(BadCode) as refused:
        services.verify_login_code(delivered_order.number, delivered_order.customer.email, code)
    assert refused.value.code == "portal.code_expired"
    assert PortalSession.objects.count() == 0


def test_code_still_works_just_before_it_expires(delivered_order, time_machine, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.send_login_code(delivered_order.number, delivered_order.customer.email)
    time_machine.move_to(timezone.now() + timedelta(minutes=9, seconds=59), tick=False)

    session, token = services.verify_login_code(
        delivered_order.number, delivered_order.customer.email, code_from_mail(mail.outbox[0])
    )
    assert session.customer == delivered_order.customer
    assert token


def test_fifth_wrong_code_kills_the_code(delivered_order, django_capture_on_commit_callbacks):
    email = delivered_order.customer.email
    with django_capture_on_commit_callbacks(execute=True):
        services.send_login_code(delivered_order.number, email)
    right = code_from_mail(mail.outbox[0])
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    for _attempt in range(5):
        with pytest.raises(BadCode):
            services.verify_login_code(delivered_order.number, email, wrong)
    with pytest.raises(TooManyAttempts):
        services.verify_login_code(delivered_order.number, email, right)

    assert LoginCode.objects.get().attempts == 5
    assert PortalSession.objects.count() == 0


def test_a_used_code_cannot_be_used_again(delivered_order, django_capture_on_commit_callbacks):
    email = delivered_order.customer.email
    with django_capture_on_commit_callbacks(execute=True):
        services.send_login_code(delivered_order.number, email)
    code = code_from_mail(mail.outbox[0])
    services.verify_login_code(delivered_order.number, email, code)
    with pytest.raises(BadCode):
        services.verify_login_code(delivered_order.number, email, code)
    assert PortalSession.objects.count() == 1


def test_a_new_code_is_throttled_for_sixty_seconds(
    client, delivered_order, time_machine, django_capture_on_commit_callbacks
):
    email = delivered_order.customer.email
    with django_capture_on_commit_callbacks(execute=True):
        services.send_login_code(delivered_order.number, email)

    time_machine.move_to(timezone.now() + timedelta(seconds=59), tick=False)
    with pytest.raises(Throttled) as throttled:
        services.send_login_code(delivered_order.number, email)
    assert throttled.value.status == 429
    response = ask(client, delivered_order.number, email, django_capture_on_commit_callbacks)
    assert response.status_code == 429

    time_machine.move_to(timezone.now() + timedelta(seconds=1), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.send_login_code(delivered_order.number, email)
    assert len(mail.outbox) == 2
    # Only the newest code counts.
    with pytest.raises(BadCode):
        services.verify_login_code(delivered_order.number, email, code_from_mail(mail.outbox[0]))
    services.verify_login_code(delivered_order.number, email, code_from_mail(mail.outbox[1]))


def test_at_most_five_codes_an_hour(delivered_order, time_machine, django_capture_on_commit_callbacks):
    email = delivered_order.customer.email
    for _n in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            services.send_login_code(delivered_order.number, email)
        time_machine.move_to(timezone.now() + timedelta(minutes=2), tick=False)
    with pytest.raises(Throttled):
        services.send_login_code(delivered_order.number, email)
    time_machine.move_to(timezone.now() + timedelta(minutes=52), tick=False)
    services.send_login_code(delivered_order.number, email)


def test_pages_need_a_portal_session(client, delivered_order):
    response = client.get(f"/portal/orders/{delivered_order.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/portal/login/?next=/portal/orders/{delivered_order.pk}/"


def test_logout_ends_the_session(portal):
    assert portal.get("/portal/").status_code == 200
    portal.post("/portal/logout/")
    assert PortalSession.objects.get().ended_at is not None
    assert portal.get("/portal/").status_code == 302
    assert Event.objects.filter(verb="portal.logout").count() == 1


def test_a_portal_session_lasts_eight_hours(portal, time_machine):
    time_machine.move_to(timezone.now() + timedelta(hours=8), tick=False)
    assert portal.get("/portal/").status_code == 302


def test_login_page_renders_in_both_languages(client):
    assert "订单号" in client.get("/portal/login/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    english = client.get("/portal/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Order number" in english


def test_a_mail_server_that_is_down_gives_the_same_answer(
    client, delivered_order, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2  # nothing listens there

    response = ask(client, delivered_order.number, delivered_order.customer.email, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert response["Location"] == "/portal/login/code/"
    assert LoginCode.objects.get().customer == delivered_order.customer


def test_after_login_the_customer_lands_on_the_page_they_asked_for(
    client, delivered_order, django_capture_on_commit_callbacks
):
    target = f"/portal/orders/{delivered_order.pk}/"
    assert client.get(target)["Location"] == f"/portal/login/?next={target}"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/portal/login/",
            {"order_number": delivered_order.number, "contact": delivered_order.customer.email, "next": target},
        )
    response = client.post("/portal/login/code/", {"code": code_from_mail(mail.outbox[0])})
    assert response["Location"] == target


def test_next_outside_the_portal_is_ignored(client, delivered_order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/portal/login/",
            {
                "order_number": delivered_order.number,
                "contact": delivered_order.customer.email,
                "next": "https://evil.example/",
            },
        )
    response = client.post("/portal/login/code/", {"code": code_from_mail(mail.outbox[0])})
    assert response["Location"] == "/portal/"
