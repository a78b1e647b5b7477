"""The repair, reship and stock API over real HTTP, and the tracking-number filter of the case list."""

from __future__ import annotations

from typing import Any

import pytest

from desk.accounts.models import Role
from desk.cases import services_exchange as exchange
from desk.cases.models import CaseType, Reason, ServiceMode, Stock, StockMovement
from desk.cases.tests.conftest import at
from desk.cases.tests.test_api import Api, error, ok, opened
from desk.core.models import Event
from desk.core.testing import make_staff

CHARGER = "BT-100-CHG"


@pytest.fixture
def tech(db: Any) -> Any:
    return make_staff("tech", Role.TECH_SUPPORT)


def open_repair(api: Api, order: Any, mode: str) -> str:
    fields = {"type": CaseType.REPAIR, "reason": Reason.QUALITY, "serial_number": "SN-A1B2C3D4", "service_mode": mode}
    return str(opened(api, order, 1, **fields)["number"])


# --- Repair ------------------------------------------------------------------------------------------------
def test_an_on_site_repair_over_the_api(
    delivered_order: Any, client: Any, agent: Any, tech: Any, time_machine: Any
) -> None:
    desk, technician = Api(client, agent), Api(client, tech)
    number = open_repair(desk, delivered_order, ServiceMode.ON_SITE)
    case = ok(desk.get(f"/{number}"))
    assert (case["repair"]["service_mode"], case["repair"]["in_warranty"]) == ("on_site", True)
    ok(desk.post(f"/{number}/approve"))
    past = error(desk.post(f"/{number}/arrange-service", {"address": "客户家"}), 400)
    assert past["code"] == "repair.bad_appointment"
    visit = at(13, 14)
    case = ok(desk.post(f"/{number}/arrange-service", {"address": "上海市徐汇区漕溪北路 1 号",
                                                        "appointment_at": visit.isoformat()}))  # fmt: skip
    assert case["state"] == "scheduled"
    assert "ship-unit" in case["allowed_actions"]
    parcel = error(desk.post(f"/{number}/ship-unit", {"carrier": "SF", "tracking_number": "SF1"}), 400)
    assert parcel["code"] == "repair.not_mail_in"

    time_machine.move_to(visit, tick=False)
    assert error(desk.post(f"/{number}/start-diagnosis"), 403)["code"] == "permission.denied"
    case = ok(technician.post(f"/{number}/start-diagnosis"))
    assert case["state"] == "diagnosing"
    case = ok(technician.post(f"/{number}/diagnosis", {"diagnosis": "电源接口松动"}))
    assert case["state"] == "repairing"
    case = ok(technician.post(f"/{number}/repair-result", {"result": "repaired", "notes": "更换电源接口"}))
    assert (case["state"], case["allowed_actions"]) == ("repaired", ["complete", "ship-back"])
    missing = error(desk.post(f"/{number}/complete"), 400)
    assert (missing["code"], missing["field"]) == ("repair.no_visit_result", "visit_result")
    case = ok(desk.post(f"/{number}/complete", {"visit_result": "现场修复，客户签字确认"}))
    assert (case["state"], case["close_reason"], case["allowed_actions"]) == ("completed", "repaired", [])
    repair = case["repair"]
    assert (repair["visit_result"], repair["diagnosis"], repair["back_tracking_number"]) == (
        "现场修复，客户签字确认", "电源接口松动", "",
    )  # fmt: skip
    assert repair["appointment_at"] is not None


def test_a_mail_in_repair_over_the_api_is_shipped_back_before_it_completes(
    delivered_order: Any, client: Any, agent: Any, tech: Any
) -> None:
    desk, technician = Api(client, agent), Api(client, tech)
    number = open_repair(desk, delivered_order, ServiceMode.MAIL_IN)
    ok(desk.post(f"/{number}/approve"))
    ok(desk.post(f"/{number}/arrange-service", {"address": "上海市维修中心 1 号"}))
    assert error(desk.post(f"/{number}/ship-unit", {"carrier": "SF", "tracking_number": " "}), 400)
    case = ok(desk.post(f"/{number}/ship-unit", {"carrier": "顺丰速运", "tracking_number": "SF777"}))
    assert (case["repair"]["inbound_carrier"], case["repair"]["inbound_tracking_number"]) == ("顺丰速运", "SF777")
    found = ok(desk.get("", tracking="SF777"))["items"]
    assert [c["number"] for c in found] == [number]  # the warehouse finds the incoming unit by its parcel

    ok(technician.post(f"/{number}/start-diagnosis"))
    case = ok(technician.post(f"/{number}/diagnosis", {"diagnosis": "左耳喇叭虚焊"}))
    assert case["repair"]["diagnose_by"] is not None
    bad = error(technician.post(f"/{number}/repair-result", {"result": "cannot_repair"}), 400)
    assert bad["code"] == "repair.bad_offer"
    ok(technician.post(f"/{number}/repair-result", {"result": "repaired"}))
    not_back = error(desk.post(f"/{number}/complete", {"visit_result": "已修好"}), 400)
    assert not_back["code"] == "repair.not_shipped_back"
    case = ok(desk.post(f"/{number}/ship-back", {"carrier": "SF", "tracking_number": "SF901"}))
    assert case["state"] == "shipped_back"
    case = ok(client.post(f"/api/cases/{number}/complete", "", content_type="application/json", headers=desk.headers))
    assert (case["state"], case["repair"]["back_tracking_number"]) == ("completed", "SF901")
    assert error(desk.post(f"/{number}/complete"), 409)["code"] == "case.illegal_transition"


# --- Reship --------------------------------------------------------------------------------------------------
def test_a_reship_over_the_api(delivered_order: Any, client: Any, agent: Any, warehouse_clerk: Any) -> None:
    exchange.restock_sku(CHARGER, by=warehouse_clerk, quantity=10, name="充电线", model="BT-100")
    desk, warehouse = Api(client, agent), Api(client, warehouse_clerk)
    number = opened(desk, delivered_order, 1, type=CaseType.RESHIP, reason=Reason.MISSING_PART)["number"]
    ok(desk.post(f"/{number}/approve"))
    short = error(desk.post(f"/{number}/reserve", {"replacements": [{"sku": CHARGER, "quantity": 11}]}), 409)
    assert short["code"] == "stock.insufficient"
    unknown = error(desk.post(f"/{number}/reserve", {"replacements": [{"sku": "NOPE", "quantity": 1}]}), 400)
    assert unknown["code"] == "stock.unknown_sku"
    case = ok(desk.post(f"/{number}/reserve", {"replacements": [{"sku": CHARGER, "quantity": 2}]}))
    assert case["state"] == "replacement_reserved"
    assert [(r["sku"], r["quantity"], r["status"]) for r in case["replacements"]] == [(CHARGER, 2, "reserved")]
    assert ok(warehouse.get("", tracking="ZT100"))["items"] == []
    case = ok(warehouse.post(f"/{number}/ship-replacement", {"carrier": "ZTO", "tracking_number": "ZT100"}))
    assert (case["state"], case["replacements"][0]["tracking_number"]) == ("replacement_shipped", "ZT100")
    assert [c["number"] for c in ok(warehouse.get("", tracking="ZT100"))["items"]] == [number]
    case = ok(desk.post(f"/{number}/replacement-delivered"))
    assert case["replacements"][0]["status"] == "delivered"
    case = ok(desk.post(f"/{number}/complete"))
    assert case["state"] == "completed"
    row = Stock.objects.get(sku=CHARGER)
    assert (row.on_hand, row.reserved) == (8, 0)


# --- The tracking-number filter of the case list -------------------------------------------------------------
def test_the_case_list_filters_by_a_return_parcels_tracking_number(
    delivered_order: Any, client: Any, agent: Any
) -> None:
    desk = Api(client, agent)
    first = opened(desk, delivered_order, 1)["number"]
    second = opened(desk, delivered_order, 0, 1)["number"]
    for number, tracking in ((first, "SF100"), (second, "SF200")):
        ok(desk.post(f"/{number}/approve"))
        ok(desk.post(f"/{number}/return-instructions", {"address": "上海市青浦区退货仓", "contact": "退货组",
                                                        "phone": "021-1234"}))  # fmt: skip
        ok(desk.post(f"/{number}/return-shipment", {"carrier": "SF", "tracking_number": tracking}))
    assert [c["number"] for c in ok(desk.get("", tracking=" SF200 "))["items"]] == [second]
    assert [c["number"] for c in ok(desk.get("", tracking="SF100", state="returning"))["items"]] == [first]
    assert ok(desk.get("", tracking="SF1"))["items"] == []  # exact, not a prefix
    assert len(ok(desk.get(""))["items"]) == 2
    assert error(desk.get("", tracking="x" * 65), 400)["field"] == "tracking"


# --- Stock ---------------------------------------------------------------------------------------------------
def test_stock_levels_are_read_page_by_page_and_by_sku(db: Any, client: Any, warehouse_clerk: Any, agent: Any) -> None:
    for n in range(5):
        exchange.restock_sku(f"SKU-{n}", by=warehouse_clerk, quantity=n + 1, name=f"商品{n}", model="M1")
    exchange.restock_sku("CABLE-1", by=warehouse_clerk, quantity=3, name="充电线", model="C9")
    clerk = Api(client, warehouse_clerk)

    def stock(path: str = "", **params: Any) -> Any:
        return client.get(f"/api/stock{path}", params, headers=clerk.headers)

    first = ok(stock(limit=4))
    assert [r["sku"] for r in first["items"]] == ["CABLE-1", "SKU-0", "SKU-1", "SKU-2"]
    assert first["next_offset"] == 4
    rest = ok(stock(limit=4, offset=4))
    assert ([r["sku"] for r in rest["items"]], rest["next_offset"]) == (["SKU-3", "SKU-4"], None)
    [row] = ok(stock(sku="SKU-3"))["items"]
    assert (row["on_hand"], row["reserved"], row["available"], row["returned_a"]) == (4, 0, 4, 0)
    assert ok(stock(sku="SKU"))["items"] == []  # exact
    assert [r["sku"] for r in ok(stock(q="c9"))["items"]] == ["CABLE-1"]  # name or model search
    assert ok(stock("/CABLE-1"))["name"] == "充电线"
    assert error(stock("/NOPE"), 404)["code"] == "stock.unknown_sku"
    # Agents handle cases but not the warehouse: refused, and the refusal recorded.
    assert client.get("/api/stock", headers=Api(client, agent).headers).status_code == 403


def test_goods_arrive_and_grade_a_returns_go_back_on_sale_over_the_api(
    db: Any, client: Any, warehouse_clerk: Any, agent: Any
) -> None:
    clerk, desk = Api(client, warehouse_clerk), Api(client, agent)

    def post(api: Api, verb: str, body: dict[str, Any]) -> Any:
        return client.post(f"/api/stock/{verb}", body, content_type="application/json", headers=api.headers)

    row = ok(post(clerk, "restock", {"sku": " NEW-1 ", "quantity": 6, "name": "耳机", "model": "BT-200",
                                      "spec": "白色", "note": "到货单 88"}))  # fmt: skip
    assert (row["sku"], row["on_hand"], row["model"], row["spec"]) == ("NEW-1", 6, "BT-200", "白色")
    restocked = Event.objects.get(verb="stock.restock")
    assert (restocked.actor, restocked.data) == (warehouse_clerk, {"sku": "NEW-1", "quantity": 6, "note": "到货单 88"})
    assert error(post(clerk, "restock", {"sku": "NEW-1", "quantity": 0}), 400)["field"] == "quantity"
    assert post(desk, "restock", {"sku": "NEW-1", "quantity": 1}).status_code == 403
    assert Event.objects.filter(verb="permission.denied", data__action="stock.manage").count() == 1

    Stock.objects.filter(sku="NEW-1").update(returned_a=2)  # two resaleable returns came back from inspection
    too_many = error(post(clerk, "resell", {"sku": "NEW-1", "quantity": 3}), 409)
    assert too_many["code"].startswith("stock.")
    row = ok(post(clerk, "resell", {"sku": "NEW-1", "quantity": 2}))
    assert (row["on_hand"], row["returned_a"]) == (8, 0)
    resold = Event.objects.get(verb="stock.resell")
    assert (resold.before, resold.after) == ({"on_hand": 6, "returned_a": 2}, {"on_hand": 8, "returned_a": 0})
    assert error(post(clerk, "resell", {"sku": "NOPE", "quantity": 1}), 400)["code"] == "stock.unknown_sku"
    assert post(desk, "resell", {"sku": "NEW-1", "quantity": 1}).status_code == 403
    kinds = StockMovement.objects.filter(stock__sku="NEW-1").order_by("pk").values_list("kind", flat=True)
    assert list(kinds) == ["restock", "resell"]
