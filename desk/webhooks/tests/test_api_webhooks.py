"""Managing webhooks over the API, and reading the delivery log."""

from __future__ import annotations

import pytest

from desk.accounts.models import Role
from desk.accounts.services import issue_token
from desk.core.events import record_event
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from desk.webhooks.tests.receiver import Receiver


def _auth(user):
    _, key = issue_token(user, "tests", by=user)
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin_auth(db):
    return _auth(make_staff("admin", Role.ADMIN))


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def _post(client, auth, body):
    return client.post("/api/webhooks", body, content_type="application/json", headers=auth)


def test_admin_creates_lists_updates_and_deletes(client, admin_auth):
    created = _post(client, admin_auth, {"name": "ERP", "url": "https://erp.example.com/hook",
                                         "event_types": ["ticket.*", "customer.created"]})  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert len(body["secret"]) >= 32
    assert body["event_types"] == ["customer.created", "ticket.*"]
    listed = client.get("/api/webhooks", headers=admin_auth).json()["items"]
    assert [e["name"] for e in listed] == ["ERP"]
    assert "secret" not in listed[0]
    patched = client.patch(f"/api/webhooks/{body['id']}", {"active": False, "event_types": []},
                           content_type="application/json", headers=admin_auth)  # fmt: skip
    assert patched.status_code == 200, patched.content
    assert (patched.json()["active"], patched.json()["event_types"]) == (False, [])
    assert client.delete(f"/api/webhooks/{body['id']}", headers=admin_auth).status_code == 204
    assert not WebhookEndpoint.objects.exists()
    verbs = list(Event.objects.filter(subject_type="webhookendpoint").values_list("verb", flat=True))
    assert sorted(verbs) == ["webhook.endpoint_created", "webhook.endpoint_deleted", "webhook.endpoint_updated"]


def test_bad_url_and_event_types_are_400_with_field(client, admin_auth):
    bad_url = _post(client, admin_auth, {"name": "x", "url": "ftp://example.com"})
    assert (bad_url.status_code, bad_url.json()["code"], bad_url.json()["field"]) == (
        400,
        "webhook.bad_endpoint",
        "url",
    )
    bad_port = _post(client, admin_auth, {"name": "x", "url": "http://example.com:99999/"})
    assert bad_port.json()["field"] == "url"
    bad_types = _post(client, admin_auth, {"name": "x", "url": "https://a.example", "event_types": ["Ticket Created"]})
    assert (bad_types.status_code, bad_types.json()["field"]) == (400, "event_types")
    short_secret = _post(client, admin_auth, {"name": "x", "url": "https://a.example", "secret": "short"})
    assert (short_secret.status_code, short_secret.json()["field"]) == (400, "secret")


def test_private_addresses_are_refused_when_settings_say_so(client, admin_auth, settings):
    settings.DESK_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:8000/", "http://localhost/x", "http://10.0.0.5/", "http://[::1]/"):
        response = _post(client, admin_auth, {"name": "x", "url": url})
        assert response.status_code == 400, url
    assert _post(client, admin_auth, {"name": "x", "url": "https://hooks.example.com/"}).status_code == 201


def test_agent_may_not_see_or_manage_webhooks(client, agent):
    auth = _auth(agent)
    assert client.get("/api/webhooks", headers=auth).status_code == 403
    refused = _post(client, auth, {"name": "x", "url": "https://a.example"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission.denied"


def test_unknown_endpoint_is_404(client, admin_auth):
    response = client.get("/api/webhooks/4242/deliveries", headers=admin_auth)
    assert response.status_code == 404
    assert response.json()["code"] == "webhook.not_found"


def test_delivery_log_and_redelivery(client, admin_auth, receiver, django_capture_on_commit_callbacks, settings):
    settings.DESK_WEBHOOK_MAX_ATTEMPTS = 1
    endpoint_id = _post(client, admin_auth, {"name": "r", "url": receiver.url()}).json()["id"]
    receiver.statuses.append(500)
    with django_capture_on_commit_callbacks(execute=True):
        record_event("ticket.created", subject_type="ticket", subject_id=1)
    log = client.get(f"/api/webhooks/{endpoint_id}/deliveries", headers=admin_auth).json()
    [dead] = log["items"]
    assert (dead["verb"], dead["status"], dead["attempts"], dead["last_status_code"]) == (
        "ticket.created",
        "dead",
        1,
        500,
    )
    assert dead["response_excerpt"] == "answered 500"
    assert (
        client.get(f"/api/webhooks/{endpoint_id}/deliveries?status=succeeded", headers=admin_auth).json()["items"] == []
    )
    again = client.post(f"/api/webhooks/{endpoint_id}/deliveries/{dead['id']}/redeliver", headers=admin_auth)
    assert again.status_code == 200, again.content
    assert (again.json()["status"], again.json()["attempts"]) == ("succeeded", 1)
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
    assert len(receiver.requests) == 2


def test_endpoint_list_pages(client, admin_auth):
    for n in range(3):
        assert _post(client, admin_auth, {"name": f"hook {n}", "url": f"https://h{n}.example.com/"}).status_code == 201
    first = client.get("/api/webhooks", {"limit": 2}, headers=admin_auth).json()
    assert ([e["name"] for e in first["items"]], first["next_offset"]) == (["hook 0", "hook 1"], 2)
    second = client.get("/api/webhooks", {"limit": 2, "offset": first["next_offset"]}, headers=admin_auth).json()
    assert ([e["name"] for e in second["items"]], second["next_offset"]) == (["hook 2"], None)
