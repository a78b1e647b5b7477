"""Writing the event log, and telling listeners (webhooks, notifications) after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from django.db import models, router, transaction
from django.utils import timezone

from desk.core.bulk import insert_rows
from desk.core.models import Event

log = logging.getLogger(__name__)

EventListener = Callable[[Event], None]
EventWriter = Callable[[list[Event]], object]  # what it returns is ignored
_listeners: list[EventListener] = []
_writers: list[EventWriter] = []


def on_event_written(writer: EventWriter) -> EventWriter:
    """Register a function called inside the event's transaction (an outbox: webhook rows).

    What it writes commits or rolls back with the event, so nothing is lost between the two.
    """
    if writer not in _writers:
        _writers.append(writer)
    return writer


def on_event(listener: EventListener) -> EventListener:
    """Register a function called after the event's transaction commits (decorator)."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def record_event(
    verb: str,
    *,
    actor: Any = None,
    subject: models.Model | None = None,
    subject_type: str = "",
    subject_id: int | None = None,
    customer_id: int | None = None,
    ticket_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    actor_label: str = "",
) -> Event:
    """Write one event in the caller's transaction; listeners run only if it commits."""
    if subject is not None:
        subject_type = subject_type or subject._meta.model_name or ""
        subject_id = subject.pk
    user = actor if getattr(actor, "is_authenticated", False) else None
    if not actor_label:
        actor_label = user.get_username() if user is not None else "system"
    event = Event.objects.create(
        created_at=timezone.now(),
        actor=user,
        actor_label=actor_label,
        verb=verb,
        subject_type=subject_type,
        subject_id=subject_id,
        customer_id=customer_id,
        ticket_id=ticket_id,
        before=_jsonable(before or {}),
        after=_jsonable(after or {}),
        data=_jsonable(data or {}),
    )
    for writer in _writers:
        writer([event])
    if _listeners:
        transaction.on_commit(lambda: _notify(event))
    return event


def _notify(event: Event) -> None:
    for listener in _listeners:
        try:
            listener(event)
        except Exception:  # a listener failing must not undo the committed action
            log.exception("event listener %s failed for event %s", listener, event.pk)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep only the fields that changed, so the history shows what really moved."""
    changed = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}


def record_events(events: list[Event]) -> list[Event]:
    """Write many prepared, unsaved events in a few multi-row INSERTs (a sweep's warnings and breaches);
    the in-transaction writers (webhook outbox) get them all at once, listeners run after commit.

    Callers build `Event(...)` with plain JSON in before/after/data; use `record_event` for one.
    """
    if not events:
        return []
    now = timezone.now()
    for event in events:
        event.created_at = event.created_at or now
    fields = [f.attname for f in Event._meta.concrete_fields if not f.primary_key]
    ids = insert_rows(Event, fields, ([getattr(e, name) for name in fields] for e in events))
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding, event._state.db = False, router.db_for_write(Event)
    saved = events
    for writer in _writers:
        writer(saved)
    if _listeners:

        def notify_all() -> None:
            for event in saved:
                _notify(event)

        transaction.on_commit(notify_all)
    return saved
