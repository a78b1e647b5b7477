"""Grant notice.deliver (drain a channel's customer-notice outbox over the API) to the roles that hold it."""

from django.db import migrations

from desk.core.migration_ops import seed_role_grants


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_reveal_pii_grants")]
    operations = [seed_role_grants({"notice.deliver"})]
