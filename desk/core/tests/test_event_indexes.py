"""The event log's reads each find their index (SQLite's plan), the partial ones included, and the
rows a mass sweep writes (system events without ticket or actor) stay out of the partial ones."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from desk.core.events import record_event, record_event_rows
from desk.core.models import Event
from desk.core.testing import sqlite_plan

pytestmark = pytest.mark.django_db
# These read SQLite's own query plan and index syntax; CI's SQLite run has them. The PostgreSQL run
# checks the same indexes by introspection (`test_the_event_table_has_one_index_per_read`).
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plan")


def _plan(queryset: QuerySet[Any]) -> str:
    return sqlite_plan(*queryset.query.sql_with_params())


@pytest.mark.parametrize(
    ("read", "index"),
    [
        (lambda: Event.objects.filter(ticket_id=7).order_by("-id")[:50], "event_ticket_idx"),  # ticket history
        (lambda: Event.objects.filter(ticket_id=7).order_by("id"), "event_ticket_idx"),  # ticket API
        (lambda: Event.objects.filter(customer_id=7).order_by("-id")[:100], "event_customer_idx"),  # timeline
        (lambda: Event.objects.filter(subject_type="aftersalescase", subject_id=7), "event_subject_idx"),
        (lambda: Event.objects.filter(verb="sla.breached").order_by("-id")[:10], "event_verb_idx"),  # overview
        (lambda: Event.objects.filter(actor_id__in=[3, 4]).order_by(), "event_actor_idx"),  # SET_NULL of users
    ],
)
@sqlite_only
def test_each_read_uses_its_index(read, index):
    plan = _plan(read())
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # ordered by the index, no sort


@sqlite_only
def test_partial_indexes_leave_out_events_without_ticket_or_actor(agent):
    now = timezone.now()
    system = (now, None, "system", "case.answer_overdue", "aftersalescase", 1, 2, None, {}, {}, {})
    record_event_rows([system, system])
    record_event("ticket.replied", actor=agent, ticket_id=9, customer_id=2)

    def entries(index: str, where: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM core_event INDEXED BY {index} WHERE {where}")  # noqa: S608  ours
            return int(cursor.fetchone()[0])

    assert Event.objects.count() == 3
    assert entries("event_ticket_idx", "ticket_id IS NOT NULL") == 1
    assert entries("event_actor_idx", "actor_id IS NOT NULL") == 1
    get_user_model().objects.filter(pk=agent.pk).delete()  # SET_NULL through the partial index
    assert Event.objects.get(verb="ticket.replied").actor_id is None
    assert entries("event_actor_idx", "actor_id IS NOT NULL") == 0


def test_the_event_table_has_one_index_per_read():
    """On every database: the read indexes exist, led by their columns; the unused created_at index is gone."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, Event._meta.db_table)
    leading = {name: c["columns"][0] for name, c in found.items() if c["index"] and not c["primary_key"]}
    for name, column in {
        "event_ticket_idx": "ticket_id",
        "event_customer_idx": "customer_id",
        "event_subject_idx": "subject_type",
        "event_verb_idx": "verb",
        "event_actor_idx": "actor_id",
    }.items():
        assert leading.get(name) == column, (name, leading)
    assert "created_at" not in leading.values()


def test_deleting_a_user_keeps_their_events_without_an_actor(agent):
    record_event("ticket.replied", actor=agent, ticket_id=9, customer_id=2)
    get_user_model().objects.filter(pk=agent.pk).delete()
    event = Event.objects.get(verb="ticket.replied")
    assert event.actor_id is None
    assert event.actor_label == "agent"
