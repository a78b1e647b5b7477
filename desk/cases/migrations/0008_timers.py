"""Timers the sweep was missing: the reminder before an unshipped return closes, the refund-due
escalation, and the policy's default return address for auto-approved return requests.

Existing policy versions take the defaults: remind 2 days before the ship deadline, auto-approve
returns on (it needs a return address, which existing versions do not have, so they keep escalating).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0007_inspection_timeout")]

    operations = [
        migrations.AddField(
            model_name="aftersalescase",
            name="refund_escalate_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="aftersalescase",
            name="ship_remind_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="auto_approve_returns",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="return_address",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="return_contact",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="return_packing",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="return_phone",
            field=models.CharField(blank=True, max_length=50),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="ship_reminder_days",
            field=models.PositiveSmallIntegerField(default=2),
        ),
        migrations.AddIndex(
            model_name="aftersalescase",
            index=models.Index(fields=["state", "ship_remind_at"], name="case_ship_remind_idx"),
        ),
        migrations.AddIndex(
            model_name="aftersalescase",
            index=models.Index(fields=["state", "refund_escalate_at"], name="case_refund_escalate_idx"),
        ),
    ]
