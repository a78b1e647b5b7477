"""Routing (rules as data) and assignment inside a team."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count

from desk.accounts.models import AssignmentStrategy, Availability, Role, Team
from desk.tickets.models import OPEN_STATUSES, RoutingRule, Ticket

User = get_user_model()
DESK_ROLES = (Role.AGENT, Role.SENIOR_AGENT, Role.SUPERVISOR)


def _rule_matches(rule: RoutingRule, ticket: Ticket, text: str) -> bool:
    if rule.request_type_id and rule.request_type_id != ticket.request_type_id:
        return False
    if rule.channel and rule.channel != ticket.channel:
        return False
    if rule.customer_tier and rule.customer_tier != ticket.customer_tier:
        return False
    if rule.keywords:
        words = [w.strip().lower() for w in rule.keywords.replace("，", ",").split(",") if w.strip()]
        return any(w in text for w in words)
    return True


def route(ticket: Ticket) -> RoutingRule | None:
    """The first active rule, by position, whose every condition holds."""
    text = f"{ticket.subject}\n{ticket.description}".lower()
    for rule in RoutingRule.objects.filter(active=True).select_related("team"):
        if _rule_matches(rule, ticket, text):
            return rule
    return None


def _candidates(team: Team) -> list[Any]:
    """Available members with their open-ticket counts (one GROUP BY on the status/assignee index)."""
    people = list(
        User.objects.filter(is_active=True, staff__team=team, staff__availability=Availability.AVAILABLE)
        .select_related("staff")
        .order_by("id")
    )
    counts = dict(
        Ticket.objects.filter(status__in=OPEN_STATUSES, assignee__in=[u.pk for u in people])
        .order_by()
        .values_list("assignee_id")
        .annotate(n=Count("id"))
    )
    for user in people:
        user.open_count = counts.get(user.pk, 0)  # type: ignore[attr-defined]
    return people


def pick_assignee(team: Team | None, ticket: Ticket):  # type: ignore[no-untyped-def]
    """VIP dedicated agent first, then the team's strategy among available members under their cap."""
    dedicated = ticket.customer.dedicated_agent
    if dedicated is not None and dedicated.is_active and _is_available(dedicated):
        return dedicated
    if team is None or team.assignment_strategy == AssignmentStrategy.MANUAL:
        return None
    people = [u for u in _candidates(team) if u.open_count < u.staff.max_open_tickets]
    if not people:
        return None
    if team.assignment_strategy == AssignmentStrategy.ROUND_ROBIN:
        return _next_in_turn(team, people)
    if team.assignment_strategy == AssignmentStrategy.SKILLS:
        people = _with_skill(people, ticket) or people
    return min(people, key=lambda u: (u.open_count, u.id))


def _is_available(user) -> bool:  # type: ignore[no-untyped-def]
    staff = getattr(user, "staff", None)
    return staff is not None and staff.availability == Availability.AVAILABLE


def _next_in_turn(team: Team, people: list):  # type: ignore[no-untyped-def]
    last_id = team.last_assigned_id or 0
    after = [u for u in people if u.id > last_id]
    chosen = after[0] if after else people[0]
    Team.objects.filter(pk=team.pk).update(last_assigned=chosen)
    return chosen


def _with_skill(people: list, ticket: Ticket) -> list:
    skill_id = ticket.request_type.required_skill_id
    if skill_id is None:
        return people
    skilled = set(
        User.objects.filter(pk__in=[u.pk for u in people], staff__skills=skill_id).values_list("pk", flat=True)
    )
    return [u for u in people if u.pk in skilled]
