"""Policy rules as data: refund caps on the policy version; the returned unit's "opened" fact and the
deduction taken off a no-reason return that came back not intact."""

from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0008_timers")]

    operations = [
        migrations.AddField(
            model_name="aftersalescase",
            name="deduction",
            field=models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=10),
        ),
        migrations.AddField(
            model_name="aftersalescase",
            name="unit_opened",
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="max_refunds_per_payment",
            field=models.PositiveSmallIntegerField(default=50),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="refund_window_days",
            field=models.PositiveSmallIntegerField(default=365),
        ),
    ]
