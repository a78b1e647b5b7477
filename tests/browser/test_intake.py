"""An agent takes a phone call: opens a ticket from the console, then reads its service levels."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps as django_apps

from desk.core.testing import make_customer, make_order
from desk.tickets.models import RoutingRule, Ticket
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone_call(seeded, support_team, agent):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    importlib.import_module("desk.sla.migrations.0002_default_calendars_and_policies").seed(django_apps, None)
    customer = make_customer("赵六", phone="13912345678")
    return make_order(customer)


def test_agent_opens_a_ticket_for_a_caller_and_sees_its_targets(page, live_server, phone_call, screenshot):
    order = phone_call
    log_in(page, live_server, "agent")
    page.click("[data-testid=new-ticket]")
    page.fill("input[name=contact]", "13912345678")
    page.fill("input[name=order_number]", order.number)
    page.select_option("select[name=request_type]", "product_quality")
    page.fill("input[name=subject]", "来电：洗衣机漏水")
    page.fill("textarea[name=description]", "客户来电说洗衣机底部漏水，想上门维修")
    page.click("[data-action=new_ticket]")
    page.wait_for_url(re.compile(r".*/tickets/\d+/$"))
    ticket = Ticket.objects.get(subject="来电：洗衣机漏水")
    assert (ticket.customer.name, ticket.order_id, ticket.channel) == ("赵六", order.pk, "phone")
    assert ticket.number in page.locator("body").inner_text()

    page.click("[data-testid=sla-panel] summary")
    targets = page.locator("[data-testid=sla-targets]")
    targets.wait_for()
    assert page.locator("[data-testid=sla-targets] tr[data-metric=first_response]").count() == 1
    assert "首次响应" in targets.inner_text() or "First response" in targets.inner_text()
    screenshot(page, "new-ticket-sla")
