"""WebhookDelivery: drop the single-column index of endpoint (issue 3).

delivery_unique (endpoint, event) serves lookups by endpoint; every delivery written (100,000s in a
mass SLA sweep) wrote both.

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
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookdelivery",
                    name="endpoint",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="webhooks.webhookendpoint",
                    ),
                ),
            ],
            database_operations=[_drop("webhooks_webhookdelivery", "endpoint_id")],
        )
    ]
