"""The carriers' tracking push over HTTP: order shipments, return parcels and replacement parcels."""

from __future__ import annotations

from typing import Any

import pytest

from desk.accounts.models import Role
from desk.accounts.services import issue_token
from desk.cases import services
from desk.cases import services_exchange as exchange
from desk.cases.models import ExchangeMode, ReplacementStatus
from desk.cases.tests.conftest import error, ok, open_return
from desk.cases.tests.test_exchange import BACK_TO, open_exchange, sku, vip_order  # noqa: F401  fixtures
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.orders.models import Shipment, ShipmentStatus

URL = "/api/tracking/scans"


def push(client: Any, user: Any, **body: Any) -> Any:
    _, key = issue_token(user, "carrier feed", by=user)
    return client.post(URL, body, content_type="application/json", headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def feed(db: Any) -> Any:
    return make_staff("carrier-feed", Role.INTEGRATION)


def scans(case: Any, verb: str = "case.return_scanned") -> list[tuple[str, str]]:
    found = Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk, verb=verb).order_by("id")
    return [(e.data["status"], e.data["location"]) for e in found]


def test_a_return_parcel_is_tracked_on_its_case(client, step, delivered_order, agent, feed):
    case = step(services.approve_case, open_return(step, delivered_order), by=agent)
    case = step(services.send_return_instructions, case, by=agent, address="上海市嘉定区仓库路1号",
                contact="退货组", phone="021-5555", packing="原包装")  # fmt: skip
    case = step(services.record_return_shipment, case, carrier="SF", tracking_number="SF9001")
    scan = {"tracking_number": "SF9001", "status": "in_transit", "happened_at": "2026-11-12T15:00:00+08:00",
            "location": "上海转运中心"}  # fmt: skip
    assert ok(push(client, feed, **scan)) == {"shipments": [], "replacements": [], "returns": [case.number]}
    ok(push(client, feed, **scan))  # the carrier retries its push: still one scan
    ok(push(client, feed, **scan | {"status": "delivered", "location": "嘉定仓"}))
    assert scans(case) == [("in_transit", "上海转运中心"), ("delivered", "嘉定仓")]


def test_an_order_shipment_takes_the_scan_into_its_history(client, delivered_order, feed):
    shipment = Shipment.objects.create(order=delivered_order, carrier="SF", tracking_number="SF5005")
    body = ok(push(client, feed, tracking_number="SF5005", status="out_for_delivery", location="浦东"))
    assert body["shipments"] == [shipment.pk]
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY
    assert list(shipment.events.values_list("location", flat=True)) == ["浦东"]


def test_a_delivered_replacement_is_marked_delivered(client, vip_order, sku, agent, warehouse_clerk, feed):  # noqa: F811
    case = exchange.reserve_replacement(open_exchange(vip_order, agent), by=agent, mode=ExchangeMode.SHIP_FIRST)
    case = exchange.ship_replacement(case, by=warehouse_clerk, carrier="SF", tracking_number="SF778", **BACK_TO)
    ok(push(client, feed, tracking_number="SF778", status="in_transit", location="杭州"))
    assert scans(case, "case.replacement_scanned") == [("in_transit", "杭州")]
    body = ok(push(client, feed, tracking_number="SF778", status="delivered"))
    assert body["replacements"] == [case.number]
    assert case.replacements.get().status == ReplacementStatus.DELIVERED


def test_unknown_numbers_bad_statuses_and_roles_without_the_grant_are_refused(client, agent, feed, db):
    assert error(push(client, feed, tracking_number="NOPE1", status="in_transit"), 404)["code"] == "parcel.not_found"
    assert error(push(client, feed, tracking_number="SF1", status="teleported"), 400)["field"] == "status"
    assert error(push(client, agent, tracking_number="SF1", status="in_transit"), 403)["code"] == "permission.denied"
