"""Routing (rules as data) and assignment inside a team.

Ticket creation is the API's hottest write, so this module reads as little as it can per ticket:
the active rules with their teams come from the cache (dropped whenever a rule or team is saved or
deleted), the team's available people and their open-ticket counts come in one statement, counted
only up to the largest cap in the team (whoever is at the cap is skipped anyway), and the
round-robin pointer moves in one atomic UPDATE ... RETURNING.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection, connections, router

from desk.accounts.models import AssignmentStrategy, Availability, Role, StaffProfile, Team
from desk.core.held import Held
from desk.customers.models import Customer
from desk.tickets.models import OPEN_STATUSES, RoutingRule, Ticket

User = get_user_model()
DESK_ROLES = (Role.AGENT, Role.SENIOR_AGENT, Role.SUPERVISOR)

RULES_CACHE_SECONDS = 60


# --- Routing ---------------------------------------------------------------------------------------
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


_RULES = Held(
    "desk:tickets:routing_rules:v2",
    lambda: list(RoutingRule.objects.filter(active=True).select_related("team")),
    RULES_CACHE_SECONDS,
)


def active_rules() -> list[RoutingRule]:
    """The active rules by position with their teams, read on every new ticket and edited rarely: held
    per process under a shared stamp (desk.core.held), dropped when a rule or a team is saved or deleted
    (`forget_rules`, connected in TicketsConfig.ready); without a shared cache another process sees the
    change within RULES_CACHE_SECONDS. The rules and teams are shared: callers must not change them.
    """
    return _RULES()


def forget_rules(sender: Any, **kwargs: Any) -> None:
    """Signal receiver: a saved or deleted rule or team routes the next ticket."""
    _RULES.forget()


def route(ticket: Ticket) -> RoutingRule | None:
    """The first active rule, by position, whose every condition holds."""
    text = f"{ticket.subject}\n{ticket.description}".lower()
    for rule in active_rules():
        if _rule_matches(rule, ticket, text):
            return rule
    return None


# --- Assignment ------------------------------------------------------------------------------------
class Candidate(NamedTuple):
    """An available team member with the figures assignment needs; the User is built for the winner only
    (a tuple: a team's members are made on every new ticket, and a frozen dataclass cost ~3 µs each)."""

    id: int
    username: str
    first_name: str
    last_name: str
    cap: int
    open_count: int

    @property
    def pk(self) -> int:
        return self.id

    def user(self) -> Any:
        """The chosen member as a User (other columns deferred: read only if someone asks)."""
        names = ["id", "username", "first_name", "last_name", "is_active"]
        values = [self.id, self.username, self.first_name, self.last_name, True]  # only active members are candidates
        return User.from_db(router.db_for_read(User), names, values)


# The largest cap seen per team: the count's LIMIT. A guess that turns out low is corrected at once.
_cap_limits: dict[int, int] = {}
DEFAULT_CAP_LIMIT = 50


@functools.cache
def _candidates_sql() -> str:
    """Available members with their caps and open-ticket counts, as SQL built once per process.

    This runs on every new ticket; written out it costs a tenth of what the ORM spends building it.
    Each member's open tickets are counted on the (assignee, status) index up to a limit: only who
    is under their own cap and the smallest count among them matter, and a count below the limit is
    exact, so with the limit at least the team's largest cap the index walk stops after that many
    entries per member however many tickets the member holds.
    """
    qn = connection.ops.quote_name
    user_pk = f"u.{qn(str(User._meta.pk.column))}"  # type: ignore[union-attr]
    statuses = ", ".join(["%s"] * len(OPEN_STATUSES))
    open_count = (
        f"(SELECT COUNT(*) FROM (SELECT 1 FROM {qn(Ticket._meta.db_table)} t WHERE t.assignee_id = {user_pk}"  # noqa: S608
        f" AND t.status IN ({statuses}) LIMIT %s) capped)"
    )
    return (
        f"SELECT {user_pk}, u.username, u.first_name, u.last_name, s.max_open_tickets, {open_count}"  # noqa: S608  names are ours, values bound
        f" FROM {qn(User._meta.db_table)} u JOIN {qn(StaffProfile._meta.db_table)} s ON s.user_id = {user_pk}"
        f" WHERE u.is_active AND s.team_id = %s AND s.availability = %s ORDER BY {user_pk}"
    )


def _candidate_rows(team: Team, limit: int) -> list[Candidate]:
    params: list[str | int] = [*(str(s) for s in OPEN_STATUSES), limit, team.pk, str(Availability.AVAILABLE)]
    with connections[router.db_for_read(User)].cursor() as cursor:
        cursor.execute(_candidates_sql(), params)
        return [Candidate(*row) for row in cursor.fetchall()]


def _candidates(team: Team) -> list[Candidate]:
    """Available members with their open-ticket counts, in one statement (a second only when a
    member's cap is above the limit used: then the count runs again with that cap as the limit)."""
    limit = _cap_limits.get(team.pk, DEFAULT_CAP_LIMIT)
    people = _candidate_rows(team, limit)
    top = max((p.cap for p in people), default=0)
    if top > limit:
        _cap_limits[team.pk] = top
        people = _candidate_rows(team, top)
    return people


def pick_assignee(team: Team | None, ticket: Ticket):  # type: ignore[no-untyped-def]
    """VIP dedicated agent first, then the team's strategy among available members under their cap."""
    dedicated = _dedicated_agent(ticket)
    if dedicated is not None and dedicated.is_active and _is_available(dedicated):
        return dedicated
    if team is None or team.assignment_strategy == AssignmentStrategy.MANUAL:
        return None
    people = [p for p in _candidates(team) if p.open_count < p.cap]
    if not people:
        return None
    if team.assignment_strategy == AssignmentStrategy.ROUND_ROBIN:
        return _next_in_turn(team, people).user()
    if team.assignment_strategy == AssignmentStrategy.SKILLS:
        people = _with_skill(people, ticket) or people
    return min(people, key=lambda p: (p.open_count, p.id)).user()


def _dedicated_agent(ticket: Ticket) -> Any:
    """The customer's dedicated agent (专属客服) with the staff profile, in one read, or None."""
    customer = ticket.customer
    agent_id = customer.dedicated_agent_id
    if agent_id is None:
        return None
    if Customer._meta.get_field("dedicated_agent").is_cached(customer):  # type: ignore[union-attr]
        return customer.dedicated_agent  # read with the customer already
    return User.objects.select_related("staff").filter(pk=agent_id).first()


def _is_available(user) -> bool:  # type: ignore[no-untyped-def]
    staff = getattr(user, "staff", None)
    return staff is not None and staff.availability == Availability.AVAILABLE


def _next_in_turn(team: Team, people: list[Candidate]) -> Candidate:
    """The first member after the one who got the last ticket (wrapping round), moved atomically.

    One UPDATE ... RETURNING reads and moves the pointer, so two creates at once (two workers) take
    consecutive turns instead of both reading the same pointer.
    """
    ids = sorted(u.id for u in people)
    qn = connection.ops.quote_name
    table, pointer = qn(Team._meta.db_table), qn(Team._meta.get_field("last_assigned").column)  # type: ignore[arg-type]
    whens = " ".join([f"WHEN COALESCE({pointer}, 0) < %s THEN %s"] * len(ids))
    sql = f"UPDATE {table} SET {pointer} = CASE {whens} ELSE %s END WHERE id = %s RETURNING {pointer}"  # noqa: S608
    params = [v for pk in ids for v in (pk, pk)] + [ids[0], team.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    chosen_id = row[0] if row else ids[0]  # the team object is shared (active_rules): not changed here
    return next(u for u in people if u.id == chosen_id)


def _with_skill(people: list[Candidate], ticket: Ticket) -> list[Candidate]:
    skill_id = ticket.request_type.required_skill_id
    if skill_id is None:
        return people
    skilled = set(
        User.objects.filter(pk__in=[u.pk for u in people], staff__skills=skill_id).values_list("pk", flat=True)
    )
    return [u for u in people if u.pk in skilled]
