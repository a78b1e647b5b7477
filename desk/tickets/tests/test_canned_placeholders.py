"""Canned-reply placeholders: a mistake in one reply's body never breaks the ticket page, and the admin
refuses it with the list of placeholders that exist."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from desk.core.testing import request_type
from desk.tickets import services
from desk.tickets.models import CannedReply, RoutingRule, fill_placeholders, unknown_placeholders

VALUES = {"customer_name": "王小明", "ticket_number": "TK0000001", "order_number": "SO1", "agent_name": "小李"}


@pytest.fixture
def ticket(support_team, agent, customer, order):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return services.create_ticket(by=agent, customer=customer, order=order, subject="耳机没声音",
                                  request_type=request_type())  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        "订单{order.number}已收到",
        "{0} 和 {}",
        "{customer_name!r}",
        "{customer_name:>30}",
        "单独的 { 括号",
        "}{",
        "{{x}}",
    ],
)
def test_ticket_page_survives_any_body(client, agent, ticket, body):
    CannedReply.objects.create(title="坏模板", body=body)
    CannedReply.objects.create(title="好模板", body="{customer_name}您好")
    client.force_login(agent)

    response = client.get(reverse("tickets:detail", args=[ticket.pk]))

    assert response.status_code == 200
    assert "王小明您好" in response.content.decode()  # the good one is still filled in


def test_unknown_placeholders_stay_as_written():
    body = "{customer_name}您好，订单{order.number}，工单{ticket_number}，{0}，{ agent_name }"
    assert fill_placeholders(body, VALUES) == "王小明您好，订单{order.number}，工单TK0000001，{0}，{ agent_name }"
    assert unknown_placeholders(body) == ["order.number", "0", " agent_name "]
    assert unknown_placeholders("{customer_name} {agent_name} 没有括号") == []


def test_clean_lists_the_unknown_and_the_allowed_placeholders(db):
    reply = CannedReply(title="退货", body="订单{order.number}，{order.number}，{客户}")

    with pytest.raises(ValidationError) as refused:
        reply.full_clean()

    message = refused.value.message_dict["body"][0]
    assert "{order.number}, {客户}" in message
    for allowed in ("{customer_name}", "{ticket_number}", "{order_number}", "{agent_name}"):
        assert allowed in message
    CannedReply(title="退货", body="{customer_name}您好，订单{order_number}").full_clean()  # valid passes


def test_admin_shows_the_error_and_saves_nothing(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@shop.example", "desk-pass-123"))
    data = {"title": "退货", "body": "订单{order.number}", "language": "zh-hans", "active": "on"}

    response = client.post("/admin/tickets/cannedreply/add/", data)

    assert response.status_code == 200
    assert "{order.number}" in response.content.decode()
    assert "{order_number}" in response.content.decode()
    assert not CannedReply.objects.exists()
