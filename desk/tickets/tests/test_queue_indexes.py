"""The team queue's newest-first walks find their index in SQLite's plan, with no sort of the team's
tickets (the bench's team queue fell to 0.14x of the floor page when one was missing)."""

from __future__ import annotations

import pytest
from django.db import connection

from desk.core.testing import sqlite_plan
from desk.tickets.forms import QueueFilterForm
from desk.tickets.queries import tickets_visible_to
from desk.tickets.views import _queue_columns

pytestmark = pytest.mark.django_db
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plan")


def _plan(user, **filters: str) -> str:
    form = QueueFilterForm(filters)
    queryset = _queue_columns(form.apply(tickets_visible_to(user), user))[:51]
    return sqlite_plan(*queryset.query.sql_with_params())


@sqlite_only
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"tab": "team", "priority": "3"}, "ticket_team_priority_idx"),  # "our urgent tickets"
        ({"tab": "team"}, "tickets_ticket_team_id"),  # the single-column index keeps id order
    ],
)
def test_the_team_queue_walks_an_index_newest_first(agent, filters, index):
    plan = _plan(agent, **filters)
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan, plan
