"""Webhook delivery against a real HTTP server on 127.0.0.1: signing, retries, dead letters, subscriptions."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from desk.accounts.models import Role
from desk.core.events import record_event
from desk.core.testing import make_staff, request_type
from desk.tickets import services as ticket_services
from desk.webhooks import services
from desk.webhooks.models import DeliveryStatus, WebhookDelivery
from desk.webhooks.signing import sign, verify_signature
from desk.webhooks.tasks import retry_due_webhooks
from desk.webhooks.tests.receiver import Receiver

SECRET = "s3cret-for-the-tests-only"


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def admin(db):
    return make_staff("admin", Role.ADMIN)


@pytest.fixture
def endpoint(admin, receiver):
    return services.create_endpoint(by=admin, name="shop", url=receiver.url(), secret=SECRET)


@pytest.fixture
def emit(django_capture_on_commit_callbacks):
    """Record an event and run what happens after its commit (the listener and the inline Huey job)."""

    def _emit(verb="ticket.created", **kw):
        with django_capture_on_commit_callbacks(execute=True):
            return record_event(verb, subject_type=kw.pop("subject_type", "ticket"), **kw)

    _emit.after_commit = lambda: django_capture_on_commit_callbacks(execute=True)
    return _emit


def _delivery(endpoint):
    return WebhookDelivery.objects.get(endpoint=endpoint)


def test_event_is_posted_signed_with_the_documented_body(endpoint, receiver, emit):
    event = emit("ticket.replied", subject_id=5, ticket_id=5, customer_id=9, before={"status": "new"},
                 after={"status": "open"}, data={"message": 3})  # fmt: skip
    [request] = receiver.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-desk-event"] == "ticket.replied"
    assert headers["x-desk-delivery"] == str(_delivery(endpoint).pk)
    timestamp = headers["x-desk-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    assert headers["x-desk-signature"] == sign(SECRET, timestamp, request.body)
    assert verify_signature(SECRET, request.body, timestamp=timestamp, signature=headers["x-desk-signature"])
    body = json.loads(request.body)
    assert body == {
        "id": event.pk, "verb": "ticket.replied", "created_at": event.created_at.isoformat(),
        "actor": {"id": None, "label": "system"}, "subject_type": "ticket", "subject_id": 5, "ticket_id": 5,
        "customer_id": 9, "before": {"status": "new"}, "after": {"status": "open"}, "data": {"message": 3},
    }  # fmt: skip
    delivery = _delivery(endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert delivery.delivered_at is not None
    assert delivery.response_excerpt == "answered 200"


def test_a_real_ticket_action_reaches_the_endpoint(endpoint, receiver, agent, customer, emit):
    with emit.after_commit():
        ticket = ticket_services.create_ticket(by=agent, customer=customer, subject="耳机坏了",
                                               request_type=request_type())  # fmt: skip
    bodies = [json.loads(r.body) for r in receiver.requests]
    created = next(b for b in bodies if b["verb"] == "ticket.created")
    assert created["ticket_id"] == ticket.pk
    assert created["after"]["subject"] == "耳机坏了"


def test_failure_is_retried_after_backoff_once_the_clock_moves(endpoint, receiver, emit):
    receiver.statuses.extend([500])
    with time_machine.travel(timezone.now(), tick=False) as clock:
        emit()
        delivery = _delivery(endpoint)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.FAILED, 1, 500)
        assert delivery.last_error == "HTTP 500"
        wait = delivery.next_attempt_at - timezone.now()
        assert timedelta(seconds=24) <= wait <= timedelta(seconds=36)  # 30 s ± 20% jitter
        retry_due_webhooks.call_local()
        assert len(receiver.requests) == 1  # not due yet: nothing sent
        clock.shift(timedelta(seconds=40))
        assert retry_due_webhooks.call_local() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 2, 200)
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["X-Desk-Delivery"] == second.headers["X-Desk-Delivery"]


def test_backoff_doubles_and_is_capped():
    assert timedelta(seconds=48) <= services.backoff(2) <= timedelta(seconds=72)
    assert timedelta(seconds=192) <= services.backoff(4) <= timedelta(seconds=288)
    assert services.backoff(30) <= timedelta(hours=6) * 1.2


def test_delivery_goes_dead_after_the_last_attempt(endpoint, receiver, emit, settings):
    settings.DESK_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.default_status = 503
    with time_machine.travel(timezone.now(), tick=False) as clock:
        emit()
        for _ in range(4):
            clock.shift(timedelta(hours=7))
            retry_due_webhooks.call_local()
    delivery = _delivery(endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DEAD, 3, 503)
    assert len(receiver.requests) == 3


def test_unreachable_receiver_is_a_failure_with_the_error(admin, emit):
    closed = Receiver()
    url = closed.url()
    closed.server.server_close()  # nothing listens on that port any more
    endpoint = services.create_endpoint(by=admin, name="down", url=url)
    emit()
    delivery = _delivery(endpoint)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_status_code is None
    assert "ConnectError" in delivery.last_error


def test_subscriptions_filter_by_event_type(admin, receiver, emit):
    services.create_endpoint(by=admin, name="created", url=receiver.url("/created"), event_types=["ticket.created"])
    services.create_endpoint(by=admin, name="customers", url=receiver.url("/customers"), event_types=["customer.*"])
    services.create_endpoint(by=admin, name="all", url=receiver.url("/all"))
    services.create_endpoint(by=admin, name="off", url=receiver.url("/off"), active=False)
    emit("ticket.created")
    emit("ticket.replied")
    emit("customer.created", subject_type="customer")
    got = sorted((r.path, json.loads(r.body)["verb"]) for r in receiver.requests)
    assert got == [
        ("/all", "customer.created"), ("/all", "ticket.created"), ("/all", "ticket.replied"),
        ("/created", "ticket.created"), ("/customers", "customer.created"),
    ]  # fmt: skip


def test_two_workers_never_send_the_same_delivery(endpoint, receiver, admin):
    event = record_event("ticket.created", subject_type="ticket")  # the row is written, its send job waits for a commit
    delivery_id = WebhookDelivery.objects.get(event=event).pk
    assert services.claim_delivery(delivery_id) is not None
    assert services.claim_delivery(delivery_id) is None
    assert services.deliver(delivery_id) is None
    assert receiver.requests == []


def test_a_claim_abandoned_by_a_dead_worker_is_taken_over(endpoint, receiver):
    event = record_event("ticket.created", subject_type="ticket")
    delivery_id = WebhookDelivery.objects.get(event=event).pk
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert services.claim_delivery(delivery_id)  # this worker "dies" before sending
        assert services.due_delivery_ids() == []
        clock.shift(timedelta(minutes=5))
        assert retry_due_webhooks.call_local() == 1
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert len(receiver.requests) == 1


def test_verify_signature_refuses_tampering_and_replays():
    body = b'{"id":1}'
    now = time.time()
    ts = str(int(now))
    good = sign(SECRET, ts, body)
    assert verify_signature(SECRET, body, timestamp=ts, signature=good, now=now)
    assert not verify_signature(SECRET, b'{"id":2}', timestamp=ts, signature=good, now=now)
    assert not verify_signature("another-secret-value", body, timestamp=ts, signature=good, now=now)
    assert not verify_signature(SECRET, body, timestamp=ts, signature=good, now=now + 3600)
    assert not verify_signature(SECRET, body, timestamp=ts, signature=good.removeprefix("sha256="), now=now)
    assert not verify_signature(SECRET, body, timestamp="soon", signature=good, now=now)


def test_a_worker_whose_claim_lapsed_cannot_overwrite_the_newer_attempt(endpoint):
    event = record_event("ticket.created", subject_type="ticket")
    delivery_id = WebhookDelivery.objects.get(event=event).pk
    with time_machine.travel(timezone.now(), tick=False) as clock:
        slow = services.claim_delivery(delivery_id)
        clock.shift(timedelta(minutes=5))
        fresh = services.claim_delivery(delivery_id)
        assert fresh is not None
        delivery = WebhookDelivery.objects.get(pk=delivery_id)
        services._record(delivery, slow, 500, "late answer", "")  # the slow worker finally returns
        delivery.refresh_from_db()
        assert (delivery.status, delivery.claimed_until, delivery.last_status_code) == (
            DeliveryStatus.SENDING, fresh, None
        )  # fmt: skip
        services._record(delivery, fresh, 200, "ok", "")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)


def test_a_host_name_is_resolved_per_attempt_and_the_request_goes_to_that_address(admin, receiver, emit):
    """The name resolves on each attempt; the request connects to the address and names the host."""
    url = receiver.url().replace("127.0.0.1", "localhost")
    endpoint = services.create_endpoint(by=admin, name="by name", url=url, secret=SECRET)
    emit("ticket.created", subject_id=1)
    assert _delivery(endpoint).status == DeliveryStatus.SUCCEEDED
    assert receiver.requests[0].headers["Host"] == url.split("/")[2]


def test_a_name_that_now_resolves_to_a_private_address_is_not_sent(admin, receiver, emit, settings):
    """Saved while private hosts were allowed (or the DNS record changed since): refused at send time."""
    url = receiver.url().replace("127.0.0.1", "localhost")
    endpoint = services.create_endpoint(by=admin, name="moved", url=url, secret=SECRET)
    settings.DESK_WEBHOOK_ALLOW_PRIVATE = False
    emit("ticket.created", subject_id=1)
    delivery = _delivery(endpoint)
    assert delivery.status == DeliveryStatus.FAILED
    assert "127.0.0.1" in delivery.last_error  # "... resolves to a private or local address (127.0.0.1)"
    assert receiver.requests == []


def test_pinned_target_keeps_path_query_port_and_names_the_host_for_tls():
    url, host, extensions = services.pinned_target("https://93.184.216.34:8443/hook?x=1", allow_private=False)
    assert (url, host, extensions) == (
        "https://93.184.216.34:8443/hook?x=1",
        "93.184.216.34:8443",
        {"sni_hostname": "93.184.216.34"},
    )
    url, host, extensions = services.pinned_target("http://[2606:4700::1111]/h", allow_private=False)
    assert (url, host, extensions) == ("http://[2606:4700::1111]/h", "[2606:4700::1111]", {})
