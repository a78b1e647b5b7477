"""The event log over the API: audit.view only, filters, and a since_id feed."""

from __future__ import annotations

import pytest

from desk.accounts.services import issue_token
from desk.core.events import record_event
from desk.core.models import Event


@pytest.fixture
def auth(supervisor):
    _, key = issue_token(supervisor, "audit", by=supervisor)
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def events(db):
    return [
        record_event("ticket.created", subject_type="ticket", subject_id=1, ticket_id=1, customer_id=7),
        record_event("ticket.replied", subject_type="ticket", subject_id=1, ticket_id=1, customer_id=7,
                     before={"status": "new"}, after={"status": "open"}),
        record_event("customer.created", subject_type="customer", subject_id=7, customer_id=7),
        record_event("ticket.created", subject_type="ticket", subject_id=2, ticket_id=2, customer_id=8),
    ]  # fmt: skip


def _ids(response):
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["items"]]


def test_supervisor_reads_events_newest_first(client, auth, events):
    body = client.get("/api/events", headers=auth).json()
    mine = [e for e in body["items"] if e["id"] in {ev.pk for ev in events}]
    assert [e["id"] for e in mine] == sorted((ev.pk for ev in events), reverse=True)
    replied = next(e for e in mine if e["verb"] == "ticket.replied")
    assert replied["before"] == {"status": "new"}
    assert replied["after"] == {"status": "open"}
    assert replied["actor"] == "system"


def test_filters_narrow_the_events(client, auth, events):
    assert _ids(client.get("/api/events?verb=ticket.created", headers=auth)) == [events[3].pk, events[0].pk]
    assert _ids(client.get("/api/events?verb=customer.*", headers=auth)) == [events[2].pk]
    assert _ids(client.get("/api/events?ticket_id=1", headers=auth)) == [events[1].pk, events[0].pk]
    assert _ids(client.get("/api/events?customer_id=8", headers=auth)) == [events[3].pk]
    assert _ids(client.get("/api/events?subject_type=customer&subject_id=7", headers=auth)) == [events[2].pk]


def test_since_id_is_a_feed_in_order(client, auth, events):
    ids = _ids(client.get(f"/api/events?since_id={events[1].pk}&limit=1", headers=auth))
    assert ids == [events[2].pk]
    page = client.get(f"/api/events?since_id={events[1].pk}&limit=1", headers=auth).json()
    assert page["next_offset"] == 1


def test_agent_without_audit_view_is_403_and_the_denial_is_recorded(client, agent, events):
    _, key = issue_token(agent, "t", by=agent)
    response = client.get("/api/events", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert response.json()["code"] == "permission.denied"
    denial = Event.objects.filter(verb="permission.denied", actor=agent).get()
    assert denial.data["action"] == "audit.view"
