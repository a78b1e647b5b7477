"""Masking per role, visibility, the timeline and the customer-360 view (fixed query count)."""

from __future__ import annotations

import pytest

from desk.core.errors import NotFound
from desk.core.testing import make_customer, make_order
from desk.customers.models import Channel
from desk.customers.queries import (
    customer_360,
    customer_timeline,
    customers_visible_to,
    get_customer_for,
    mask_address,
    mask_email,
    mask_phone,
    present_customer,
)
from desk.customers.services import add_identity, resolve_customer, update_customer
from desk.orders.services import record_shipment_event, upsert_order
from desk.tickets.models import RequestType
from desk.tickets.services import assign_ticket, create_ticket


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13800138000", "138****8000"),
        ("+8613800138000", "+86138****8000"),
        ("02161234567", "021****4567"),
        ("12345", "****45"),
        ("123", "****"),
        ("", ""),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("上海市浦东新区世纪大道100号", "上海市****"),
        ("广东省深圳市南山区科技园科苑路15号", "广东省深圳市****"),
        ("新疆维吾尔自治区乌鲁木齐市天山区解放路1号", "新疆维吾尔自治区乌鲁木齐市****"),
        ("浙江省杭州市西湖区文三路", "浙江省杭州市****"),
        ("12 Harbour Road, Wan Chai, Hong Kong", "****, Wan Chai, Hong Kong"),
        ("somewhere", "****"),
        ("", ""),
    ],
)
def test_mask_address_keeps_province_and_city(address, masked):
    assert mask_address(address) == masked


def test_mask_email_keeps_the_domain():
    assert mask_email("wangxm@example.com") == "w****@example.com"
    assert mask_email("broken") == "****"
    assert mask_email("") == ""


def test_agents_see_masked_contact_details_and_seniors_see_them_whole(agent, senior_agent, analyst):
    customer = make_customer(
        "王小明", phone="13800138000", email="wangxm@example.com", address="上海市浦东新区世纪大道100号"
    )
    add_identity(customer, Channel.PHONE, "13800138000", by=None)

    for_agent = present_customer(customer, agent)
    assert (for_agent.phone, for_agent.email, for_agent.address) == (
        "138****8000",
        "w****@example.com",
        "上海市****",
    )
    assert for_agent.identities[0].value == "138****8000"
    assert for_agent.masked
    assert present_customer(customer, analyst).phone == "138****8000"

    for_senior = present_customer(customer, senior_agent)
    assert (for_senior.phone, for_senior.address) == ("13800138000", "上海市浦东新区世纪大道100号")
    assert not for_senior.masked


def test_people_without_customer_view_see_no_customers(customer, agent, django_user_model):
    stranger = django_user_model.objects.create_user("no-profile", password="x-pass-123")
    assert customers_visible_to(agent).filter(pk=customer.pk).exists()
    assert not customers_visible_to(stranger).exists()
    with pytest.raises(NotFound):
        get_customer_for(stranger, customer.pk)
    with pytest.raises(NotFound):
        get_customer_for(agent, "abc")
    assert get_customer_for(agent, str(customer.pk)) == customer


def test_the_timeline_is_newest_first_and_only_this_customer(admin_user):
    customer = resolve_customer(Channel.PHONE, "13800138000")
    other = resolve_customer(Channel.PHONE, "13800138001")
    update_customer(customer, by=admin_user, tier="vip")
    add_identity(customer, Channel.EMAIL, "a@example.com", by=admin_user)
    update_customer(other, by=admin_user, tier="vip")

    verbs = [e.verb for e in customer_timeline(customer)]

    assert verbs == ["customer.identity_added", "customer.updated", "customer.created"]
    assert [e.verb for e in customer_timeline(customer, limit=1)] == ["customer.identity_added"]


def _order_payload(customer, n, tracking):
    return {
        "external_id": f"T-{n}",
        "customer_id": customer.pk,
        "placed_at": "2026-05-01T10:00:00+08:00",
        "recipient_phone": "13800138000",
        "shipping_address": "广东省深圳市南山区科技园1号",
        "items": [{"sku": f"SKU-{n}-{i}", "name": "耳机", "unit_price": "99"} for i in range(3)],
        "shipments": [
            {
                "carrier": "SF",
                "tracking_number": tracking,
                "events": [{"status": "in_transit", "happened_at": "2026-05-02T10:00:00+08:00"}],
            }
        ],
    }


def test_customer_360_has_orders_items_shipments_tickets_and_timeline_in_fixed_queries(
    admin_user, agent, analyst, django_assert_max_num_queries
):
    customer = resolve_customer(Channel.PHONE, "13800138000", name="王小明")
    for n in range(4):
        upsert_order(_order_payload(customer, n, f"SF{n}"), by=admin_user)
    shipment = customer.orders.get(external_id="T-3").shipments.get()
    record_shipment_event(shipment, "delivered", happened_at="2026-05-03T09:00:00+08:00")
    quality = RequestType.objects.get(code="product_quality")
    for _ in range(3):
        create_ticket(by=agent, customer=customer, subject="耳机没声音", request_type=quality)
    customer = get_customer_for(analyst, customer.pk)

    with django_assert_max_num_queries(5):  # tickets, orders, items, shipments (latest scan), timeline
        view = customer_360(customer, analyst, orders=3)
        # Touch everything a page shows: no lazy query may hide behind it.
        rendered = [
            (o.number, [i.sku for i in o.items], [(s.status, [e.status for e in s.events]) for s in o.shipments])
            for o in view.orders
        ]
        tickets = [(t.number, t.subject, t.get_status_display(), t.created_at) for t in view.tickets]  # a line each

    assert view.order_count == 4
    assert len(view.orders) == 3
    assert rendered[0][2] == [("delivered", ["delivered"])]  # the latest of its two scans, as the panel shows it
    assert all(len(items) == 3 for _n, items, _s in rendered)
    assert len(tickets) == 3
    assert view.ticket_count == 3
    assert view.orders[0].recipient_phone == "138****8000"
    assert view.orders[0].shipping_address == "广东省深圳市****"
    assert view.timeline[0].verb.startswith("ticket.") or view.timeline[0].verb.startswith("sla.")
    assert view.profile.phone == "138****8000"


def test_customer_360_only_lists_tickets_the_user_may_see(agent, outsider, analyst):
    customer = make_customer()
    make_order(customer)
    quality = RequestType.objects.get(code="product_quality")
    ticket = create_ticket(by=agent, customer=customer, subject="坏了", request_type=quality)

    assert customer_360(customer, outsider).tickets == []
    assert customer_360(customer, analyst).tickets == [ticket]


def test_the_timeline_leaves_out_tickets_the_user_may_not_open(agent, outsider, analyst, admin_user):
    customer = make_customer()
    update_customer(customer, by=admin_user, tier="vip")
    quality = RequestType.objects.get(code="product_quality")
    ticket = create_ticket(by=agent, customer=customer, subject="坏了", request_type=quality)
    assign_ticket(ticket, agent, by=agent)  # the agent takes it; the outsider's team never had it

    seen_by_outsider = customer_timeline(customer, user=outsider)
    seen_by_agent = customer_timeline(customer, user=agent)

    assert all(e.ticket_id != ticket.pk for e in seen_by_outsider)
    assert [e.verb for e in seen_by_outsider] == ["customer.updated"]  # the profile's own history stays
    assert ticket.pk in {e.ticket_id for e in seen_by_agent}
    assert ticket.pk in {e.ticket_id for e in customer_360(customer, analyst).timeline}  # view_all sees it
