"""The human-contact target gets its own calendar, and the seeded policies count it 7×24.

PRODUCT: a complex problem gets a person within 4 hours, 7×24 (a bot or message-taking outside
hours), so a ticket opened on Friday evening is not left until Monday for that target.
"""

import django.db.models.deletion
from django.db import migrations, models

ALWAYS = "7×24"


def human_contact_round_the_clock(apps, schema_editor):
    BusinessCalendar = apps.get_model("sla", "BusinessCalendar")
    SlaPolicy = apps.get_model("sla", "SlaPolicy")
    always = BusinessCalendar.objects.filter(name=ALWAYS, always_open=True).first()
    if always is not None:
        SlaPolicy.objects.filter(human_calendar__isnull=True).update(human_calendar=always)


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0002_default_calendars_and_policies"),
    ]

    operations = [
        migrations.AddField(
            model_name="slapolicy",
            name="human_calendar",
            field=models.ForeignKey(
                blank=True,
                help_text="Calendar of the human-contact target (a complex problem gets a person within 4 h, 7×24: "
                "a bot or message-taking covers the night). Empty: the policy's calendar.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="sla.businesscalendar",
            ),
        ),
        migrations.RunPython(human_contact_round_the_clock, migrations.RunPython.noop),
    ]
