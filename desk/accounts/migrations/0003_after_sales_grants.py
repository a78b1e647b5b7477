"""Grant the after-sales actions added with exchange, repair and disputes to the roles that hold them.

Only these actions are seeded, so a grant a shop removed from another action stays removed.
"""

from django.db import migrations

NEW_ACTIONS = {"case.diagnose", "stock.manage", "case.dispute", "case.legal"}


def seed(apps, schema_editor):
    from desk.accounts.permissions import DEFAULT_GRANTS

    RoleGrant = apps.get_model("accounts", "RoleGrant")
    for role, grants in DEFAULT_GRANTS.items():
        for action, limit in grants:
            if action in NEW_ACTIONS:
                RoleGrant.objects.get_or_create(role=str(role), action=action, defaults={"limit_amount": limit})


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_default_grants")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
