"""The API of the other case types over real HTTP: exchange, compensation, disputes and confirmations."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from desk.cases import services_exchange as exchange
from desk.cases.models import CaseType, PolicyVersion, Reason
from desk.cases.tests.test_api import Api, error, ok, opened
from desk.customers.models import Tier


def test_a_ship_first_exchange_over_the_api(
    delivered_order: Any, client: Any, agent: Any, warehouse_clerk: Any, time_machine: Any
) -> None:
    delivered_order.customer.tier = Tier.VIP
    delivered_order.customer.save(update_fields=["tier"])
    sku = str(delivered_order.items.order_by("pk").first().sku)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=5, model="BT-100", spec="black")
    desk, warehouse = Api(client, agent), Api(client, warehouse_clerk)
    number = opened(desk, delivered_order, 1, type=CaseType.EXCHANGE, reason=Reason.QUALITY)["number"]
    ok(desk.post(f"/{number}/approve"))
    case = ok(desk.post(f"/{number}/reserve", {"mode": "ship_first"}))
    assert (case["state"], case["allowed_actions"]) == ("replacement_reserved", ["ship-replacement", "withdraw"])
    assert [(r["sku"], r["status"]) for r in case["replacements"]] == [(sku, "reserved")]
    missing = error(warehouse.post(f"/{number}/ship-replacement", {"carrier": "SF", "tracking_number": "SF1"}), 400)
    assert missing["code"] == "case.no_return_address"
    body = {"carrier": "SF", "tracking_number": "SF778", "return_address": "上海市嘉定区仓库路1号",
            "return_contact": "换货组", "return_phone": "021-5555"}  # fmt: skip
    case = ok(warehouse.post(f"/{number}/ship-replacement", body))
    assert case["state"] == "replacement_shipped"
    assert case["replacements"][0]["tracking_number"] == "SF778"
    assert case["return_instructions"]["address"] == "上海市嘉定区仓库路1号"
    assert "return-shipment" in case["allowed_actions"]
    assert error(desk.post(f"/{number}/complete"), 409)["code"] == "case.illegal_transition"
    early = error(desk.post(f"/{number}/settle-unreturned", {"outcome": "charge"}), 409)
    assert early["code"] == "exchange.return_not_overdue"
    assert error(desk.post(f"/{number}/extend-return", {"days": 99}), 400)["field"] == "days"
    case = ok(desk.post(f"/{number}/extend-return", {"days": 2, "note": "客户出差"}))
    assert case["state"] == "replacement_shipped"
    time_machine.shift(timedelta(days=2, minutes=1))
    exchange.expire_unreturned_exchanges()
    assert "settle-unreturned" in ok(desk.get(f"/{number}"))["allowed_actions"]
    assert error(desk.post(f"/{number}/settle-unreturned", {"outcome": "keep"}), 400)["field"] == "outcome"
    case = ok(desk.post(f"/{number}/settle-unreturned", {"outcome": "write_off", "note": "货值低"}))
    assert (case["state"], case["close_reason"]) == ("closed", "return_written_off")


def test_a_compensation_case_over_the_api(delivered_order: Any, client: Any, agent: Any) -> None:
    desk = Api(client, agent)
    case = opened(desk, delivered_order, type=CaseType.COMPENSATION, reason=Reason.OTHER, reason_text="发货延迟 5 天")
    number = case["number"]
    assert case["items"] == []
    case = desk.post(f"/{number}/compensations", {"kind": "coupon", "amount": "15.00", "reason": "发货延迟补偿"})
    assert case.status_code == 201, case.content
    [grant] = case.json()["compensations"]
    assert (grant["kind"], grant["status"], grant["amount"]) == ("coupon", "proposed", "15.00")
    ok(desk.post(f"/{number}/compensations/{grant['id']}/approve"))
    assert error(desk.post(f"/{number}/compensations/{grant['id']}/issue"), 400)["code"] == "compensation.no_reference"
    case = ok(desk.post(f"/{number}/compensations/{grant['id']}/issue", {"reference": "CPN-2026-8888"}))
    assert case["compensations"][0]["status"] == "issued"
    assert case["state"] == "completed"
    assert error(desk.post(f"/{number}/compensations/999999/approve"), 404)["code"] == "compensation.not_found"
    bad_kind = desk.post(f"/{number}/compensations", {"kind": "coupon", "amount": "-1", "reason": "x"})
    assert error(bad_kind, 400)["field"] == "amount"


def test_a_dispute_and_a_proposal_over_the_api(
    delivered_order: Any, client: Any, agent: Any, senior_agent: Any
) -> None:
    desk, senior = Api(client, agent), Api(client, senior_agent)
    number = opened(desk, delivered_order, 1)["number"]
    case = senior.post(f"/{number}/disputes", {"tier": "minor", "summary": "客户不认可质检结论"})
    assert case.status_code == 201, case.content
    [dispute] = case.json()["disputes"]
    assert (dispute["tier"], dispute["status"]) == ("minor", "open")
    case = ok(senior.post(f"/{number}/disputes/{dispute['id']}/resolve", {"outcome": "补偿优惠券，客户接受"}))
    assert case["disputes"][0]["status"] == "resolved"
    assert error(senior.post(f"/{number}/disputes/{dispute['id'] + 1}/resolve", {"outcome": "x"}), 404)["code"] == (
        "dispute.not_found"
    )

    proposal = {"kind": "return_refund", "summary": "退货退款 142.50 元", "reason": "质量问题"}
    created = desk.post(f"/{number}/proposals", proposal)
    assert created.status_code == 201, created.content
    [offered] = created.json()["proposals"]
    case = ok(desk.post(f"/{number}/proposals/{offered['id']}/accept", {"channel": "email",
                                                                        "confirmation_text": "同意"}))  # fmt: skip
    assert (case["proposals"][0]["status"], case["proposals"][0]["channel"]) == ("accepted", "email")


def test_guidance_is_given_and_resolves_the_case(delivered_order: Any, client: Any, agent: Any) -> None:
    desk = Api(client, agent)
    number = opened(desk, delivered_order, 1, type=CaseType.GUIDANCE, reason=Reason.QUALITY)["number"]
    case = ok(desk.post(f"/{number}/guidance", {"text": "长按电源键 10 秒重置配对", "article": "KB-12"}))
    assert case["state"] == "guided"
    assert {"guidance", "resolve", "convert"} <= set(case["allowed_actions"])
    assert ok(desk.post(f"/{number}/resolve", {"note": "客户确认已恢复"}))["state"] == "resolved"


def test_evidence_is_uploaded_and_withdrawn(delivered_order: Any, client: Any, agent: Any) -> None:
    desk = Api(client, agent)
    number = opened(desk, delivered_order, 1, reason=Reason.DAMAGED)["number"]
    photo = SimpleUploadedFile("破损.jpg", b"\xff\xd8\xff\xe0 a damaged box", content_type="image/jpeg")
    response = client.post(f"/api/cases/{number}/evidence", {"file": photo, "description": "外箱破损"},
                           headers=desk.headers)  # fmt: skip
    assert response.status_code == 201, response.content
    [evidence] = response.json()["evidence"]
    assert (evidence["original_name"], evidence["description"], len(evidence["sha256"])) == ("破损.jpg", "外箱破损", 64)
    script = SimpleUploadedFile("setup.exe", b"MZ...", content_type="application/x-msdownload")
    refused = client.post(f"/api/cases/{number}/evidence", {"file": script}, headers=desk.headers)
    assert refused.status_code == 400, refused.content
    case = ok(desk.post(f"/{number}/evidence/{evidence['id']}/withdraw", {"reason": "传错了"}))
    assert case["evidence"][0]["withdrawn_at"] is not None


def test_a_shipping_insurance_claim_is_filed_and_paid(
    delivered_order: Any, client: Any, agent: Any, manager: Any
) -> None:
    PolicyVersion.objects.update(shipping_insurance_payout=Decimal("12.00"))
    desk, finance = Api(client, agent), Api(client, manager)
    delivered_order.shipping_insured = True  # bought with the order, imported with it
    delivered_order.save(update_fields=["shipping_insured"])
    number = opened(desk, delivered_order, 1)["number"]
    ok(desk.post(f"/{number}/approve"))
    ok(desk.post(f"/{number}/return-instructions", {"address": "上海仓", "contact": "退货组", "phone": "021-5555"}))
    ok(desk.post(f"/{number}/return-shipment", {"carrier": "YTO", "tracking_number": "YT000001"}))
    assert error(desk.post(f"/{number}/insurance-claim/payout", {"reference": "INS-1"}), 404)["code"] == (
        "insurance_claim.not_found"
    )
    filed = desk.post(f"/{number}/insurance-claim")
    assert filed.status_code == 201, filed.content
    assert (filed.json()["insurance_claim"]["status"], filed.json()["insurance_claim"]["amount"]) == ("filed", "12.00")
    assert error(desk.post(f"/{number}/insurance-claim/payout", {"reference": "INS-1"}), 403)["code"] == (
        "permission.denied"
    )
    case = ok(finance.post(f"/{number}/insurance-claim/payout", {"reference": "INS-20261112-01"}))
    assert (case["insurance_claim"]["status"], case["insurance_claim"]["reference"]) == ("paid", "INS-20261112-01")
