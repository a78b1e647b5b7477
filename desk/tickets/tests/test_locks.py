"""A ticket change locks its ticket row only, not the rows read with it (PostgreSQL locks rows)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from desk.core.testing import request_type
from desk.tickets import services
from desk.tickets.models import RoutingRule

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks the whole database, not rows")
def test_a_ticket_change_leaves_the_shared_request_type_row_unlocked(support_team, agent, customer):
    import psycopg

    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    kind = request_type()  # seeded by a migration: committed, so another connection sees it
    ticket = services.create_ticket(by=agent, customer=customer, subject="耳机没有声音", request_type=kind)
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        with transaction.atomic():
            locked = services._lock(ticket)
            assert locked.request_type.pk == kind.pk
            other.execute("SET lock_timeout = '2s'")
            row = other.execute("SELECT id FROM tickets_requesttype WHERE id = %s FOR UPDATE NOWAIT", [kind.pk])
            assert row.fetchone() == (kind.pk,)  # other tickets of this type are not held up
    finally:
        other.close()
