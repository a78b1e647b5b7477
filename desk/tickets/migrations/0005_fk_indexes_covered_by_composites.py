"""Ticket: drop the single-column index of customer (issue 3).

ticket_customer_idx (customer_id, id DESC) starts with that column and serves the same lookups,
newest first; each ticket update that moves the customer wrote both.

team and assignee keep theirs: a queue of a team's (or a person's) tickets over several statuses,
newest first, walks the single-column index in id order and stops after a page, whereas
ticket_team_idx (team_id, status, id DESC) needs a sort of every matching ticket (0.14x of the floor
page for the team queue at 1M tickets when they were dropped).

Only the index goes: the field is unchanged, so no table is rebuilt (SQLite would otherwise copy the
whole table to drop one index). The name is the one Django gave the index when it created it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from desk.core.migration_ops import drop_single_column_index


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
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tickets",
                        to="customers.customer",
                    ),
                ),
            ],
            database_operations=[
                drop_single_column_index("tickets_ticket", "customer_id"),
            ],
        )
    ]
