"""Operations shared by migrations: keep them here so each migration stays a few declarative lines.

Migrations import this module by name, so what it offers must keep working for every migration that
uses it (change behaviour only by adding new functions).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def _single_column_index(table: str, column: str, *, drop: bool) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        qn = schema_editor.quote_name
        name = qn(schema_editor._create_index_name(table, [column]))
        if drop:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
        else:
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {qn(table)} ({qn(column)})")

    return run


def drop_single_column_index(table: str, column: str) -> migrations.RunPython:
    """Drop the index Django made for `db_index=True` on `column` (by the name Django gave it), and put
    it back when unapplied. Only the index goes: changing the field would make SQLite copy the table."""
    return migrations.RunPython(
        _single_column_index(table, column, drop=True), _single_column_index(table, column, drop=False)
    )


def seed_role_grants(actions: set[str]) -> Any:
    """A RunPython that grants `actions` to the roles `DEFAULT_GRANTS` gives them, and nothing else: a
    grant a shop removed from another action stays removed. Reversing leaves the grants."""

    def run(apps: Any, schema_editor: Any) -> None:
        from desk.accounts.permissions import DEFAULT_GRANTS

        role_grant = apps.get_model("accounts", "RoleGrant")
        for role, grants in DEFAULT_GRANTS.items():
            for action, limit in grants:
                if action in actions:
                    role_grant.objects.get_or_create(role=str(role), action=action, defaults={"limit_amount": limit})

    return migrations.RunPython(run, migrations.RunPython.noop)
