"""What the hot pages cache or share per request, and that each cache lets changes through."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from desk.accounts.models import Availability, Role
from desk.core.testing import request_type
from desk.tickets import services
from desk.tickets.models import CannedReply, RequestType, RoutingRule, SlaState, Ticket

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def ticket(support_team, agent, customer, order):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return services.create_ticket(
        by=agent, customer=customer, order=order, subject="耳机没有声音", request_type=request_type()
    )


def test_one_masked_csrf_token_per_page_and_it_is_accepted(db, supervisor, ticket):
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    html = client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    tokens = set(CSRF.findall(html))
    assert len(CSRF.findall(html)) > 5  # the page has many forms...
    assert len(tokens) == 1  # ...and masks the token once
    response = client.post(
        reverse("tickets:note", args=[ticket.pk]), {"body": "内部备注", "csrfmiddlewaretoken": tokens.pop()}
    )
    assert response.status_code == 302
    assert ticket.messages.filter(body="内部备注").exists()
    other = Client(enforce_csrf_checks=True)
    other.force_login(supervisor)
    assert other.post(reverse("tickets:note", args=[ticket.pk]), {"body": "x"}).status_code == 403


def test_queue_shows_a_new_request_type_at_once(client, agent, ticket):
    client.force_login(agent)
    assert "以旧换新" not in client.get(reverse("tickets:queue")).content.decode()  # now cached
    RequestType.objects.create(code="trade_in", name_zh="以旧换新", name_en="Trade-in")
    assert "以旧换新" in client.get(reverse("tickets:queue")).content.decode()
    RequestType.objects.filter(code="trade_in").delete()  # a queryset delete sends post_delete too
    assert "以旧换新" not in client.get(reverse("tickets:queue")).content.decode()


def test_ticket_page_shows_a_new_canned_reply_at_once(client, agent, ticket):
    client.force_login(agent)
    page = reverse("tickets:detail", args=[ticket.pk])
    client.get(page)
    CannedReply.objects.create(title="问候语", body="您好 {customer_name}")
    assert "问候语" in client.get(page).content.decode()


def test_queue_rows_show_labels_names_and_times(client, supervisor, agent, ticket, settings):
    due = timezone.now().replace(microsecond=0)
    Ticket.objects.filter(pk=ticket.pk).update(sla_state=SlaState.WARNING, sla_due_at=due, priority=4, assignee=agent)
    agent.first_name, agent.last_name = "Li", "Lei"
    agent.save()
    client.force_login(supervisor)
    html = client.get(reverse("tickets:queue"), {"tab": "all"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = html[html.index(ticket.number) :]
    row = row[: row.index("</tr>")]
    assert f'href="{reverse("tickets:detail", args=[ticket.pk])}"' in html
    assert f"<td>{request_type().name_en}</td>" in row
    assert 'class="pill prio-4">Urgent<' in row
    assert "Li Lei" in row
    assert timezone.localtime(due).strftime("%m-%d %H:%M") in row


def test_filter_form_keeps_the_chosen_values(client, supervisor, ticket):
    client.force_login(supervisor)
    html = client.get(
        reverse("tickets:queue"), {"tab": "all", "priority": "3", "status": "any", "type": "product_quality"}
    )
    html = html.content.decode()
    html = html[html.index('data-testid="filters"') :]
    html = html[: html.index("</form>")]
    assert '<option value="3" selected>' in html
    assert '<option value="any" selected>' in html
    assert '<option value="product_quality" selected>' in html
    assert html.count(" selected>") == 3


@pytest.fixture
def shared_cache(settings):
    """Django's cached_db sessions with users read through the (here in-process) shared cache: a shop may
    configure it; the Redis shape itself reads sessions with their user from the database (settings)."""
    settings.DESK_SHARED_CACHE = True
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"


def test_shared_cache_spares_the_user_query_and_sees_changes(
    client, agent, ticket, shared_cache, django_assert_max_num_queries
):
    client.force_login(agent)
    page = reverse("tickets:detail", args=[ticket.pk])
    client.get(page)
    # No session, user, request type or canned-reply query: the ticket, its conversation, attachments and
    # history, and the customer-360 panel's tickets, orders, items, shipments and timeline.
    with django_assert_max_num_queries(9):
        assert client.get(page).status_code == 200
    profile = agent.staff
    profile.availability = Availability.AWAY
    profile.save()
    assert 'class="avail away"' in client.get(page).content.decode()
    profile.role = Role.SUPERVISOR
    profile.save()
    assert client.get(reverse("tickets:queue"), {"tab": "all"}).status_code == 200  # the new role counts at once
    agent.is_active = False
    agent.save()
    assert client.get(page).status_code == 302  # a deactivated user is logged out on the next page


def test_a_partial_without_forms_neither_masks_nor_sets_the_csrf_cookie(client, agent, ticket):
    client.force_login(agent)
    assert "csrftoken" not in client.get(reverse("tickets:queue_rows")).cookies
    assert "csrftoken" in client.get(reverse("tickets:queue")).cookies  # the page has forms
