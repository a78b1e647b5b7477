"""Integrators subscribed to `case.*` receive every step of a case, with the case's facts, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from desk.accounts.models import Role
from desk.cases import services
from desk.cases.models import CaseType, Grade, Reason
from desk.cases.tests.conftest import lines
from desk.core.testing import make_staff
from desk.webhooks import services as webhook_services
from desk.webhooks.models import DeliveryStatus, WebhookDelivery
from desk.webhooks.signing import verify_signature
from desk.webhooks.tests.receiver import Receiver

SECRET = "case-hooks-secret-for-tests"


@pytest.fixture
def receiver() -> Any:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def subscribed(db: Any, receiver: Receiver) -> Any:
    admin = make_staff("admin", Role.ADMIN)
    return webhook_services.create_endpoint(
        by=admin, name="erp", url=receiver.url(), secret=SECRET, event_types=["case.*"]
    )


def test_a_case_endpoint_receives_every_step_of_a_return(
    subscribed: Any, receiver: Receiver, delivered_order: Any, agent: Any, warehouse_clerk: Any, manager: Any,
    step: Any,
) -> None:  # fmt: skip
    case = step(services.open_case, by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND,
                reason=Reason.NO_REASON, items=lines(delivered_order, 1))  # fmt: skip
    case = step(services.approve_case, case, by=agent)
    case = step(services.send_return_instructions, case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    case = step(services.record_return_shipment, case, carrier="SF", tracking_number="SF123")
    case = step(services.receive_return, case, by=warehouse_clerk)
    case = step(services.inspect_return, case, by=warehouse_clerk, grade=Grade.A, complete=True, original=True,
                defect=False, human_damage=False)  # fmt: skip
    refund = step(services.start_refund, case, by=manager)
    case.refresh_from_db()
    step(services.close_case, case, by=agent)

    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [b["verb"] for b in bodies] == [
        "case.opened", "case.approve", "case.send_instructions", "case.ship_return", "case.receive",
        "case.inspect", "case.start_refund", "case.confirm_refund", "case.close",
    ]  # fmt: skip
    for request in receiver.requests:
        assert verify_signature(SECRET, request.body, timestamp=request.headers["X-Desk-Timestamp"],
                                signature=request.headers["X-Desk-Signature"])  # fmt: skip
        assert request.headers["X-Desk-Event"].startswith("case.")
    opened, approved, *_, refunded, closed = bodies
    assert opened["case"] | {"refund_number": None} == {
        "id": case.pk, "number": case.number, "type": "return_refund", "state": "requested", "reason": "no_reason",
        "order": {"id": delivered_order.pk, "number": delivered_order.number}, "customer_id": case.customer_id,
        "ticket_id": None, "refund_number": None, "return_tracking": None,
        "amounts": {"currency": "CNY", "goods": "142.50", "shipping_refund": "0.00", "restocking_fee": "0.00",
                    "refund": "142.50", "compensation": "0.00"},
    }  # fmt: skip
    assert (approved["case"]["state"], approved["data"]["amount"]) == ("approved", "142.50")
    assert (refunded["case"]["state"], refunded["case"]["refund_number"]) == ("refunded", refund.refund_number)
    assert refunded["data"]["refund"] == refund.refund_number
    assert (closed["case"]["state"], closed["data"]["reason"]) == ("closed", "refunded")
    assert {b["subject_type"] for b in bodies} == {"aftersalescase"}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}


def test_an_endpoint_for_other_events_gets_no_case_events(
    db: Any, receiver: Receiver, delivered_order: Any, agent: Any, step: Any
) -> None:
    admin = make_staff("admin", Role.ADMIN)
    webhook_services.create_endpoint(by=admin, name="crm", url=receiver.url(), secret=SECRET,
                                     event_types=["ticket.*"])  # fmt: skip
    step(services.open_case, by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND,
         reason=Reason.NO_REASON, items=lines(delivered_order, 1))  # fmt: skip
    assert receiver.requests == []
