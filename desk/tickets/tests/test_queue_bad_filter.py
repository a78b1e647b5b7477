"""A queue link with one bad filter value keeps the rest of its filters and says what it ignored."""

from __future__ import annotations

from django.urls import reverse

from desk.core.testing import request_type
from desk.tickets import services
from desk.tickets.models import RoutingRule


def test_one_bad_filter_value_drops_only_itself(client, agent, support_team, customer):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    urgent = services.create_ticket(
        by=agent, customer=customer, subject="快递三天没动", request_type=request_type(), priority=4
    )
    calm = services.create_ticket(by=agent, customer=customer, subject="发票抬头写错了", request_type=request_type())
    client.force_login(agent)
    query = {"tab": "mine", "priority": "4", "channel": "carrier-pigeon"}
    response = client.get(reverse("tickets:queue"), query, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    assert urgent.number in html
    assert calm.number not in html  # the priority filter still narrows the list
    assert 'data-testid="ignored-filters"' in html
    assert "Channel" in html.split('data-testid="ignored-filters"')[1].split("</p>")[0]


def test_valid_filters_mention_nothing_ignored(client, agent, support_team, customer):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    client.force_login(agent)
    html = client.get(reverse("tickets:queue"), {"tab": "mine", "priority": "4"}).content.decode()
    assert 'data-testid="ignored-filters"' not in html
