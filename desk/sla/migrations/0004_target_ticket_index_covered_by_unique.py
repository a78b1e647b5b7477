"""SlaTarget: drop the single-column index of ticket (issue 3).

slatarget_unique (ticket, metric) serves lookups by ticket; every claim of a mass sweep wrote both.

Only the index goes: the field is unchanged, so no table is rebuilt (SQLite would otherwise copy the
whole table to drop one index). The name is the one Django gave the index when it created it.
"""

import django.db.models.deletion
from django.db import migrations, models

from desk.core.migration_ops import drop_single_column_index


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
            database_operations=[drop_single_column_index("sla_slatarget", "ticket_id")],
        )
    ]
