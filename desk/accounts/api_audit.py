"""The event log over the API (the audit trail): read-only, for roles holding audit.view.

This entry point checks permissions with desk.accounts, which the rest of `core` never imports:
an API module sits above the areas, like config/api.py that mounts it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from ninja import Field, Query, Router, Schema

from desk.accounts.permissions import authorize
from desk.core.api import ERRORS, MAX_ID, AuthedRequest, Id, PageParams, paginate
from desk.core.models import Event
from desk.customers.queries import event_documents_for

router = Router(tags=["events"])


class EventOut(Schema):
    id: int
    created_at: datetime
    actor_id: int | None
    actor: str
    verb: str
    subject_type: str
    subject_id: int | None
    ticket_id: int | None
    customer_id: int | None
    before: dict[str, Any]
    after: dict[str, Any]
    data: dict[str, Any]


class EventPage(Schema):
    items: list[EventOut]
    limit: int
    offset: int
    next_offset: int | None


class EventFilters(Schema):
    verb: str | None = Field(None, max_length=64, description="Exact verb, or a prefix ending in '.*'.")
    subject_type: str | None = Field(None, max_length=32)
    subject_id: Id | None = None
    ticket_id: Id | None = None
    customer_id: Id | None = None
    since_id: int | None = Field(None, ge=0, le=MAX_ID, description="Only events after this id, oldest first.")


def event_out(event: Event, user: Any) -> dict[str, Any]:
    """The event as this user may read it: contact details in the documents masked without view_pii."""
    before, after, data = event_documents_for(user, event.before, event.after, event.data)
    return {
        "id": event.pk, "created_at": event.created_at, "actor_id": event.actor_id, "actor": event.actor_label,
        "verb": event.verb, "subject_type": event.subject_type, "subject_id": event.subject_id,
        "ticket_id": event.ticket_id, "customer_id": event.customer_id, "before": before,
        "after": after, "data": data,
    }  # fmt: skip


def _filtered(f: EventFilters) -> QuerySet[Event]:
    qs = Event.objects.all()
    if f.verb:
        qs = qs.filter(verb__startswith=f.verb[:-1]) if f.verb.endswith(".*") else qs.filter(verb=f.verb)
    exact = {"subject_type": f.subject_type, "subject_id": f.subject_id, "ticket_id": f.ticket_id,
             "customer_id": f.customer_id}  # fmt: skip
    qs = qs.filter(**{k: v for k, v in exact.items() if v is not None})
    if f.since_id is not None:
        # A feed: "what happened after the last event I saw", in the order it happened.
        return qs.filter(id__gt=f.since_id).order_by("id")
    return qs.order_by("-id")


@router.get("/events", response={200: EventPage, **ERRORS})
def list_events(request: AuthedRequest, filters: Query[EventFilters], page: Query[PageParams]) -> Any:
    """Every business action with actor, time and before/after; newest first unless `since_id`."""
    authorize(request.auth, "audit.view")
    result = paginate(_filtered(filters), page)
    return result | {"items": [event_out(e, request.auth) for e in result["items"]]}
