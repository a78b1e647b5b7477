"""Facts of the purchase the after-sales policy reads: shipping insurance and confirmed exclusions."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_auto_confirm")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="confirmed_exclusions",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="order",
            name="shipping_insured",
            field=models.BooleanField(default=False),
        ),
    ]
