"""Seed the default permission tiers; shops edit them in the admin afterwards."""

from django.db import migrations


def seed(apps, schema_editor):
    from desk.accounts.permissions import DEFAULT_GRANTS

    RoleGrant = apps.get_model("accounts", "RoleGrant")
    for role, grants in DEFAULT_GRANTS.items():
        for action, limit in grants:
            RoleGrant.objects.get_or_create(role=str(role), action=action, defaults={"limit_amount": limit})


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
