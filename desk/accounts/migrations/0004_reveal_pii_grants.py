"""Grant customer.reveal_pii (see one customer's masked contact details, with a reason) to the roles that hold it."""

from django.db import migrations

from desk.core.migration_ops import seed_role_grants


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_after_sales_grants")]
    operations = [seed_role_grants({"customer.reveal_pii"})]
