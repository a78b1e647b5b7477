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


def test_small_and_large_batches_store_the_same_rows(agent):
    """Up to SMALL_BATCH rows are converted value by value, more column by column: the rows must not differ."""
    from desk.core.bulk import SMALL_BATCH
    from desk.core.events import EVENT_FIELDS

    when = datetime(2026, 11, 23, 2, 0, 30, 123456, tzinfo=UTC)
    shared = {"metric": "accept", "words": ["退货", None]}

    def rows(n):
        return [(when, agent.pk if i % 2 else None, "agent", "sla.warning", "ticket", i, None, i, {}, shared,
                 {"n": i}) for i in range(n)]  # fmt: skip

    small = insert_rows(Event, EVENT_FIELDS, rows(3))
    large = insert_rows(Event, EVENT_FIELDS, rows(SMALL_BATCH + 1))
    fields = [f.attname for f in Event._meta.concrete_fields if not f.primary_key]
    stored = Event.objects.in_bulk(small + large)
    as_stored = [{f: getattr(stored[pk], f) for f in fields} for pk in small + large]
    assert as_stored[:3] == as_stored[3:6]
    assert as_stored[1] == dict(zip(EVENT_FIELDS, rows(3)[1], strict=True))
    with pytest.raises(ValueError, match="values"):
        insert_rows(Event, EVENT_FIELDS, [rows(1)[0][:-1]])


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


def test_record_event_rows_store_what_record_events_stores_and_writers_see_it(agent, monkeypatch):
    from desk.core import events as log

    when = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    seen: list[list[log.EventFacts]] = []
    monkeypatch.setattr(log, "_writers", [*log._writers, lambda written: seen.append(list(written))])
    shared = {"escalated": True, "auto_action_refused": None}  # one object for many rows: serialised once
    rows = [
        (when, agent.pk, "agent", "case.answer_overdue", "aftersalescase", n, 100 + n, None, {}, {"n": n}, shared)
        for n in range(3)
    ]
    written = log.record_event_rows(rows)
    assert [e.pk for e in written] == sorted(e.pk for e in written)
    assert seen[-1] == written  # the in-transaction writers get the written events, ids included
    assert [e.subject_id for e in written] == [0, 1, 2]
    [model] = record_events(
        [Event(created_at=when, actor=agent, actor_label="agent", verb="case.answer_overdue",
               subject_type="aftersalescase", subject_id=2, customer_id=102, after={"n": 2}, data=dict(shared))]
    )  # fmt: skip
    fields = [f.attname for f in Event._meta.concrete_fields if not f.primary_key]
    stored = Event.objects.in_bulk([written[2].pk, model.pk])
    assert {f: getattr(stored[written[2].pk], f) for f in fields} == {f: getattr(stored[model.pk], f) for f in fields}
    assert Event.objects.filter(data__escalated=True).count() == 4


def test_listeners_get_model_instances_of_written_rows_after_commit(
    agent, monkeypatch, django_capture_on_commit_callbacks
):
    from desk.core import events as log

    heard: list[Event] = []
    monkeypatch.setattr(log, "_listeners", [heard.append])
    row = (datetime(2026, 11, 23, 2, 0, tzinfo=UTC), None, "system", "case.notice", "aftersalescase", 5, 6, None,
           {}, {}, {"kind": "auto_closed"})  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        [written] = log.record_event_rows([row])
        assert heard == []
    [event] = heard
    assert isinstance(event, Event)
    assert (event.pk, event.verb, event.data, event.actor) == (written.pk, "case.notice", {"kind": "auto_closed"}, None)
    assert not event._state.adding
