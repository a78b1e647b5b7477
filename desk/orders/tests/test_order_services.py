"""Orders from the shop: idempotent upsert, per-row batches, all-or-nothing orders, shipment history."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event
from desk.customers.models import Channel, Customer
from desk.customers.queries import customer_timeline
from desk.customers.services import add_identity, resolve_customer
from desk.orders.models import Order, OrderItem, Shipment, ShipmentEvent, Storefront
from desk.orders.services import record_shipment_event, upsert_order, upsert_order_row, upsert_orders


def order_data(n: int = 1, **overrides):
    data = {
        "external_id": f"TM-{n}",
        "number": f"SO{n:06d}",
        "storefront": "tmall",
        "storefront_name": "天猫旗舰店",
        "customer": {"external_id": "C-1", "name": "王小明", "phone": "13800138000"},
        "status": "shipped",
        "placed_at": "2026-05-01 10:00:00",
        "paid_at": "2026-05-01T10:02:00+08:00",
        "shipping_fee": "10",
        "items": [
            {"sku": "BT-100", "name": "蓝牙耳机", "model": "BT-100", "unit_price": "199.00", "quantity": 2},
            {"sku": "CASE-1", "name": "耳机壳", "unit_price": 29.9},
        ],
        "shipments": [
            {
                "carrier": "顺丰",
                "tracking_number": f"SF{n:010d}",
                "shipped_at": "2026-05-01T18:00:00+08:00",
                "events": [{"status": "in_transit", "happened_at": "2026-05-01T20:00:00+08:00", "location": "上海"}],
            }
        ],
    }
    data.update(overrides)
    return data


def test_upsert_creates_order_items_shipment_customer_and_storefront(manager):
    order = upsert_order(order_data(), by=manager)

    assert order.number == "SO000001"
    assert order.status == "shipped"
    assert order.storefront.code == "tmall"
    assert order.storefront.name == "天猫旗舰店"
    assert order.customer.external_id == "C-1"
    assert order.customer.phone == "13800138000"
    assert order.total_amount == Decimal("437.90")  # 2 × 199 + 29.90 + 10 shipping
    assert order.placed_at == datetime(2026, 5, 1, 2, tzinfo=UTC)  # no zone given: shop time, Asia/Shanghai
    assert list(order.items.values_list("sku", "quantity")) == [("BT-100", 2), ("CASE-1", 1)]
    shipment = order.shipments.get()
    assert shipment.status == "in_transit"
    assert shipment.events.count() == 1
    event = Event.objects.get(verb="order.imported")
    assert event.customer_id == order.customer_id
    assert event.subject_id == order.pk
    assert event.actor == manager
    # The customer's timeline shows the import, newest first, after the customer's creation.
    assert [e.verb for e in customer_timeline(order.customer)] == ["order.imported", "customer.created"]


def test_same_payload_twice_leaves_one_order_and_records_one_import(manager):
    first, action1 = upsert_order_row(order_data(), by=manager)
    first.refresh_from_db()
    second, action2 = upsert_order_row(order_data(), by=manager)

    assert (action1, action2) == ("created", "unchanged")
    assert second.pk == first.pk
    assert (Order.objects.count(), OrderItem.objects.count(), Shipment.objects.count()) == (1, 2, 1)
    assert ShipmentEvent.objects.count() == 1
    assert Customer.objects.count() == 1
    assert Event.objects.filter(verb="order.imported").count() == 1
    assert not Event.objects.filter(verb="order.updated").exists()
    assert Order.objects.get().updated_at == first.updated_at


def test_a_changed_payload_updates_the_order_once_and_keeps_item_rows(manager):
    order = upsert_order(order_data(), by=manager)
    earbuds = order.items.get(sku="BT-100")
    changed = order_data(status="delivered")
    changed["items"] = [{**changed["items"][0], "quantity": 3}]
    changed["shipments"][0]["events"].append({"status": "delivered", "happened_at": "2026-05-03T09:00:00+08:00"})

    order, action = upsert_order_row(changed, by=manager)

    assert action == "updated"
    assert list(order.items.values_list("pk", "quantity")) == [(earbuds.pk, 3)]
    shipment = order.shipments.get()
    assert shipment.status == "delivered"
    assert shipment.delivered_at is not None
    updated = Event.objects.get(verb="order.updated")
    assert updated.before["status"] == "shipped"
    assert updated.after["status"] == "delivered"
    assert updated.customer_id == order.customer_id
    assert "items" in updated.after


def test_customer_found_by_identity_when_no_external_id(manager):
    known = resolve_customer(Channel.PHONE, "13900000000", name="李雷")
    add_identity(known, Channel.EMAIL, "lilei@example.com", by=None)

    by_email = upsert_order(order_data(1, customer={"email": "LiLei@example.com"}), by=manager)
    by_new_phone = upsert_order(order_data(2, customer={"phone": "13700000000", "name": "韩梅梅"}), by=manager)

    assert by_email.customer_id == known.pk
    assert by_new_phone.customer.name == "韩梅梅"
    assert by_new_phone.customer.identities.filter(channel="phone", value="13700000000").exists()


def test_an_agent_may_not_import_orders(agent):
    with pytest.raises(Forbidden):
        upsert_order(order_data(), by=agent)
    with pytest.raises(Forbidden):
        upsert_orders([order_data()], by=agent)
    assert not Order.objects.exists()
    assert Event.objects.filter(verb="permission.denied", actor=agent).count() == 2


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"placed_at": "yesterday"}, "placed_at", "invalid_datetime"),
        ({"status": "lost"}, "status", "invalid_choice"),
        ({"items": []}, "items", "required"),
        ({"customer": {"name": "nobody"}}, "customer", "order.no_customer"),
        ({"customer": {"phone": "13800138000", "email": "bad"}}, "customer.email", "invalid_email"),
        ({"customer_id": 999999, "customer": None}, "customer_id", "order.unknown_customer"),
        ({"storefront": "天猫"}, "storefront", "invalid_code"),
        ({"shipping_fee": "-1"}, "shipping_fee", "out_of_range"),
        ({"colour": "red"}, "colour", "unknown_field"),
        ({"external_id": " "}, "external_id", "required"),
    ],
)
def test_bad_orders_are_refused_with_the_field_named(manager, change, field, code):
    with pytest.raises(ValidationFailed) as error:
        upsert_order(order_data(**change), by=manager)
    assert (error.value.field, error.value.code) == (field, code)
    assert not Order.objects.exists()
    assert not Customer.objects.exists()


def test_bad_item_and_shipment_fields_are_named_by_position(manager):
    data = order_data()
    data["items"][1]["quantity"] = "two"
    with pytest.raises(ValidationFailed) as item:
        upsert_order(data, by=manager)
    assert item.value.field == "items[2].quantity"
    data = order_data()
    data["shipments"][0]["events"][0]["status"] = "teleported"
    with pytest.raises(ValidationFailed) as scan:
        upsert_order(data, by=manager)
    assert scan.value.field == "shipments[1].events[1].status"


def test_batch_imports_good_rows_and_reports_bad_ones_with_row_and_reason(manager):
    bad_item = order_data(2)
    bad_item["items"][1]["unit_price"] = "abc"
    rows = [order_data(1), bad_item, order_data(3, placed_at=""), order_data(4), "not an order"]

    result = upsert_orders(rows, by=manager)

    assert [r.action for r in result.results] == ["created", "failed", "failed", "created", "failed"]
    errors = {r.row: r.error for r in result.failed}
    assert errors[2]["field"] == "items[2].unit_price"
    assert errors[2]["code"] == "invalid_number"
    assert errors[3]["field"] == "placed_at"
    assert errors[5]["code"] == "import.not_an_object"
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["TM-1", "TM-4"]
    # The order with one bad item wrote nothing: no order, no items, no shipment, no event.
    assert not Shipment.objects.filter(tracking_number="SF0000000002").exists()
    assert OrderItem.objects.count() == 4
    assert Event.objects.filter(verb="order.imported").count() == 2


def test_a_batch_sent_twice_is_idempotent(manager):
    rows = [order_data(n) for n in range(1, 4)]
    upsert_orders(rows, by=manager)
    again = upsert_orders(copy.deepcopy(rows), by=manager)
    assert [r.action for r in again.results] == ["unchanged"] * 3
    assert Order.objects.count() == 3
    assert Storefront.objects.count() == 1
    assert Customer.objects.count() == 1


def test_record_shipment_event_moves_status_and_records_it_once(manager):
    order = upsert_order(order_data(), by=manager)
    shipment = order.shipments.get()

    record_shipment_event(shipment, "delivered", happened_at="2026-05-03T09:00:00+08:00", location="上海")
    record_shipment_event(shipment, "delivered", happened_at="2026-05-03T09:00:00+08:00", location="上海")
    # A late scan from before delivery does not move the status back.
    record_shipment_event(shipment, "out_for_delivery", happened_at="2026-05-03T07:00:00+08:00")

    shipment.refresh_from_db()
    assert shipment.status == "delivered"
    assert shipment.delivered_at == datetime(2026, 5, 3, 1, tzinfo=UTC)
    assert list(shipment.events.values_list("status", flat=True)) == ["in_transit", "out_for_delivery", "delivered"]
    changed = Event.objects.filter(verb="shipment.status_changed")
    assert changed.count() == 1
    assert changed.get().customer_id == order.customer_id


def test_record_shipment_event_checks_status_and_permission(manager, agent):
    shipment = upsert_order(order_data(), by=manager).shipments.get()
    with pytest.raises(ValidationFailed):
        record_shipment_event(shipment, "vanished")
    with pytest.raises(Forbidden):
        record_shipment_event(shipment, "delivered", by=agent)
