"""The ticket page's service-level panel, loaded when an agent opens it (not on every page view)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from desk.sla.models import Metric, TargetStatus
from desk.sla.queries import attained, ticket_targets
from desk.tickets.views import _render, staff_page


@require_GET
@staff_page
def ticket_targets_panel(request: HttpRequest, pk: int) -> HttpResponse:
    ticket, targets = ticket_targets(request.user, pk)
    rows = [
        (Metric(t.metric).label, t.policy.name, t.target_seconds, TargetStatus(t.status).label, attained(t), t)
        for t in targets
    ]
    return _render(request, "sla/targets.html", {"ticket": ticket, "rows": rows})
