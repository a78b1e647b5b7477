"""A misconfigured business calendar (unknown time zone, no opening hours) is refused in the admin, and one
that is already stored costs its deadlines, never ticket intake: `sla.calendar_invalid` says what went wrong."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from desk.accounts.services import issue_token
from desk.core.models import Event
from desk.sla import services as sla
from desk.sla.models import BusinessCalendar, Metric, SlaTarget, TargetStatus
from desk.sla.tests.helpers import at, calendar_form, open_ticket, targets_of
from desk.tickets import services as tickets
from desk.tickets.models import Status, Ticket


def _create_over_the_api(client, agent, customer):
    _token, key = issue_token(agent, "tests", by=agent)
    body = {"subject": "耳机坏了", "description": "左耳没声音", "customer_id": customer.pk,
            "request_type": "product_quality"}  # fmt: skip
    return client.post(
        "/api/tickets", body, content_type="application/json", headers={"Authorization": f"Bearer {key}"}
    )


# --- The admin refuses the mistakes ----------------------------------------------------------------
@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@shop.example", "desk-pass-123"))
    return client


def test_model_clean_refuses_an_unknown_time_zone(db):
    with pytest.raises(ValidationError) as refused:
        BusinessCalendar(name="x", time_zone="Asia/Shangai").full_clean()
    assert "time_zone" in refused.value.message_dict
    assert "Asia/Shangai" in refused.value.message_dict["time_zone"][0]
    BusinessCalendar(name="x", time_zone="Europe/Berlin").full_clean()  # a real zone passes


def test_admin_shows_the_time_zone_error(admin_client):
    response = admin_client.post("/admin/sla/businesscalendar/add/", calendar_form(time_zone="Asia/Shangai"))

    assert response.status_code == 200  # the form again, with the error
    assert "Asia/Shangai" in response.content.decode()
    assert not BusinessCalendar.objects.filter(name="周末值班").exists()


def test_admin_refuses_a_calendar_without_hours_unless_it_is_7x24(admin_client):
    no_hours = calendar_form(**{"hours-0-weekday": "", "hours-0-opens": "", "hours-0-closes": ""})

    refused = admin_client.post("/admin/sla/businesscalendar/add/", no_hours)
    accepted = admin_client.post("/admin/sla/businesscalendar/add/", no_hours | {"always_open": "on"})

    assert refused.status_code == 200
    assert "至少需要一个营业时段" in refused.content.decode()  # the error, in the admin's language
    assert accepted.status_code == 302
    assert list(BusinessCalendar.objects.filter(name="周末值班").values_list("always_open", flat=True)) == [True]


def test_admin_refuses_deleting_the_last_slot(admin_client, business):
    hours = list(business.hours.all())
    data = {"name": business.name, "time_zone": business.time_zone,
            "hours-TOTAL_FORMS": str(len(hours)), "hours-INITIAL_FORMS": str(len(hours)),
            "days-TOTAL_FORMS": "0", "days-INITIAL_FORMS": "0"}  # fmt: skip
    for i, slot in enumerate(hours):
        data |= {f"hours-{i}-id": str(slot.pk), f"hours-{i}-calendar": str(business.pk),
                 f"hours-{i}-weekday": str(slot.weekday), f"hours-{i}-opens": slot.opens.strftime("%H:%M"),
                 f"hours-{i}-closes": slot.closes.strftime("%H:%M"), f"hours-{i}-DELETE": "on"}  # fmt: skip

    response = admin_client.post(f"/admin/sla/businesscalendar/{business.pk}/change/", data)

    assert response.status_code == 200
    assert business.hours.count() == len(hours)


# --- A stored broken calendar does not stop intake ------------------------------------------------
def test_unknown_time_zone_skips_its_targets_and_the_ticket_is_created(client, routed, agent, customer, business):
    BusinessCalendar.objects.filter(pk=business.pk).update(time_zone="Asia/Shangai")  # as stored before validation

    response = _create_over_the_api(client, agent, customer)

    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(pk=response.json()["id"])
    on_business = SlaTarget.objects.filter(ticket=ticket, policy__calendar=business).exclude(metric=Metric.HUMAN)
    assert not on_business.exists()
    event = Event.objects.get(ticket_id=ticket.pk, verb="sla.calendar_invalid")
    assert event.data["calendar"] == business.pk
    assert "Asia/Shangai" in event.data["error"]
    assert set(event.data["metrics"]) >= {Metric.FIRST_RESPONSE, Metric.ACCEPT}


def test_calendar_without_hours_skips_its_targets_and_the_ticket_is_created(client, routed, agent, customer, business):
    business.hours.all().delete()

    response = _create_over_the_api(client, agent, customer)

    assert response.status_code == 201, response.content
    ticket_id = response.json()["id"]
    event = Event.objects.get(ticket_id=ticket_id, verb="sla.calendar_invalid")
    assert "no opening hours" in event.data["error"]
    assert not SlaTarget.objects.filter(ticket_id=ticket_id, metric=Metric.FIRST_RESPONSE).exists()


def test_a_paused_ticket_resumes_without_a_deadline_when_its_calendar_broke(routed, agent, customer, business, clock):
    ticket = open_ticket(agent, customer)
    tickets.update_ticket(ticket, by=agent, status=Status.PENDING_CUSTOMER)
    BusinessCalendar.objects.filter(pk=business.pk).update(time_zone="Mars/Olympus")
    sla.forget_clocks()  # an update() fires no signal
    clock.move_to(at("2026-11-23 11:00"))

    tickets.update_ticket(ticket, by=agent, status=Status.OPEN)  # no exception: the change goes through

    accept = targets_of(ticket)[Metric.ACCEPT]
    assert (accept.status, accept.due_at) == (TargetStatus.RUNNING, None)
    assert Ticket.objects.get(pk=ticket.pk).status == Status.OPEN
    assert Event.objects.filter(ticket_id=ticket.pk, verb="sla.calendar_invalid").exists()


def test_a_healthy_calendar_records_no_such_event(routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    assert targets_of(ticket)[Metric.FIRST_RESPONSE].due_at == at("2026-11-23 11:00")
    assert not Event.objects.filter(verb="sla.calendar_invalid").exists()
