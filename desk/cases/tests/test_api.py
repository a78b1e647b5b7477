"""The after-sales cases API over real HTTP (Django test client, bearer tokens): a whole return, each refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from desk.accounts.services import issue_token
from desk.cases import payments
from desk.cases.models import AfterSalesCase, CaseState, CaseType, Reason
from desk.cases.tests.conftest import at, error, ok
from desk.core.testing import make_customer, make_order


class Api:
    """A bearer-token client for one user."""

    def __init__(self, client: Any, user: Any) -> None:
        _, key = issue_token(user, "tests", by=user)
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/cases{path}", params, headers=self.headers)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"/api/cases{path}", body or {}, content_type="application/json", headers=self.headers)


@pytest.fixture
def as_agent(client: Any, agent: Any) -> Api:
    return Api(client, agent)


@pytest.fixture
def as_clerk(client: Any, warehouse_clerk: Any) -> Api:
    return Api(client, warehouse_clerk)


@pytest.fixture
def as_manager(client: Any, manager: Any) -> Api:
    return Api(client, manager)


def request_body(order: Any, *quantities: int, **fields: Any) -> dict[str, Any]:
    items = list(order.items.order_by("pk"))
    lines = [{"order_item_id": i.pk, "quantity": q} for i, q in zip(items, quantities, strict=False) if q]
    return {"order_id": order.pk, "type": CaseType.RETURN_REFUND, "reason": Reason.NO_REASON, "items": lines} | fields


def opened(api: Api, order: Any, *quantities: int, **fields: Any) -> dict[str, Any]:
    response = api.post("", request_body(order, *quantities, **fields))
    assert response.status_code == 201, response.content
    return response.json()


# --- A whole return ---------------------------------------------------------------------------------
def test_a_return_goes_from_request_to_closing_over_the_api(
    delivered_order: Any, as_agent: Api, as_clerk: Api, as_manager: Api
) -> None:
    case = opened(as_agent, delivered_order, 1)
    number = case["number"]
    assert number == f"AS{case['id']:07d}"
    assert (case["state"], case["type"], case["order"]["number"]) == (
        "requested",
        "return_refund",
        delivered_order.number,
    )
    assert case["decision"]["outcome"] == "allowed"
    assert case["decision"]["rule"] == "no_reason_open"
    assert case["amounts"]["refund"] == "142.50"
    assert case["items"][0]["quantity"] == 1
    assert case["allowed_actions"] == ["approve", "reject", "withdraw"]

    case = ok(as_agent.post(f"/{number}/approve"))
    assert case["state"] == "approved"
    assert case["deadlines"]["answer_due_at"] is None
    instructions = {"address": "上海市嘉定区仓库路1号", "contact": "退货组", "phone": "021-5555", "packing": "原包装"}
    case = ok(as_agent.post(f"/{number}/return-instructions", instructions))
    assert case["return_instructions"]["address"] == "上海市嘉定区仓库路1号"
    assert case["allowed_actions"] == ["return-shipment", "withdraw"]
    case = ok(as_agent.post(f"/{case['id']}/return-shipment", {"carrier": "SF", "tracking_number": "SF123456789"}))
    assert case["tracking"]["tracking_number"] == "SF123456789"
    assert ok(as_clerk.post(f"/{number}/receive"))["state"] == "received"
    inspection = {"grade": "A", "complete": True, "original": True, "defect": False, "human_damage": False}
    case = ok(as_clerk.post(f"/{number}/inspect", inspection))
    assert case["inspection"]["grade"] == "A"
    assert case["inspection"]["passed"] is True

    case = ok(as_manager.post(f"/{number}/refund"))
    assert case["state"] == "refunded"
    [refund] = case["refunds"]
    assert (refund["status"], refund["amount"], refund["attempts"]) == ("confirmed", "142.50", 1)
    case = ok(as_agent.post(f"/{number}/close"))
    assert (case["state"], case["close_reason"], case["allowed_actions"]) == ("closed", "refunded", [])
    assert ok(as_agent.get(f"/{number.lower()}"))["id"] == case["id"]


def test_preview_tells_the_policy_decision_before_a_request(delivered_order: Any, as_agent: Any) -> None:
    decision = ok(as_agent.post("/preview", request_body(delivered_order, 1)))
    assert (decision["outcome"], decision["rule"]) == ("allowed", "no_reason_open")
    assert "2026-11-17" in decision["message"]
    assert not AfterSalesCase.objects.exists()


def test_preview_and_the_decision_are_in_the_readers_language(delivered_order: Any, as_agent: Any) -> None:
    english = ok(as_agent.client.post(
        "/api/cases/preview", request_body(delivered_order, 1), content_type="application/json",
        headers=as_agent.headers | {"Accept-Language": "en"},
    ))  # fmt: skip
    chinese = ok(as_agent.client.post(
        "/api/cases/preview", request_body(delivered_order, 1), content_type="application/json",
        headers=as_agent.headers | {"Accept-Language": "zh-hans"},
    ))  # fmt: skip
    assert english["message"].startswith("7-day no-reason return")
    assert english["message"] != chinese["message"]


def test_a_manual_refund_is_marked_done_by_finance(delivered_order: Any, as_agent: Any, as_manager: Any) -> None:
    number = opened(as_agent, delivered_order, 1, type=CaseType.REFUND_ONLY)["number"]
    ok(as_agent.post(f"/{number}/approve"))
    case = ok(as_manager.post(f"/{number}/refund", {"provider": "manual"}))
    [refund] = case["refunds"]
    assert (case["state"], refund["status"]) == ("refunding", "sent")
    case = ok(as_manager.post(f"/{number}/refunds/{refund['refund_number']}/mark-done", {"reference": "BANK-778"}))
    assert case["state"] == "refunded"
    assert case["refunds"][0]["provider_reference"] == "BANK-778"


def test_a_declined_refund_is_retried_with_the_same_number(
    delivered_order: Any, as_agent: Any, as_manager: Any
) -> None:
    number = opened(as_agent, delivered_order, 1, type=CaseType.REFUND_ONLY)["number"]
    ok(as_agent.post(f"/{number}/approve"))
    payments.simulated.fail_next = "decline"
    [refund] = ok(as_manager.post(f"/{number}/refund"))["refunds"]
    assert refund["status"] == "failed"
    case = ok(as_manager.post(f"/{number}/refunds/{refund['refund_number']}/retry"))
    assert [(r["refund_number"], r["status"], r["attempts"]) for r in case["refunds"]] == [
        (refund["refund_number"], "confirmed", 2)
    ]
    assert error(as_manager.post(f"/{number}/refunds/RF999/retry"), 404)["code"] == "refund.not_found"


def test_reject_and_withdraw(delivered_order: Any, as_agent: Any) -> None:
    first = opened(as_agent, delivered_order, 1)["number"]
    case = ok(as_agent.post(f"/{first}/reject", {"reason": "商品已使用"}))
    assert case["state"] == "rejected"
    assert ok(as_agent.post(f"/{first}/close"))["close_reason"] == "rejected"
    second = opened(as_agent, delivered_order, 0, 1)["number"]
    assert ok(as_agent.post(f"/{second}/withdraw"))["close_reason"] == "withdrawn"


# --- Refusals -----------------------------------------------------------------------------------------
def test_approving_above_the_callers_limit_is_forbidden(delivered_order: Any, as_agent: Api) -> None:
    number = opened(as_agent, delivered_order, 2)["number"]  # 285.00, above the agent's 200
    body = error(as_agent.post(f"/{number}/approve"), 403)
    assert body["code"] == "permission.over_limit"
    assert "285.00" in body["message"]
    assert AfterSalesCase.objects.get().state == CaseState.REQUESTED


def test_a_role_without_the_permission_is_forbidden(delivered_order: Any, as_agent: Api, as_clerk: Api) -> None:
    number = opened(as_agent, delivered_order, 1)["number"]
    assert error(as_clerk.post(f"/{number}/approve"), 403)["code"] == "permission.denied"
    assert error(as_agent.post(f"/{number}/refund"), 403)["code"] == "permission.denied"


def test_a_step_out_of_order_is_a_conflict(delivered_order: Any, as_agent: Api, as_clerk: Api) -> None:
    number = opened(as_agent, delivered_order, 1)["number"]
    body = error(as_clerk.post(f"/{number}/receive"), 409)
    assert body["code"] == "case.illegal_transition"
    assert "requested" in body["message"]
    ok(as_agent.post(f"/{number}/withdraw"))
    assert error(as_agent.post(f"/{number}/approve"), 409)["code"] == "case.illegal_transition"


def test_a_policy_refusal_needs_a_stated_exception(delivered_order: Any, as_agent: Api, client: Any, senior_agent: Any,
                                                   time_machine: Any) -> None:  # fmt: skip
    time_machine.move_to(at(20), tick=False)  # the 7-day window ended on 11-17
    case = opened(as_agent, delivered_order, 1)
    assert case["decision"]["outcome"] == "refused"
    senior = Api(client, senior_agent)
    assert error(senior.post(f"/{case['number']}/approve"), 400)["code"] == "case.not_returnable"
    approved = ok(senior.post(f"/{case['number']}/approve", {"policy_exception": "老客户，特批"}))
    assert approved["state"] == "approved"


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("/reject", {"reason": "  "}, "case.no_reason", "reason"),
        ("/return-instructions", {"address": "", "contact": "x", "phone": "1"}, "case.no_return_address", None),
        ("/inspect", {"grade": "Z", "complete": True, "original": True, "defect": False, "human_damage": False},
         "invalid", "grade"),
        ("/return-instructions", {"address": "x" * 301, "contact": "x", "phone": "1"}, "invalid", "address"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_400_naming_the_field(
    delivered_order: Any, as_agent: Api, path: str, body: dict[str, Any], code: str, field: str | None
) -> None:
    number = opened(as_agent, delivered_order, 1)["number"]
    if path == "/return-instructions":
        ok(as_agent.post(f"/{number}/approve"))
    answer = error(as_agent.post(f"/{number}{path}", body), 400)
    assert (answer["code"], answer["field"]) == (code, field)
    assert answer["message"]


def test_opening_with_bad_items_is_refused(delivered_order: Any, as_agent: Api, customer: Any) -> None:
    too_many = error(as_agent.post("", request_body(delivered_order, 3)), 400)
    assert (too_many["code"], too_many["field"]) == ("case.bad_items", "items")
    foreign = make_order(customer)
    body = request_body(delivered_order, 1)
    body["items"][0]["order_item_id"] = foreign.items.get().pk
    assert error(as_agent.post("", body), 404)["code"] == "order_item.not_found"
    assert error(as_agent.post("", request_body(delivered_order, 1, reason="bored")), 400)["field"] == "reason"
    assert error(as_agent.post("", {**request_body(delivered_order, 1), "items": []}), 400)["field"] == "items"
    assert not AfterSalesCase.objects.exists()


def test_a_case_outside_the_callers_scope_is_not_found(
    delivered_order: Any, as_agent: Api, client: Any, analyst: Any
) -> None:
    number = opened(as_agent, delivered_order, 1)["number"]
    stranger = Api(client, analyst)  # works tickets, never cases
    assert error(stranger.get(f"/{number}"), 404)["code"] == "case.not_found"
    assert error(stranger.post(f"/{number}/withdraw"), 404)["code"] == "case.not_found"
    assert ok(stranger.get(""))["items"] == []
    assert AfterSalesCase.objects.get().state == CaseState.REQUESTED
    assert error(as_agent.get("/AS9999999"), 404)["code"] == "case.not_found"
    assert error(as_agent.get("/nonsense"), 404)["code"] == "case.not_found"


def test_without_a_token_the_api_answers_401(client: Any, db: Any) -> None:
    assert error(client.get("/api/cases"), 401)["code"] == "auth.required"


# --- Lists ----------------------------------------------------------------------------------------------
def test_the_list_filters_and_pages(delivered_order: Any, as_agent: Api, time_machine: Any) -> None:
    first = opened(as_agent, delivered_order, 1)
    other_customer = make_customer("李雷")
    other_order = make_order(other_customer, items=1, unit_price="50.00")
    refund_only = opened(as_agent, other_order, 1, type=CaseType.REFUND_ONLY, reason=Reason.NOT_RECEIVED)
    time_machine.shift(timedelta(hours=2))
    later = opened(as_agent, delivered_order, 0, 1)
    ok(as_agent.post(f"/{later['number']}/approve"))

    def numbers(**params: Any) -> list[str]:
        return [c["number"] for c in ok(as_agent.get("", **params))["items"]]

    assert numbers() == [later["number"], refund_only["number"], first["number"]]
    assert numbers(state="approved") == [later["number"]]
    assert numbers(type="refund_only") == [refund_only["number"]]
    assert numbers(order=delivered_order.pk) == [later["number"], first["number"]]
    assert numbers(customer=other_customer.pk) == [refund_only["number"]]
    assert numbers(updated_since=(at(12) + timedelta(hours=1)).isoformat()) == [later["number"]]

    page = ok(as_agent.get("", limit=2))
    assert [c["number"] for c in page["items"]] == [later["number"], refund_only["number"]]
    assert page["next_offset"] == 2
    page = ok(as_agent.get("", limit=2, offset=2))
    assert ([c["number"] for c in page["items"]], page["next_offset"]) == ([first["number"]], None)
    assert error(as_agent.get("", state="nowhere"), 400)["field"] == "state"


def test_the_list_costs_the_same_few_queries_for_many_cases(
    delivered_order: Any, as_agent: Api, django_assert_max_num_queries: Any
) -> None:
    for quantities in [(1,), (1,), (0, 1), (0, 1)]:
        opened(as_agent, delivered_order, *quantities)
    with django_assert_max_num_queries(5):  # token, grants, page of cases (customer, order joined)
        assert len(ok(as_agent.get(""))["items"]) == 4
