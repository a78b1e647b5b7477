"""Writing the event log, and telling listeners (webhooks, notifications) after commit."""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from django.db import models, router, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from desk.core.bulk import insert_rows
from desk.core.models import Event

log = logging.getLogger(__name__)

JsonObject = Mapping[str, Any]


class EventFacts(Protocol):
    """What an in-transaction writer reads of a saved event: an `Event`, or a `WrittenEvent` when a
    sweep wrote thousands from rows (building model instances for them would cost more than writing them)."""

    @property
    def pk(self) -> Any: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def actor_id(self) -> int | None: ...
    @property
    def actor_label(self) -> str: ...
    @property
    def verb(self) -> str: ...
    @property
    def subject_type(self) -> str: ...
    @property
    def subject_id(self) -> int | None: ...
    @property
    def customer_id(self) -> int | None: ...
    @property
    def ticket_id(self) -> int | None: ...
    @property
    def before(self) -> Any: ...
    @property
    def after(self) -> Any: ...
    @property
    def data(self) -> Any: ...


EventListener = Callable[[Event], None]
EventWriter = Callable[[Sequence[EventFacts]], object]  # what it returns is ignored
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


# The columns of an event row for `record_event_rows`, in this order.
EVENT_FIELDS = (
    "created_at",
    "actor_id",
    "actor_label",
    "verb",
    "subject_type",
    "subject_id",
    "customer_id",
    "ticket_id",
    "before",
    "after",
    "data",
)
EventRow = tuple[
    datetime, int | None, str, str, str, int | None, int | None, int | None, JsonObject, JsonObject, JsonObject
]
_row_of = operator.attrgetter(*EVENT_FIELDS)


class WrittenEvent(NamedTuple):
    """A saved event as `record_event_rows` hands it on: its id and its row in one tuple (a model
    instance is four objects to allocate and fill; 120,000 of them were a tenth of a mass sweep)."""

    id: int
    created_at: datetime
    actor_id: int | None
    actor_label: str
    verb: str
    subject_type: str
    subject_id: int | None
    customer_id: int | None
    ticket_id: int | None
    before: JsonObject
    after: JsonObject
    data: JsonObject

    @property
    def pk(self) -> int:
        return self.id


def record_event_rows(rows: Sequence[EventRow]) -> list[WrittenEvent]:
    """Write many events given as plain tuples (`EVENT_FIELDS` order, plain JSON in before/after/data)
    in a few multi-row INSERTs: the mass path, for a sweep that escalates 100,000 cases at once.

    No model instance is built: the in-transaction writers (webhook outbox, customer notices,
    evidence chain) get `WrittenEvent` tuples, and so does the caller; `on_event` listeners still
    get `Event` instances after commit. A before/after/data object shared by many rows is
    serialised once, so a batch should share one dict where its events carry the same data.
    """
    if not rows:
        return []
    ids = insert_rows(Event, EVENT_FIELDS, rows)
    written = [WrittenEvent(pk, *row) for pk, row in zip(ids, rows, strict=True)]
    for writer in _writers:
        writer(written)
    if _listeners:
        db = router.db_for_write(Event)
        transaction.on_commit(lambda: _notify_all([_saved(event, db) for event in written]))
    return written


def record_events(events: list[Event]) -> list[Event]:
    """Write many prepared, unsaved events in a few multi-row INSERTs (a sweep's warnings and breaches);
    the in-transaction writers (webhook outbox) get them all at once, listeners run after commit.

    Callers build `Event(...)` with plain JSON in before/after/data; use `record_event` for one, and
    `record_event_rows` where building the instances would cost more than writing them.
    """
    if not events:
        return []
    now = timezone.now()
    for event in events:
        event.created_at = event.created_at or now
    ids = insert_rows(Event, EVENT_FIELDS, [_row_of(e) for e in events])
    db = router.db_for_write(Event)
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding, event._state.db = False, db
    for writer in _writers:
        writer(events)
    if _listeners:
        transaction.on_commit(lambda: _notify_all(events))
    return events


def _saved(event: WrittenEvent, db: str) -> Event:
    """The model instance of a written event, for listeners (as unpickling builds one: no __init__)."""
    saved = Event.__new__(Event)
    state = ModelState()
    state.adding, state.db = False, db
    saved.__dict__ = {**event._asdict(), "_state": state}
    return saved


def _notify_all(events: list[Event]) -> None:
    for event in events:
        _notify(event)
