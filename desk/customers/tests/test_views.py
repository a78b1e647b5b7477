"""The customer page and the customer-360 panel: masking by role, orders, tickets, timeline."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from desk.core.testing import make_customer, request_type
from desk.customers.models import CustomerTag, Tier
from desk.orders.models import Shipment, ShipmentStatus
from desk.tickets import services
from desk.tickets.models import RoutingRule


@pytest.fixture
def ticket(support_team, agent, customer, order):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    Shipment.objects.create(order=order, carrier="顺丰速运", tracking_number="SF1234567890",
                            status=ShipmentStatus.IN_TRANSIT, shipped_at=timezone.now())  # fmt: skip
    customer.tags.add(CustomerTag.objects.create(name="老客户"))
    return services.create_ticket(by=agent, customer=customer, order=order, subject="耳机没声音",
                                  request_type=request_type())  # fmt: skip


def test_agent_sees_masked_phone_on_the_panel(client, agent, ticket, customer):
    client.force_login(agent)
    html = client.get(reverse("customers:panel", args=[customer.pk]), {"ticket": ticket.pk}).content.decode()
    assert customer.phone not in html
    assert customer.phone[:3] + "****" + customer.phone[-4:] in html
    assert "SF1234567890" in html
    assert "顺丰速运" in html
    assert "老客户" in html
    assert ticket.number in html


def test_supervisor_sees_the_full_phone(client, supervisor, ticket, customer):
    client.force_login(supervisor)
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert customer.phone in html
    assert customer.address in html


def test_customer_page_lists_orders_tickets_and_timeline(client, agent, ticket, customer, order):
    client.force_login(agent)
    response = client.get(reverse("customers:detail", args=[customer.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert order.number in html
    assert "蓝牙耳机 0" in html
    assert ticket.number in html
    assert 'data-testid="timeline"' in html


def test_vip_badge_is_shown(client, agent, db):
    vip = make_customer("李总", tier=Tier.VIP)
    client.force_login(agent)
    html = client.get(reverse("customers:detail", args=[vip.pk])).content.decode()
    assert 'class="pill vip"' in html


def test_unknown_customer_is_404(client, agent):
    client.force_login(agent)
    assert client.get(reverse("customers:detail", args=[999999])).status_code == 404


def test_users_without_customer_rights_get_404(client, customer, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x-pass-123456")
    client.force_login(user)
    assert client.get(reverse("customers:detail", args=[customer.pk])).status_code == 404


def test_login_required(client, customer):
    assert client.get(reverse("customers:detail", args=[customer.pk])).status_code == 302


def test_panel_query_count_is_fixed(client, agent, ticket, customer, django_assert_max_num_queries):
    for _ in range(5):
        services.add_note(ticket, "note", by=agent)
    client.force_login(agent)
    # 12 with the role's grants cached (as in production), 13 on a cold cache.
    with django_assert_max_num_queries(13):
        assert client.get(reverse("customers:panel", args=[customer.pk])).status_code == 200
