"""Per-ticket attainment, as the API and the ticket page's service-level panel show it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from desk.accounts.services import issue_token
from desk.sla import services as sla
from desk.sla.tests.helpers import at, open_ticket
from desk.tickets import services as tickets

pytestmark = pytest.mark.usefixtures("clock")


def _api(client, user, path):
    _, key = issue_token(user, "tests", by=user)
    return client.get(f"/api{path}", headers={"Authorization": f"Bearer {key}"})


def test_api_shows_met_missed_and_running_targets(client, routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 10:30"))
    tickets.reply_to_ticket(ticket, "您好，我们马上处理", by=agent)  # first response within the hour
    clock.move_to(at("2026-11-23 12:30"))  # the 2 h confirmation has passed without an accept
    sla.sweep()
    response = _api(client, agent, f"/tickets/{ticket.number}/sla")
    assert response.status_code == 200
    by_metric = {t["metric"]: t for t in response.json()}
    assert by_metric["first_response"]["attained"] is True
    assert by_metric["first_response"]["status"] == "met"
    assert by_metric["accept"]["attained"] is False
    assert by_metric["accept"]["breached_at"] is not None
    assert by_metric["resolution"]["attained"] is None
    assert [t["metric"] for t in response.json()][0] == "first_response"


def test_outsiders_cannot_read_the_targets(client, routed, agent, outsider, customer):
    ticket = open_ticket(agent, customer)
    assert _api(client, outsider, f"/tickets/{ticket.pk}/sla").status_code == 404
    assert _api(client, outsider, "/tickets/99999999999999999999/sla").status_code == 404
    client.force_login(outsider)
    assert client.get(reverse("tickets:sla", args=[ticket.pk])).status_code == 404


def test_ticket_page_panel_lists_the_targets(client, routed, agent, customer, clock):
    ticket = open_ticket(agent, customer)
    clock.move_to(at("2026-11-23 10:20"))
    tickets.reply_to_ticket(ticket, "您好", by=agent)
    client.force_login(agent)
    page = client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert reverse("tickets:sla", args=[ticket.pk]) in page  # loaded when the panel is opened
    html = client.get(reverse("tickets:sla", args=[ticket.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-metric="first_response"' in html
    assert 'data-metric="resolution"' in html
    first = html.split('data-metric="first_response"')[1].split("</tr>")[0]
    assert "Met" in first
