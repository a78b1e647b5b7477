"""Multi-row inserts: ids in row order, defaults filled, datetimes and JSON stored as the ORM stores them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desk.accounts.models import Notification
from desk.core.bulk import insert_rows
from desk.core.events import record_events
from desk.core.models import Event
from desk.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_insert_rows_returns_ids_in_row_order_and_fills_defaults(agent):
    when = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    rows = [(agent.pk, "sla.warning", f"第 {n} 条 note", f"/tickets/{n}/", n) for n in range(2500)]  # > one statement
    ids = insert_rows(Notification, ["user_id", "verb", "text", "link", "event_id"], rows)
    assert len(ids) == 2500
    stored = Notification.objects.in_bulk(ids)
    assert [stored[pk].event_id for pk in ids] == list(range(2500))
    assert stored[ids[7]].text == "第 7 条 note"
    assert stored[ids[0]].created_at is not None  # auto_now_add
    assert stored[ids[0]].read_at is None
    assert insert_rows(Notification, ["user_id"], []) == []

    event = Event.objects.create(created_at=when, verb="x.y", subject_type="t")
    hook = WebhookEndpoint.objects.create(name="h", url="https://hooks.example.com/", secret="s" * 32)
    [pk] = insert_rows(WebhookDelivery, ["endpoint_id", "event_id", "next_attempt_at"], [(hook.pk, event.pk, when)])
    delivery = WebhookDelivery.objects.get(pk=pk)
    assert delivery.next_attempt_at == when
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 0, "")


def test_record_events_stores_json_and_gives_back_saved_events(agent):
    when = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    events = [
        Event(created_at=when, actor=agent, verb="sla.warning", subject_type="ticket", subject_id=n, ticket_id=n,
              after={"sla_state": "warning"}, data={"metric": "accept", "n": n, "words": ["退货", None]})
        for n in range(3)
    ]  # fmt: skip
    saved = record_events(events)
    assert [e.pk for e in saved] == sorted(e.pk for e in saved)
    assert all(not e._state.adding for e in saved)
    again = Event.objects.get(pk=saved[2].pk)
    assert again.data == {"metric": "accept", "n": 2, "words": ["退货", None]}
    assert again.before == {}
    assert again.after == {"sla_state": "warning"}
    assert again.created_at == when
    assert again.actor_id == agent.pk
    assert Event.objects.filter(data__metric="accept").count() == 3  # JSON lookups work on what was written
