"""API authentication: bearer tokens (hashed, revocable, use recorded) and browser sessions with CSRF."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from desk.accounts.models import ApiToken
from desk.accounts.services import issue_token, revoke_token


def _get(client, key=None, path="/api/request-types"):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(path, headers=headers)


def test_missing_token_is_401_with_the_error_body(client, db):
    response = _get(client)
    assert response.status_code == 401
    assert response.json() == {
        "code": "auth.required",
        "message": response.json()["message"],
        "field": None,
    }
    assert response["WWW-Authenticate"] == "Bearer"


def test_unknown_token_is_401(client, agent):
    assert _get(client, "dsk_not-a-real-key").status_code == 401
    assert _get(client, "something-else").status_code == 401


def test_issued_token_works_and_only_its_hash_is_stored(client, agent):
    token, key = issue_token(agent, "shop sync", by=agent)
    assert key.startswith("dsk_")
    assert token.key_hash == ApiToken.hash_key(key)
    assert key not in {token.key_hash, token.prefix}
    response = _get(client, key)
    assert response.status_code == 200
    assert {t["code"] for t in response.json()} >= {"product_quality", "refund"}


def test_revoked_token_is_refused(client, agent):
    token, key = issue_token(agent, "old", by=agent)
    revoke_token(token, by=agent)
    assert _get(client, key).status_code == 401


def test_token_of_deactivated_user_is_refused(client, agent):
    _, key = issue_token(agent, "t", by=agent)
    agent.is_active = False
    agent.save()
    assert _get(client, key).status_code == 401


def test_last_used_is_written_at_most_once_a_minute(client, agent):
    token, key = issue_token(agent, "t", by=agent)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _get(client, key)
        token.refresh_from_db()
        first = token.last_used_at
        assert first is not None
        clock.shift(timedelta(seconds=30))
        _get(client, key)
        token.refresh_from_db()
        assert token.last_used_at == first
        clock.shift(timedelta(seconds=61))
        _get(client, key)
        token.refresh_from_db()
        assert token.last_used_at > first


def test_issuing_for_someone_else_needs_config_manage(agent, senior_agent, manager):
    from desk.core.errors import Forbidden

    with pytest.raises(Forbidden):
        issue_token(senior_agent, "not mine", by=agent)
    token, _ = issue_token(agent, "for agent", by=manager)
    assert token.user == agent


def test_management_command_prints_a_working_key(client, agent):
    out = StringIO()
    call_command("issue_token", "agent", "cli", stdout=out, stderr=StringIO())
    key = out.getvalue().strip()
    assert _get(client, key).status_code == 200
    assert ApiToken.objects.get(user=agent).name == "cli"


def test_tokens_api_shows_the_key_once_and_revokes(client, agent):
    _, key = issue_token(agent, "bootstrap", by=agent)
    auth = {"Authorization": f"Bearer {key}"}
    created = client.post("/api/tokens", {"name": "second"}, content_type="application/json", headers=auth)
    assert created.status_code == 201
    new_key = created.json()["key"]
    listed = client.get("/api/tokens", headers=auth).json()
    assert {t["name"] for t in listed} == {"bootstrap", "second"}
    assert all("key" not in t for t in listed)
    revoked = client.delete(f"/api/tokens/{created.json()['id']}", headers=auth)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert _get(client, new_key).status_code == 401


def test_someone_elses_token_cannot_be_revoked(client, agent, senior_agent):
    theirs, their_key = issue_token(senior_agent, "theirs", by=senior_agent)
    _, key = issue_token(agent, "mine", by=agent)
    response = client.delete(f"/api/tokens/{theirs.pk}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404
    assert response.json()["code"] == "token.not_found"
    assert _get(client, their_key).status_code == 200


def test_browser_session_reads_without_a_token(client, agent):
    client.force_login(agent)
    assert _get(client).status_code == 200


def test_browser_session_writes_need_the_csrf_token(agent):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent)
    body = json.dumps({"name": "from the page"})
    refused = browser.post("/api/tokens", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    browser.get("/accounts/login/")  # any page sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post("/api/tokens", body, content_type="application/json", headers={"X-CSRFToken": csrf})
    assert accepted.status_code == 201


def test_openapi_document_and_docs_are_served(client, db):
    schema = client.get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/tickets" in paths
    assert "/api/webhooks/{endpoint_id}/deliveries" in paths
    assert client.get("/api/docs").status_code == 200
