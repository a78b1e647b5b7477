"""Seed the calendars and policies every shop starts with (data only; schema is in 0001).

- "工作日 9:00-18:00": in the shop's time zone (`SHOP_TIME_ZONE`, Asia/Shanghai by default), Monday-Friday 09:00-12:00 and 13:00-18:00 (lunch closed),
  with China's 2026 public holidays and make-up working days (调休) from the State Council notice
  of 4 November 2025 (国办发明电〔2025〕7号); later years are imported with `import_holidays`.
- "7×24": every minute counts (same time zone, for the dates it reports).
- Policies: SVIP and VIP customers and urgent tickets on 7×24 with tighter targets; a default
  policy on the business calendar (1 h first response, 2 h accept, 4 h human, 24 h solution).
"""

import datetime as dt

from django.conf import settings
from django.db import migrations

BUSINESS = "工作日 9:00-18:00"
ALWAYS = "7×24"

HOLIDAYS_2026 = [
    ("元旦", "2026-01-01", "2026-01-03"),
    ("春节", "2026-02-15", "2026-02-23"),
    ("清明节", "2026-04-04", "2026-04-06"),
    ("劳动节", "2026-05-01", "2026-05-05"),
    ("端午节", "2026-06-19", "2026-06-21"),
    ("中秋节", "2026-09-25", "2026-09-27"),
    ("国庆节", "2026-10-01", "2026-10-07"),
]
WORKDAYS_2026 = [
    ("元旦调休上班", "2026-01-04"),
    ("春节调休上班", "2026-02-14"),
    ("春节调休上班", "2026-02-28"),
    ("劳动节调休上班", "2026-05-09"),
    ("国庆节调休上班", "2026-09-20"),
    ("国庆节调休上班", "2026-10-10"),
]

# name, position, conditions, calendar, (first response, accept, human, solution, resolution) minutes
POLICIES = [
    ("SVIP 7×24", 10, {"customer_tier": "svip"}, ALWAYS, (15, 30, 60, 480, 1440)),
    ("VIP 7×24", 20, {"customer_tier": "vip"}, ALWAYS, (30, 60, 120, 720, 2880)),
    ("紧急 Urgent 7×24", 30, {"priority": 4}, ALWAYS, (30, 60, 120, 720, 2880)),
    ("默认 Default", 1000, {}, BUSINESS, (60, 120, 240, 1440, 4320)),
]


def _dates(first, last):
    day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def seed(apps, schema_editor):
    BusinessCalendar = apps.get_model("sla", "BusinessCalendar")
    BusinessHours = apps.get_model("sla", "BusinessHours")
    CalendarDay = apps.get_model("sla", "CalendarDay")
    SlaPolicy = apps.get_model("sla", "SlaPolicy")

    business, created = BusinessCalendar.objects.get_or_create(
        name=BUSINESS, defaults={"time_zone": settings.TIME_ZONE, "always_open": False}
    )
    if created:
        for weekday in range(5):
            BusinessHours.objects.create(calendar=business, weekday=weekday, opens=dt.time(9), closes=dt.time(12))
            BusinessHours.objects.create(calendar=business, weekday=weekday, opens=dt.time(13), closes=dt.time(18))
    for name, first, last in HOLIDAYS_2026:
        for day in _dates(first, last):
            CalendarDay.objects.get_or_create(calendar=business, date=day, defaults={"kind": "holiday", "name": name})
    for name, day in WORKDAYS_2026:
        CalendarDay.objects.get_or_create(
            calendar=business, date=dt.date.fromisoformat(day),
            defaults={"kind": "workday", "name": name, "hours_of_weekday": 0},
        )
    always, _ = BusinessCalendar.objects.get_or_create(
        name=ALWAYS, defaults={"time_zone": settings.TIME_ZONE, "always_open": True}
    )
    calendars = {BUSINESS: business, ALWAYS: always}
    for name, position, conditions, calendar, minutes in POLICIES:
        first_response, accept, human, solution, resolution = minutes
        SlaPolicy.objects.get_or_create(
            name=name,
            defaults={
                "position": position, "calendar": calendars[calendar], **conditions,
                "first_response_minutes": first_response, "accept_minutes": accept, "human_minutes": human,
                "solution_minutes": solution, "resolution_minutes": resolution, "warn_at_percent": 80,
                "escalate_notify_supervisor": True, "escalate_raise_priority": True,
                "escalate_reassign_up": position < 1000,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
