"""Holidays imported from an .ics file on the calendar's admin page, by a role holding config.manage."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from desk.core.models import Event
from desk.sla.models import BusinessCalendar, DayKind
from desk.sla.tests.helpers import calendar_form
from desk.sla.tests.test_import_holidays import ICS


def _ics(text: str = ICS) -> SimpleUploadedFile:
    return SimpleUploadedFile("holidays.ics", text.replace("\n", "\r\n").encode(), content_type="text/calendar")


@pytest.mark.django_db
def test_a_manager_imports_holidays_with_the_calendar_form(client, manager):
    client.force_login(manager)
    response = client.post("/admin/sla/businesscalendar/add/", calendar_form(import_ics=_ics()))
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get(name="周末值班")
    kinds = dict(calendar.days.values_list("date", "kind"))
    assert sum(1 for kind in kinds.values() if kind == DayKind.HOLIDAY) == 8  # 7 days of 春节 and the shop's day
    assert sum(1 for kind in kinds.values() if kind == DayKind.WORKDAY) == 2
    imported = Event.objects.get(verb="sla.calendar_days_imported")
    assert (imported.actor, imported.data) == (manager, {"created": 10, "updated": 0})


@pytest.mark.django_db
def test_a_file_that_is_not_icalendar_is_refused_and_nothing_is_saved(client, manager):
    client.force_login(manager)
    response = client.post(
        "/admin/sla/businesscalendar/add/", calendar_form(import_ics=_ics("hello, not a calendar")),
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert response.status_code == 200
    assert "Not an iCalendar file" in response.content.decode()
    assert not BusinessCalendar.objects.filter(name="周末值班").exists()
