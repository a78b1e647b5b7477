"""A ticket's service-level targets over the API: the attainment a shop reports on, per ticket."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Router, Schema

from desk.core.api import ERRORS, MAX_ID, AuthedRequest
from desk.core.errors import NotFound
from desk.sla.models import Metric, TargetStatus
from desk.sla.queries import attained, ticket_targets
from desk.tickets.models import Ticket
from desk.tickets.schemas import TicketRef

router = Router(tags=["tickets"])


class SlaTargetOut(Schema):
    metric: Metric
    policy: str
    target_seconds: int
    status: TargetStatus
    attained: bool | None
    started_at: datetime
    due_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    completed_at: datetime | None
    used_seconds: int


@router.get("/tickets/{ref}/sla", response={200: list[SlaTargetOut], **ERRORS})
def list_ticket_sla(request: AuthedRequest, ref: TicketRef) -> Any:
    """The ticket's targets (first response, confirmation, human contact, solution, resolution):
    deadline, whether each was met, and the business seconds used; paused time is not counted."""
    pk = Ticket.pk_from_number(ref)
    if pk is None or not 0 < pk <= MAX_ID:
        raise NotFound(f"No ticket {ref[:20]}.", code="ticket.not_found")
    _ticket, targets = ticket_targets(request.auth, pk)
    return [
        {
            "metric": t.metric,
            "policy": t.policy.name,
            "target_seconds": t.target_seconds,
            "status": t.status,
            "attained": attained(t),
            "started_at": t.started_at,
            "due_at": t.due_at,
            "warned_at": t.warned_at,
            "breached_at": t.breached_at,
            "completed_at": t.completed_at,
            "used_seconds": t.used_seconds,
        }  # fmt: skip
        for t in targets
    ]
