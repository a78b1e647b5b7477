"""Text that customers, shops and admins typed is escaped on the hot pages, including the queue rows
that are escaped in Python instead of by the template (views.QueueRow)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from desk.core.testing import make_customer, make_staff, request_type
from desk.tickets import services
from desk.tickets.models import RequestType, RoutingRule

SCRIPT = "<script>alert(1)</script>"
pytestmark = pytest.mark.django_db


@pytest.fixture
def hostile_ticket(support_team, supervisor):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    RequestType.objects.filter(code="product_quality").update(name_zh=f"质量{SCRIPT}", name_en=f"Quality{SCRIPT}")
    agent = make_staff("mallory", "agent", team=support_team)
    agent.first_name, agent.last_name = '"><img src=x onerror=alert(2)>', ""
    agent.save(update_fields=["first_name", "last_name"])
    customer = make_customer(f"王{SCRIPT}")
    ticket = services.create_ticket(
        by=supervisor, customer=customer, subject=f"耳机 {SCRIPT} & <b>bold</b>", request_type=request_type()
    )
    services.assign_ticket(ticket, agent, by=supervisor)
    return ticket


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_queue_rows_and_ticket_page_escape_what_users_typed(client, supervisor, hostile_ticket, language):
    client.force_login(supervisor)
    client.cookies["django_language"] = language
    pages = [
        client.get(reverse("tickets:queue"), {"tab": "all"}),
        client.get(reverse("tickets:queue_rows"), {"tab": "all"}),
        client.get(reverse("tickets:detail", args=[hostile_ticket.pk])),
    ]
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200
        assert "<script>alert(1)" not in html
        assert "onerror=alert(2)>" not in html.replace("&gt;", "")  # the attribute never becomes markup
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<b>bold</b>" not in html
    queue = pages[0].content.decode()
    assert "耳机 &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in queue  # the subject cell
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in queue  # the assignee cell
