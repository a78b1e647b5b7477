"""Bad input gets a 4xx with {"code", "message", "field"}, never a 500."""

from __future__ import annotations

import pytest

from desk.accounts.services import issue_token


@pytest.fixture
def auth(agent):
    _, key = issue_token(agent, "tests", by=agent)
    return {"Authorization": f"Bearer {key}"}


def _assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "field"}
    assert body["code"] == code
    assert body["message"]
    assert body["field"] == field


def test_malformed_json_is_400(client, auth, customer):
    response = client.post("/api/tickets", "{not json", content_type="application/json", headers=auth)
    _assert_error(response, 400, "malformed_json")


def test_body_that_is_not_utf8_is_400(client, auth, customer):
    response = client.post("/api/tickets", b"\xff\xfe{}", content_type="application/json", headers=auth)
    _assert_error(response, 400, "malformed_json")


def test_wrong_type_names_the_first_bad_field(client, auth, customer):
    response = client.post(
        "/api/tickets", {"subject": "耳机坏了", "customer_id": "abc"}, content_type="application/json", headers=auth
    )
    _assert_error(response, 400, "invalid", "customer_id")


def test_missing_required_field_is_named(client, auth, customer):
    response = client.post("/api/tickets", {"customer_id": customer.pk}, content_type="application/json", headers=auth)
    _assert_error(response, 400, "invalid", "subject")


def test_bad_query_parameter_is_named(client, auth):
    _assert_error(client.get("/api/tickets?status=bogus", headers=auth), 400, "invalid", "status")
    _assert_error(client.get("/api/tickets?limit=0", headers=auth), 400, "invalid", "limit")


def test_oversized_body_is_413(client, auth, settings, customer):
    settings.DESK_API_MAX_BODY_BYTES = 1000
    body = {"subject": "x", "customer_id": customer.pk, "description": "长" * 2000}
    response = client.post("/api/tickets", body, content_type="application/json", headers=auth)
    _assert_error(response, 413, "payload_too_large")


def test_nul_characters_are_refused(client, auth, customer):
    body = '{"subject": "a\\u0000b", "customer_id": ' + str(customer.pk) + "}"
    response = client.post("/api/tickets", body, content_type="application/json", headers=auth)
    _assert_error(response, 400, "invalid_text")
    _assert_error(client.get("/api/tickets?q=a%00b", headers=auth), 400, "invalid_text")


def test_unknown_ids_are_404_with_a_code(client, auth):
    _assert_error(client.get("/api/tickets/999999", headers=auth), 404, "ticket.not_found")
    _assert_error(client.get("/api/tickets/TK0000999", headers=auth), 404, "ticket.not_found")
    _assert_error(client.get("/api/tickets/nonsense", headers=auth), 404, "ticket.not_found")


def test_huge_ids_are_bad_input_not_an_overflow(client, auth):
    _assert_error(client.get("/api/tickets/9999999999999999999", headers=auth), 404, "ticket.not_found")
    _assert_error(client.get("/api/tickets/99999999999999999999999", headers=auth), 400, "invalid", "ref")
    _assert_error(client.get(f"/api/webhooks/{2**70}", headers=auth), 400, "invalid", "endpoint_id")
    _assert_error(client.get(f"/api/tickets?offset={2**70}", headers=auth), 400, "invalid", "offset")


def test_limit_is_capped_at_200(client, auth):
    assert client.get("/api/tickets?limit=5000", headers=auth).json()["limit"] == 200


def test_wrong_method_is_405(client, auth):
    response = client.put("/api/tickets", {}, content_type="application/json", headers=auth)
    assert response.status_code == 405


def test_forbidden_is_403_with_the_permission_code(client, auth):
    _assert_error(client.get("/api/events", headers=auth), 403, "permission.denied")
