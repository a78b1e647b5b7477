"""SlaTarget: drop the single-column index of ticket (issue 3).

slatarget_unique (ticket, metric) serves lookups by ticket; every claim of a mass sweep wrote both.

Only the index goes: the field is unchanged, so no table is rebuilt (SQLite would otherwise copy the
whole table to drop one index). The name is the one Django gave the index when it created it.
"""

import django.db.models.deletion
from django.db import migrations, models


def _index(table, column, *, drop):
    def run(apps, schema_editor):
        qn = schema_editor.quote_name
        name = qn(schema_editor._create_index_name(table, [column]))
        if drop:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
        else:
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {qn(table)} ({qn(column)})")

    return run


def _drop(table, column):
    return migrations.RunPython(_index(table, column, drop=True), _index(table, column, drop=False))


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0003_human_calendar"),
        ("tickets", "0004_overview_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="slatarget",
                    name="ticket",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sla_targets",
                        to="tickets.ticket",
                    ),
                ),
            ],
            database_operations=[_drop("sla_slatarget", "ticket_id")],
        )
    ]
