"""Ticket: drop the single-column indexes of customer, team and assignee (issue 3).

ticket_customer_idx, ticket_team_idx and ticket_assignee_idx start with those columns and serve
the same lookups; each ticket update that moves one (an SLA sweep escalating 100,000 tickets)
wrote both.

Only the index goes: the field is unchanged, so no table is rebuilt (SQLite would otherwise copy the
whole table to drop one index). The name is the one Django gave the index when it created it.
"""

import django.db.models.deletion
from django.conf import settings
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
        ("accounts", "0003_after_sales_grants"),
        ("customers", "0001_initial"),
        ("tickets", "0004_overview_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ticket",
                    name="assignee",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="assigned_tickets",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="ticket",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tickets",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="ticket",
                    name="team",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tickets",
                        to="accounts.team",
                    ),
                ),
            ],
            database_operations=[
                _drop("tickets_ticket", "assignee_id"),
                _drop("tickets_ticket", "customer_id"),
                _drop("tickets_ticket", "team_id"),
            ],
        )
    ]
