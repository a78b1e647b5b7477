"""An agent reveals a masked phone number from the ticket page's customer-360 panel, giving a reason."""

from __future__ import annotations

import pytest

from desk.core.models import Event
from desk.core.testing import request_type
from desk.tickets import services
from desk.tickets.models import RoutingRule
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_clicks_show_gives_a_reason_and_sees_the_full_phone(page, live_server, seeded, support_team, agent,
                                                                  customer, screenshot):  # fmt: skip
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    ticket = services.create_ticket(by=agent, customer=customer, subject="包裹显示已签收但没收到",
                                    request_type=request_type("logistics"))  # fmt: skip
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    phone = page.locator("[data-testid=customer-360] [data-testid=pii-phone]")
    assert customer.phone not in phone.inner_text()
    assert "****" in phone.inner_text()

    phone.locator("[data-testid=reveal-phone]").click()
    assert phone.locator("[data-testid=reveal-submit]").inner_text() == "显示"
    phone.locator("[data-testid=reveal-submit]").click()  # no reason yet: the browser asks for one
    assert Event.objects.filter(verb="customer.pii_revealed").count() == 0
    phone.locator("[data-testid=reveal-reason]").fill("查")  # too short: the form comes back with why (a 422)
    phone.locator("[data-testid=reveal-submit]").click()
    phone.locator("[data-testid=reveal-error]").wait_for()
    assert "请简要说明为什么需要查看联系方式" in phone.locator("[data-testid=reveal-error]").inner_text()
    phone.locator("[data-testid=reveal-reason]").fill("联系客户核实丢件")
    screenshot(page, "reveal-form")
    phone.locator("[data-testid=reveal-submit]").click()

    revealed = page.locator("[data-testid=customer-360] [data-testid=pii-phone]")
    revealed.filter(has_text=customer.phone).wait_for()
    assert "已显示，已记录" in revealed.inner_text()
    assert page.url.endswith(f"/tickets/{ticket.pk}/")  # swapped in place, no page load
    screenshot(page, "reveal-phone")
    # The panel's 60 s refresh, now: the number stays shown while the agent is on the phone (hx-preserve).
    page.evaluate(
        "([url]) => htmx.ajax('GET', url, {target: '#customer-panel', swap: 'innerHTML'})",
        [f"/customers/{customer.pk}/panel/?ticket={ticket.pk}"],
    )
    page.locator("[data-testid=customer-360] [data-testid=timeline]", has_text="查看了客户的完整联系方式").wait_for()
    assert customer.phone in page.locator("[data-testid=customer-360] [data-testid=pii-phone]").inner_text()
    event = Event.objects.get(verb="customer.pii_revealed")
    assert (event.actor_id, event.customer_id) == (agent.pk, customer.pk)
    assert event.data == {"fields": ["phone"], "reason": "联系客户核实丢件"}
