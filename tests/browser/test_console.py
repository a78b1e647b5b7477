"""End-to-end flows through the agent console, in zh-hans and en, in a real browser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from desk.core.testing import make_order, request_type
from desk.orders.models import Shipment, ShipmentStatus
from desk.tickets import services
from desk.tickets.models import CannedReply, MessageKind, RoutingRule, SlaState, Status, Ticket
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk_data(seeded, support_team, agent, senior_agent, supervisor, customer):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    order = make_order(customer, items=2)
    Shipment.objects.create(order=order, carrier="顺丰速运", tracking_number="SF1029384756",
                            status=ShipmentStatus.IN_TRANSIT, shipped_at=timezone.now())  # fmt: skip
    CannedReply.objects.create(title="致歉并换新", body="{customer_name}您好，工单{ticket_number}已为您安排换新。")
    wanted = services.create_ticket(
        by=agent, customer=customer, order=order, subject="蓝牙耳机左耳没有声音",
        description="收到的耳机左耳完全没有声音，希望换新。", request_type=request_type(),
    )  # fmt: skip
    services.create_ticket(by=agent, customer=customer, subject="发票抬头写错了", request_type=request_type("invoice"))
    services.create_ticket(by=agent, customer=customer, subject="Parcel stuck in transit",
                           request_type=request_type("logistics"))  # fmt: skip
    Ticket.objects.filter(pk=wanted.pk).update(
        sla_state=SlaState.WARNING, sla_due_at=timezone.now() + timedelta(minutes=20)
    )
    return wanted


def test_agent_finds_ticket_by_chinese_keyword_replies_and_changes_status(page, live_server, desk_data, screenshot):
    ticket = desk_data
    log_in(page, live_server, "agent")
    assert page.locator("a.brand").inner_text() == "售后客服系统"

    page.fill("input[name=q]", "耳机")
    page.click("[data-testid=filters] button[type=submit]")
    rows = page.locator("[data-testid=queue] tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    assert "蓝牙耳机左耳没有声音" in rows.first.inner_text()
    screenshot(page, "queue")

    page.click(f"text={ticket.number}")
    page.wait_for_url(f"**/tickets/{ticket.pk}/")
    page.locator("[data-testid=customer-360]").wait_for()
    assert "SF1029384756" in page.locator("[data-testid=customer-360]").inner_text()

    page.select_option("[data-testid=canned]", label="致歉并换新")
    assert page.input_value("[data-testid=reply-body]") == f"王小明您好，工单{ticket.number}已为您安排换新。"
    page.fill("[data-testid=reply-body]", "您好，新耳机今天寄出，请注意查收。")
    page.click("[data-testid=send-reply]")
    page.wait_for_url(f"**/tickets/{ticket.pk}/")
    assert "您好，新耳机今天寄出" in page.locator("[data-testid=conversation]").inner_text()

    page.select_option("[data-testid=status-select]", Status.PENDING_CUSTOMER)
    page.click("[data-testid=save-ticket]")
    page.wait_for_url(f"**/tickets/{ticket.pk}/")
    assert page.locator("#live [data-testid=status]").inner_text() == "等待客户"
    screenshot(page, "ticket")

    ticket.refresh_from_db()
    assert ticket.status == Status.PENDING_CUSTOMER
    assert ticket.messages.filter(kind=MessageKind.REPLY, body__startswith="您好，新耳机").exists()

    page.click("text=打开客户")
    page.wait_for_url(f"**/customers/{ticket.customer_id}/")
    assert page.locator("[data-testid=customer-name]").inner_text() == "王小明"
    assert "SF1029384756" in page.locator("[data-testid=order]").first.inner_text()
    screenshot(page, "customer")


def test_a_colleagues_reply_appears_without_reloading(page, live_server, desk_data, senior_agent):
    ticket = desk_data
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    services.add_note(ticket, "同事备注：已联系仓库补发", by=senior_agent)
    page.locator("[data-testid=conversation]", has_text="同事备注：已联系仓库补发").wait_for(timeout=15_000)


def test_supervisor_sees_the_overview(page, live_server, desk_data, screenshot):
    log_in(page, live_server, "supervisor")
    page.click("text=总览")
    page.wait_for_url("**/overview/")
    assert page.locator("h1").inner_text() == "主管总览"
    loads = page.locator("[data-testid=agent-loads]").inner_text()
    assert "agent" in loads.lower()
    assert "售后客服组" in page.locator("[data-testid=team-sla]").inner_text()
    screenshot(page, "overview")


def test_pages_render_in_english_and_back_in_chinese(page, live_server, desk_data, screenshot):
    log_in(page, live_server, "supervisor")
    assert page.locator("[data-testid=tab-mine]").inner_text() == "我的"
    with page.expect_navigation():
        page.select_option("select[name=language]", "en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("[data-testid=tab-mine]").inner_text() == "Mine"
    assert page.locator("a.brand").inner_text() == "After-sales desk"
    page.goto(f"{live_server.url}/overview/")
    assert page.locator("h1").inner_text() == "Supervisor overview"
    screenshot(page, "overview-en")
    with page.expect_navigation():
        page.select_option("select[name=language]", "zh-hans")
    assert page.locator("h1").inner_text() == "主管总览"
