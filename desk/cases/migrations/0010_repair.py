"""Repair: the diagnosis target as policy data, the mail-in parcel the customer entered, the kept
diagnosis deadline (a late diagnosis after the escalation), an on-site visit's result, and the
repair parcels' tracking numbers indexed (the API's tracking filter)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0009_policy_data")]

    operations: list[migrations.operations.base.Operation] = [
        migrations.AddField(
            model_name="policyversion",
            name="diagnosis_hours",
            field=models.PositiveSmallIntegerField(default=24),
        ),
        migrations.AddField(
            model_name="repairjob",
            name="inbound_shipped_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="repairjob",
            name="diagnose_by",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="repairjob",
            name="visit_result",
            field=models.TextField(blank=True),
        ),
        migrations.AlterField(
            model_name="repairjob",
            name="inbound_tracking_number",
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
        migrations.AlterField(
            model_name="repairjob",
            name="back_tracking_number",
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
    ]
