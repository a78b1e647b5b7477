"""`SHOP_TIME_ZONE` sets the business calendars' zone: the seeded ones and new ones in the admin."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model

from desk.sla.models import BusinessCalendar, SlaPolicy

seed_migration = importlib.import_module("desk.sla.migrations.0002_default_calendars_and_policies")


def test_seeded_calendars_take_the_shop_time_zone(db, settings):
    assert set(BusinessCalendar.objects.values_list("time_zone", flat=True)) == {settings.TIME_ZONE}
    settings.TIME_ZONE = "Europe/Berlin"
    SlaPolicy.objects.all().delete()
    BusinessCalendar.objects.all().delete()
    seed_migration.seed(apps, None)  # what the first `migrate` of a shop in Berlin runs
    zones = dict(BusinessCalendar.objects.values_list("name", "time_zone"))
    assert zones == {seed_migration.BUSINESS: "Europe/Berlin", seed_migration.ALWAYS: "Europe/Berlin"}


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_a_new_calendar_in_the_admin_starts_in_the_shop_time_zone(client, db, settings, zone):
    settings.TIME_ZONE = zone
    root = get_user_model().objects.create_superuser("root", "root@shop.example", "desk-pass-123")
    client.force_login(root)
    page = client.get("/admin/sla/businesscalendar/add/").content.decode()
    assert f'name="time_zone" value="{zone}"' in page
