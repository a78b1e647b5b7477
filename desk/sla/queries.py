"""Reading a ticket's service-level targets for people: what was promised, and whether it was kept."""

from __future__ import annotations

from typing import Any

from desk.sla.models import Metric, SlaTarget, TargetStatus
from desk.tickets.queries import get_ticket_for

_ORDER = {metric: position for position, metric in enumerate(Metric.values)}


def ticket_targets(user: Any, ticket_ref: int | str) -> tuple[Any, list[SlaTarget]]:
    """The ticket (NotFound for those who may not see it) and its targets in the order they come due
    in a ticket's life: first response, confirmation, human contact, solution, resolution."""
    ticket = get_ticket_for(user, ticket_ref)
    targets = list(SlaTarget.objects.filter(ticket_id=ticket.pk).select_related("policy"))
    targets.sort(key=lambda t: _ORDER.get(t.metric, len(_ORDER)))
    return ticket, targets


def attained(target: SlaTarget) -> bool | None:
    """Kept (True), missed (False), or not decided yet (None: running, paused or cancelled)."""
    if target.status == TargetStatus.MET:
        return True
    if target.status == TargetStatus.MISSED or target.breached_at is not None:
        return False
    return None
