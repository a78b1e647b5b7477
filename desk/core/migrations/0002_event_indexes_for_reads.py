"""One index per read of the event log, partial where most rows have nothing to find.

Dropped: the single-column indexes on created_at (no query filters or orders by it: pages go by
id), on verb (PostgreSQL kept a second, `varchar_pattern_ops`, copy) and on actor_id. In their
place (verb, id) for a verb's newest events, and actor_id only where an event has an actor (a
deleted user's SET_NULL); the ticket index leaves out events without a ticket. A mass sweep's
events (system, no ticket) then write 3 indexes instead of 6.

The old indexes are dropped by name found in the database, not by AlterField: on SQLite that
would copy the whole table once per field.
"""

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "core_event"
UNINDEXED = ("created_at", "verb", "actor_id")  # columns whose own index goes


def drop_single_column_indexes(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    qn = schema_editor.quote_name
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    for name, info in sorted(constraints.items()):
        plain = info["index"] and not info["primary_key"] and not info["unique"] and not info["foreign_key"]
        if plain and len(info["columns"]) == 1 and info["columns"][0] in UNINDEXED:
            schema_editor.execute(f"DROP INDEX {qn(name)}")


def restore_single_column_indexes(apps: Any, schema_editor: Any) -> None:
    event = apps.get_model("core", "Event")
    for column in UNINDEXED:
        field = next(f for f in event._meta.local_fields if f.column == column)
        schema_editor.execute(schema_editor._create_index_sql(event, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="event", name="event_ticket_idx"),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_single_column_indexes, restore_single_column_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(model_name="event", name="created_at", field=models.DateTimeField()),
                migrations.AlterField(model_name="event", name="verb", field=models.CharField(max_length=64)),
            ],
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                condition=models.Q(("ticket_id__isnull", False)), fields=["ticket_id", "id"], name="event_ticket_idx"
            ),
        ),
        migrations.AddIndex(model_name="event", index=models.Index(fields=["verb", "id"], name="event_verb_idx")),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(condition=models.Q(("actor__isnull", False)), fields=["actor"], name="event_actor_idx"),
        ),
    ]
