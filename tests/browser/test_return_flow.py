"""A return from request to refund, in a real browser: the customer in the portal, staff in the desk.

The customer logs in to the portal with an order number and an emailed code, asks for a return
with a photo after reading the policy's answer; an agent approves it and sends the return
instructions; the customer enters the tracking number; the warehouse receives and inspects the
parcel; finance refunds; the customer sees "refunded". All in zh-hans.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone, translation

from desk.cases.models import AfterSalesCase, CaseState, RefundStatus
from desk.cases.tests.conftest import deliver
from desk.core.testing import make_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 64 + b"\xff\xd9"
TRACKING = "SF7788990011"


@pytest.fixture
def shop(seeded, agent, warehouse_clerk, manager, customer):
    """An order of two headphones, signed for yesterday (inside the 7-day no-reason window)."""
    order = make_order(customer, items=1, unit_price="150.00", payment_reference="PAY-E2E")
    order.items.update(quantity=2)
    order.total_amount = Decimal("300.00")
    order.save(update_fields=["total_amount"])
    return deliver(order, timezone.now() - timedelta(days=1))


def zh(label) -> str:
    with translation.override("zh-hans"):
        return str(label)


def _staff(browser, live_server, username):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "desk-pass-123")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/$"))
    return page


def _customer_logs_in(page, live_server, order):
    page.goto(f"{live_server.url}/portal/")
    page.wait_for_url("**/portal/login/**")
    page.fill("[data-testid=order-number]", order.number)
    page.fill("[data-testid=contact]", order.customer.email)
    page.click("[data-testid=send-code]")
    page.wait_for_url("**/portal/login/code/")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    page.fill("[data-testid=code]", code)
    page.click("[data-testid=verify-code]")
    page.wait_for_url(re.compile(r".*/portal/$"))


def _customer_requests_a_return(page, order, screenshot):
    page.click(f"[data-testid=order-link] >> text={order.number}")
    page.wait_for_url(f"**/portal/orders/{order.pk}/")
    page.select_option("[data-testid=case-type]", "return_refund")
    page.select_option("[data-testid=reason]", "no_reason")
    page.fill("[data-testid=qty-1]", "1")
    page.locator("[data-testid=qty-1]").dispatch_event("change")
    decision = page.locator("[data-testid=decision-text]")
    decision.wait_for()
    delivered = timezone.localtime(order.shipments.get().delivered_at).date().isoformat()
    assert delivered in decision.inner_text()
    assert "无理由" in decision.inner_text()
    assert decision.inner_text().endswith("— 允许")  # the 7-day no-reason return is open
    page.fill("[data-testid=description]", "尺码不合适，想退货。")
    page.set_input_files("[data-testid=photos]", files=[{"name": "耳机.jpg", "mimeType": "image/jpeg", "buffer": JPEG}])
    screenshot(page, "portal-request")
    page.click("[data-testid=submit-request]")
    page.wait_for_url(re.compile(r".*/portal/cases/\d+/$"))
    return AfterSalesCase.objects.get(order=order)


def test_a_return_from_the_portal_to_the_refund(page, browser, live_server, shop, screenshot):
    order = shop
    _customer_logs_in(page, live_server, order)
    case = _customer_requests_a_return(page, order, screenshot)
    assert page.locator("[data-testid=case-state]").inner_text() == zh(CaseState.REQUESTED.label)
    assert "耳机.jpg" in page.locator("[data-testid=evidence]").inner_text()
    assert case.evidence.get().source == "customer"

    # The agent approves and sends the return instructions from the case page.
    desk = _staff(browser, live_server, "agent")
    desk.goto(f"{live_server.url}/cases/{case.number}/")
    desk.click("[data-action=approve_case]")
    form = desk.locator("[data-testid=form-send_return_instructions]")
    form.wait_for()
    form.locator("[name=address]").fill("上海市青浦区华新镇退货仓1号")
    form.locator("[name=contact]").fill("退货组")
    form.locator("[name=phone]").fill("021-5555-0101")
    form.locator("[name=packing]").fill("请保留原包装和配件")
    form.locator("[data-action=send_return_instructions]").click()
    desk.locator("[data-testid=case-state]").filter(has_text=zh(CaseState.AWAITING_RETURN.label)).wait_for()
    desk.context.close()

    # The customer reads the instructions and enters the tracking number.
    page.reload()
    assert "上海市青浦区华新镇退货仓1号" in page.locator("[data-testid=return-instructions]").inner_text()
    page.fill("[data-testid=carrier]", "顺丰速运")
    page.fill("[data-testid=tracking-number]", TRACKING)
    page.click("[data-testid=save-tracking]")
    page.locator("[data-testid=return-parcel]").wait_for()
    assert page.locator("[data-testid=case-state]").inner_text() == zh(CaseState.RETURNING.label)

    # The warehouse scans the parcel, receives it and records the inspection.
    warehouse = _staff(browser, live_server, "warehouse")
    warehouse.goto(f"{live_server.url}/cases/warehouse/")
    warehouse.fill("[data-testid=scan]", TRACKING)
    warehouse.click("[data-action=find]")
    warehouse.click("[data-testid=found-case] [data-action=receive_return]")
    inspect = warehouse.locator("[data-testid=form-inspect_return]")
    inspect.wait_for()
    inspect.locator("[name=grade]").select_option("A")
    inspect.locator("[name=complete]").check()
    inspect.locator("[name=original]").check()
    inspect.locator("[data-action=inspect_return]").click()
    warehouse.locator("[data-testid=case-state]").filter(has_text=zh(CaseState.INSPECTED.label)).first.wait_for()
    warehouse.context.close()

    # Finance starts the refund; the simulated provider pays it.
    finance = _staff(browser, live_server, "manager")
    finance.goto(f"{live_server.url}/cases/refunds/")
    ready = finance.locator("[data-testid=ready] tr", has_text=case.number)
    ready.locator("[data-action=start_refund]").click()
    finance.wait_for_load_state()
    finance.context.close()

    # The customer sees the refund.
    page.reload()
    assert page.locator("[data-testid=case-state]").inner_text() == zh(CaseState.REFUNDED.label)
    assert "150.00" in page.locator("[data-testid=refund-amount]").inner_text()
    screenshot(page, "portal-return-refunded")

    case.refresh_from_db()
    assert case.state == CaseState.REFUNDED
    assert case.return_tracking_number == TRACKING
    assert case.refunds.get().status == RefundStatus.CONFIRMED


def test_the_portal_fits_a_phone_screen(browser, live_server, shop, screenshot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    phone = context.new_page()
    phone.set_default_timeout(15_000)
    _customer_logs_in(phone, live_server, shop)
    for path in ("/portal/", f"/portal/orders/{shop.pk}/"):
        phone.goto(f"{live_server.url}{path}")
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    screenshot(phone, "portal-order-phone")
    context.close()
