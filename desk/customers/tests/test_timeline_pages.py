"""The customer timeline over the API pages like every list, so older events stay reachable."""

from __future__ import annotations

from desk.accounts.models import Role
from desk.core.events import record_event
from desk.core.models import Event
from desk.core.testing import make_customer, make_staff, make_team, request_type
from desk.tickets.models import RoutingRule
from desk.tickets.services import create_ticket


def _pages(client, url, headers, limit):
    """Every page of a list, following next_offset, as lists of ids."""
    pages, offset = [], 0
    while offset is not None:
        body = client.get(url, {"limit": limit, "offset": offset}, headers=headers).json()
        assert (body["limit"], body["offset"]) == (limit, offset)
        pages.append([e["id"] for e in body["items"]])
        offset = body["next_offset"]
    return pages


def test_second_page_holds_the_older_events(client, agent, bearer, customer):
    ids = [record_event("customer.updated", subject=customer, customer_id=customer.pk).pk for _ in range(5)]
    url = f"/api/customers/{customer.pk}/timeline"

    pages = _pages(client, url, bearer(agent), limit=2)

    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[0:1]]  # newest first, nothing skipped or repeated


def test_pages_leave_out_other_teams_tickets(client, bearer):
    team, other = make_team("support"), make_team("logistics")
    RoutingRule.objects.create(name="默认", team=team)
    agent = make_staff("agent", Role.AGENT, team=team)
    outsider = make_staff("outsider", Role.AGENT, team=other)
    customer = make_customer()
    ticket = create_ticket(by=agent, customer=customer, subject="耳机", request_type=request_type())
    own = [record_event("customer.updated", subject=customer, customer_id=customer.pk).pk for _ in range(3)]
    everything = _pages(client, f"/api/customers/{customer.pk}/timeline", bearer(agent), limit=50)[0]
    assert Event.objects.filter(ticket_id=ticket.pk, pk__in=everything).exists()  # the ticket's events are there

    seen = _pages(client, f"/api/customers/{customer.pk}/timeline", bearer(outsider), limit=2)

    assert seen == [own[2:0:-1], own[0:1]]  # for the other team they are on no page
