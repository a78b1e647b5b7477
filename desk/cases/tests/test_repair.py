"""Repair (维修) end to end: warranty, mail-in and on-site, 24 h diagnosis, fee quotes, results, shipment back."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from desk.accounts.models import Notification, Role
from desk.cases import services, services_repair
from desk.cases.errors import IllegalTransition, ProposalClosed
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    PolicyVersion,
    ProductRule,
    Reason,
    RepairOffer,
    RepairResult,
    ServiceMode,
)
from desk.cases.tests.conftest import DELIVERED, SHANGHAI, at, lines
from desk.cases.warranty import check_warranty, warranty_months
from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event
from desk.core.testing import make_staff


@pytest.fixture
def tech(db: Any) -> Any:
    return make_staff("tech", Role.TECH_SUPPORT)


def open_repair(order: Any, mode: str = ServiceMode.MAIL_IN, serial: str = "SN-A1B2C3D4") -> AfterSalesCase:
    return services.open_case(
        by=None,
        order=order,
        case_type=CaseType.REPAIR,
        reason=Reason.QUALITY,
        items=lines(order, 1),
        reason_text="耳机左声道无声",
        serial_number=serial,
        service_mode=mode,
    )


def verbs(case: Any) -> list[str]:
    events = Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk).order_by("id")
    return list(events.values_list("verb", flat=True))


# --- The warranty check is pure -------------------------------------------------------------------------
def test_a_unit_is_covered_until_the_end_of_the_day_its_warranty_months_run_out() -> None:
    bought = datetime(2026, 1, 31, 9, 0, tzinfo=SHANGHAI)
    last_moment = datetime(2027, 1, 31, 23, 59, 59, tzinfo=SHANGHAI)
    inside = check_warranty(months=12, purchased_at=bought, now=last_moment, serial_number="SN12345")
    after = check_warranty(
        months=12, purchased_at=bought, now=last_moment + timedelta(seconds=1), serial_number="SN12345"
    )
    assert (inside.in_warranty, inside.rule) == (True, "warranty_open")
    assert (after.in_warranty, after.rule) == (False, "warranty_passed")
    assert inside.params == {"months": "12", "purchased": "2026-01-31", "ends": "2027-01-31 23:59"}
    one_month = check_warranty(months=1, purchased_at=bought, now=bought, serial_number="SN12345")
    assert one_month.ends == datetime(2026, 2, 28, 23, 59, 59, tzinfo=SHANGHAI)  # month end clamps


def test_a_missing_serial_or_human_damage_leaves_a_unit_without_cover() -> None:
    bought = datetime(2026, 11, 10, tzinfo=SHANGHAI)
    assert check_warranty(months=12, purchased_at=bought, now=bought, serial_number="  ").rule == "no_serial"
    assert check_warranty(months=12, purchased_at=bought, now=bought, serial_number="x").rule == "no_serial"
    damaged = check_warranty(months=12, purchased_at=bought, now=bought, serial_number="SN12345", human_damage=True)
    assert (damaged.in_warranty, damaged.rule) == (False, "human_damage")
    assert "人为损坏" in damaged.message


def test_a_product_override_beats_the_policy_period() -> None:
    assert warranty_months(12, [None, None]) == 12
    assert warranty_months(12, [24, None]) == 24
    assert warranty_months(12, [24, 6]) == 6


# --- End to end -----------------------------------------------------------------------------------------
def test_an_in_warranty_mail_in_repair_goes_from_request_to_completion(
    delivered_order: Any, agent: Any, tech: Any, time_machine: Any
) -> None:
    case = open_repair(delivered_order)
    job = case.repair
    assert (job.in_warranty, job.warranty_rule, job.serial_number) == (True, "warranty_open", "SN-A1B2C3D4")
    assert case.refund_amount == Decimal("0.00")  # a repair pays nothing back
    assert case.items.get().amount == Decimal("0.00")

    case = services.approve_case(case, by=agent)
    case = services_repair.arrange_repair_service(case, by=agent, address="上海市维修中心 1 号")
    assert case.state == CaseState.SCHEDULED
    case = services_repair.start_diagnosis(case, by=tech, carrier="SF", tracking_number="SF900")
    assert case.state == CaseState.DIAGNOSING
    assert case.diagnosis_due_at == at(12) + timedelta(hours=24)

    time_machine.move_to(at(13, 9), tick=False)
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="左耳喇叭虚焊")
    assert (case.state, case.diagnosis_due_at) == (CaseState.REPAIRING, None)
    case = services_repair.record_repair_result(case, by=tech, result=RepairResult.REPAIRED, notes="重新焊接")
    case = services_repair.ship_repair_back(case, by=agent, carrier="SF", tracking_number="SF901")
    assert case.state == CaseState.SHIPPED_BACK
    case = services_repair.complete_repair(case)  # the customer confirms they have it back
    case.refresh_from_db()
    assert (case.state, case.close_reason) == (CaseState.COMPLETED, RepairResult.REPAIRED)
    assert case.repair.back_tracking_number == "SF901"
    assert verbs(case) == [
        "case.opened", "case.approve", "case.arrange_service", "case.start_diagnosis", "case.diagnose",
        "case.record_result", "case.ship_back", "case.complete",
    ]  # fmt: skip
    opened = Event.objects.get(verb="case.opened", subject_id=case.pk)
    assert opened.data["repair"]["in_warranty"] is True

    # The repaired unit is the customer's again: it may be returned while the return window is open.
    returned = services.open_case(
        by=None,
        order=delivered_order,
        case_type=CaseType.RETURN_REFUND,
        reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )
    assert returned.refund_amount > 0


def test_an_out_of_warranty_on_site_repair_waits_for_the_customer_to_accept_the_fee(
    delivered_order: Any, agent: Any, tech: Any, time_machine: Any
) -> None:
    time_machine.move_to(at(20, month=12) + timedelta(days=365), tick=False)  # 2027-12-20, warranty ended 2027-11-10
    case = open_repair(delivered_order, mode=ServiceMode.ON_SITE)
    assert (case.repair.in_warranty, case.repair.warranty_rule) == (False, "warranty_passed")
    assert case.decision["outcome"] == "refused"
    case = services.approve_case(case, by=agent)  # a paid repair needs no policy exception

    with pytest.raises(ValidationFailed) as no_visit:
        services_repair.arrange_repair_service(case, by=agent, address="客户家")
    assert no_visit.value.code == "repair.bad_appointment"
    visit = datetime(2027, 12, 21, 14, 0, tzinfo=SHANGHAI)
    case = services_repair.arrange_repair_service(
        case, by=agent, address="上海市浦东新区世纪大道100号", appointment_at=visit
    )
    assert case.repair.appointment_at == visit
    case = services_repair.start_diagnosis(case, by=tech)
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="电池老化", fee=Decimal("150.00"))
    assert case.state == CaseState.QUOTED
    with pytest.raises(IllegalTransition):
        services_repair.record_repair_result(case, by=tech, result=RepairResult.REPAIRED)

    case = services_repair.accept_repair_fee(case, channel="portal", confirmation_text="150.00")
    assert case.state == CaseState.REPAIRING
    assert case.repair.fee_accepted_at is not None
    accepted = Event.objects.get(verb="case.accept_fee", subject_id=case.pk)
    assert accepted.data == {
        "fee": "150.00", "currency": "CNY", "proposal": case.proposals.get().pk, "channel": "portal",
        "confirmation_text": "150.00",
    }  # fmt: skip
    assert accepted.actor_label == "system"  # the customer's own written consent


def test_an_on_site_repair_is_finished_at_the_visit_from_request_to_completion(
    delivered_order: Any, agent: Any, tech: Any, time_machine: Any
) -> None:
    case = open_repair(delivered_order, mode=ServiceMode.ON_SITE)
    assert (case.repair.in_warranty, case.repair.warranty_rule) == (True, "warranty_open")  # the warranty check
    case = services.approve_case(case, by=agent)
    visit = at(13, 14)
    address = "上海市徐汇区漕溪北路 1 号"
    case = services_repair.arrange_repair_service(case, by=agent, address=address, appointment_at=visit)
    assert (case.state, case.repair.appointment_at) == (CaseState.SCHEDULED, visit)
    with pytest.raises(ValidationFailed) as no_parcel:  # the technician comes: nothing to send
        services_repair.ship_repair_unit(case, carrier="SF", tracking_number="SF1")
    assert no_parcel.value.code == "repair.not_mail_in"

    time_machine.move_to(visit, tick=False)
    case = services_repair.start_diagnosis(case, by=tech)  # the technician is at the door
    assert case.diagnosis_due_at == visit + timedelta(hours=24)
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="电源接口松动")
    case = services_repair.record_repair_result(case, by=tech, result=RepairResult.REPAIRED, notes="更换电源接口")
    assert case.state == CaseState.REPAIRED
    with pytest.raises(ValidationFailed) as no_result:
        services_repair.complete_repair(case, by=agent)
    assert (no_result.value.code, no_result.value.field) == ("repair.no_visit_result", "visit_result")
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REPAIRED

    report = " 现场修复，客户签字确认 "  # the technician's report, entered by the agent
    case = services_repair.complete_repair(case, by=agent, visit_result=report)
    case.refresh_from_db()
    assert (case.state, case.close_reason) == (CaseState.COMPLETED, RepairResult.REPAIRED)
    assert case.closed_at == visit
    assert (case.repair.visit_result, case.repair.back_tracking_number) == ("现场修复，客户签字确认", "")
    completed = Event.objects.get(verb="case.complete", subject_id=case.pk)
    assert completed.data == {
        "reason": "repaired", "offer": None, "on_site": True, "visit_result": "现场修复，客户签字确认",
    }  # fmt: skip
    assert verbs(case) == [
        "case.opened", "case.approve", "case.arrange_service", "case.start_diagnosis", "case.diagnose",
        "case.record_result", "case.complete",
    ]  # fmt: skip
    assert services.allowed_actions(case) == []  # completed is the end: nothing more to close
    with pytest.raises(IllegalTransition):
        services.close_case(case, by=agent)


def test_a_mail_in_unit_must_be_shipped_back_before_completion(delivered_order: Any, agent: Any, tech: Any) -> None:
    case = _diagnosing(delivered_order, agent, tech)
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="左耳喇叭虚焊")
    case = services_repair.record_repair_result(case, by=tech, result=RepairResult.REPAIRED)
    with pytest.raises(ValidationFailed) as not_back:  # a visit result does not bring a parcel home
        services_repair.complete_repair(case, by=agent, visit_result="已修好")
    assert not_back.value.code == "repair.not_shipped_back"
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REPAIRED


def test_a_mail_in_customer_enters_the_parcel_and_tech_support_finds_it(
    delivered_order: Any, agent: Any, tech: Any
) -> None:
    case = services.approve_case(open_repair(delivered_order), by=agent)
    with pytest.raises(IllegalTransition):  # no address yet: nowhere to send it
        services_repair.ship_repair_unit(case, carrier="SF", tracking_number="SF1")
    case = services_repair.arrange_repair_service(case, by=agent, address="上海市维修中心 1 号")
    with pytest.raises(ValidationFailed) as blank:
        services_repair.ship_repair_unit(case, carrier="SF", tracking_number=" ")
    assert blank.value.code == "case.no_tracking"
    case = services_repair.ship_repair_unit(case, carrier=" 顺丰速运 ", tracking_number=" SF777 ")
    assert case.state == CaseState.SCHEDULED
    job = case.repair
    job.refresh_from_db()
    assert (job.inbound_carrier, job.inbound_tracking_number, job.inbound_shipped_at) == ("顺丰速运", "SF777", at(12))
    shipped = Event.objects.get(verb="case.ship_unit", subject_id=case.pk)
    assert (shipped.actor, shipped.data) == (None, {"carrier": "顺丰速运", "tracking_number": "SF777"})
    case = services_repair.start_diagnosis(case, by=tech)  # no parcel given: the customer's is kept
    job.refresh_from_db()
    assert (job.inbound_carrier, job.inbound_tracking_number) == ("顺丰速运", "SF777")
    with pytest.raises(IllegalTransition):  # the unit has arrived
        services_repair.ship_repair_unit(case, carrier="SF", tracking_number="SF778")


def test_a_product_with_a_shorter_warranty_is_out_of_cover_sooner(delivered_order: Any, time_machine: Any) -> None:
    item = delivered_order.items.order_by("pk").first()
    ProductRule.objects.create(sku=item.sku, warranty_months=1)
    time_machine.move_to(at(11, month=12), tick=False)  # 1 month from 11-10 ended 12-10 23:59:59
    case = open_repair(delivered_order)
    assert (case.repair.in_warranty, case.repair.warranty_params["ends"]) == (False, "2026-12-10 23:59")


def test_a_declined_fee_sends_the_unit_back_unrepaired(delivered_order: Any, agent: Any, tech: Any) -> None:
    case = _diagnosing(delivered_order, agent, tech)
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="进水", human_damage=True, fee=Decimal("80"))
    assert (case.state, case.repair.warranty_rule) == (CaseState.QUOTED, "human_damage")
    case = services_repair.decline_repair_fee(case, channel="wechat", reason="太贵了", by=agent)
    assert (case.state, case.repair.result) == (CaseState.REPAIRED, RepairResult.UNREPAIRED)
    with pytest.raises(ValidationFailed) as not_back:
        services_repair.complete_repair(case, by=agent)
    assert not_back.value.code == "repair.not_shipped_back"
    case = services_repair.ship_repair_back(case, by=agent, carrier="ZTO", tracking_number="ZT1")
    assert services_repair.complete_repair(case, by=agent).close_reason == RepairResult.UNREPAIRED


def test_a_unit_under_warranty_is_repaired_for_free(delivered_order: Any, agent: Any, tech: Any) -> None:
    case = _diagnosing(delivered_order, agent, tech)
    with pytest.raises(ValidationFailed) as free:
        services_repair.record_diagnosis(case, by=tech, diagnosis="主板故障", fee=Decimal("99"))
    assert free.value.code == "repair.fee_in_warranty"
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.DIAGNOSING  # nothing half-written


def test_a_unit_that_cannot_be_repaired_is_offered_a_refund_and_its_items_freed(
    delivered_order: Any, agent: Any, tech: Any
) -> None:
    case = _diagnosing(delivered_order, agent, tech)
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="芯片烧毁")
    with pytest.raises(ValidationFailed) as no_offer:
        services_repair.record_repair_result(case, by=tech, result=RepairResult.CANNOT_REPAIR)
    assert no_offer.value.code == "repair.bad_offer"
    case = services_repair.record_repair_result(
        case, by=tech, result=RepairResult.CANNOT_REPAIR, offer=RepairOffer.REFUND
    )
    case = services_repair.complete_repair(case, by=agent)  # the shop keeps the unit
    assert (case.state, case.close_reason) == (CaseState.COMPLETED, RepairResult.CANNOT_REPAIR)
    assert Event.objects.get(verb="case.complete", subject_id=case.pk).data["offer"] == RepairOffer.REFUND
    refund = services.open_case(
        by=agent,
        order=delivered_order,
        case_type=CaseType.REFUND_ONLY,
        reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )
    assert refund.refund_amount == Decimal("142.50")


# --- The 24 h diagnosis target -----------------------------------------------------------------------
def test_an_overdue_diagnosis_escalates_once_after_24_hours(
    delivered_order: Any, agent: Any, tech: Any, supervisor: Any, time_machine: Any
) -> None:
    case = _diagnosing(delivered_order, agent, tech)  # at 11-12 12:00
    time_machine.move_to(at(13, 11, 59), tick=False)
    assert services_repair.escalate_overdue_diagnoses() == 0
    time_machine.move_to(at(13, 12, 1), tick=False)
    assert services_repair.escalate_overdue_diagnoses() == 1
    assert services_repair.escalate_overdue_diagnoses() == 0  # the deadline was claimed
    event = Event.objects.get(verb="case.diagnosis_overdue", subject_id=case.pk)
    assert event.data["escalated"] is True
    assert Notification.objects.get(verb="case.diagnosis_overdue", user=supervisor).event_id == event.pk
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="晚了一点")
    # The sweep cleared the case's deadline when it escalated; the job kept it, so the diagnosis is late.
    assert Event.objects.get(verb="case.diagnose", subject_id=case.pk).data["late"] is True


def test_a_diagnosis_in_time_is_not_late(delivered_order: Any, agent: Any, tech: Any, time_machine: Any) -> None:
    case = _diagnosing(delivered_order, agent, tech)  # at 11-12 12:00, due 11-13 12:00
    time_machine.move_to(at(13, 11, 59), tick=False)
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="按时")
    assert Event.objects.get(verb="case.diagnose", subject_id=case.pk).data["late"] is False


def test_the_diagnosis_target_is_the_policy_versions_hours(
    delivered_order: Any, agent: Any, tech: Any, time_machine: Any
) -> None:
    PolicyVersion.objects.update(diagnosis_hours=48)  # the version a new case is judged by
    case = _diagnosing(delivered_order, agent, tech)  # at 11-12 12:00
    assert case.diagnosis_due_at == case.repair.diagnose_by == at(14)
    due = Event.objects.get(verb="case.start_diagnosis", subject_id=case.pk).data["due"]
    assert datetime.fromisoformat(due) == at(14)
    time_machine.move_to(at(13, 12, 1), tick=False)  # past the default 24 h, within the policy's 48 h
    assert services_repair.escalate_overdue_diagnoses() == 0
    time_machine.move_to(at(14, 12, 1), tick=False)
    assert services_repair.escalate_overdue_diagnoses() == 1


def test_a_diagnosis_in_time_never_escalates(delivered_order: Any, agent: Any, tech: Any, time_machine: Any) -> None:
    case = _diagnosing(delivered_order, agent, tech)
    services_repair.record_diagnosis(case, by=tech, diagnosis="按键失灵")
    time_machine.move_to(at(20), tick=False)
    assert services_repair.escalate_overdue_diagnoses(at(20)) == 0


# --- Refusals ---------------------------------------------------------------------------------------------
def test_a_repair_request_needs_a_serial_number_and_a_service_mode(delivered_order: Any) -> None:
    with pytest.raises(ValidationFailed) as no_serial:
        open_repair(delivered_order, serial=" ")
    assert (no_serial.value.code, no_serial.value.field) == ("repair.no_serial", "serial_number")
    with pytest.raises(ValidationFailed) as no_mode:
        open_repair(delivered_order, mode="teleport")
    assert no_mode.value.code == "repair.bad_service_mode"
    assert not AfterSalesCase.objects.exists()


def test_only_tech_support_and_leads_diagnose(delivered_order: Any, agent: Any, tech: Any) -> None:
    case = services.approve_case(open_repair(delivered_order), by=agent)
    case = services_repair.arrange_repair_service(case, by=agent, address="维修中心")
    with pytest.raises(Forbidden):
        services_repair.start_diagnosis(case, by=agent)
    with pytest.raises(Forbidden):
        services_repair.arrange_repair_service(case, by=tech, address="维修中心")  # tech support cannot arrange
    assert Event.objects.filter(verb="permission.denied", data__action="case.diagnose").count() == 1


def test_repair_steps_out_of_order_are_illegal(delivered_order: Any, agent: Any, tech: Any) -> None:
    case = open_repair(delivered_order)
    with pytest.raises(IllegalTransition) as early:
        services_repair.start_diagnosis(case, by=tech)
    assert early.value.code == "case.illegal_transition"
    assert "approve, reject, withdraw" in str(early.value)  # the steps allowed from `requested`
    with pytest.raises(IllegalTransition):
        services_repair.ship_repair_back(case, by=agent, carrier="SF", tracking_number="SF1")
    case = _diagnosing(delivered_order, agent, tech, case)
    with pytest.raises(ProposalClosed) as no_quote:
        services_repair.accept_repair_fee(case, channel="portal", confirmation_text="同意")  # no fee was quoted
    assert no_quote.value.code == "repair.no_quote"
    with pytest.raises(IllegalTransition):
        services.withdraw_case(case)  # the unit is with tech support
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.DIAGNOSING


def _diagnosing(order: Any, agent: Any, tech: Any, case: Any = None) -> Any:
    case = services.approve_case(case or open_repair(order), by=agent)
    case = services_repair.arrange_repair_service(case, by=agent, address="上海市维修中心 1 号")
    return services_repair.start_diagnosis(case, by=tech)


def test_the_delivery_day_starts_the_warranty(delivered_order: Any) -> None:
    case = open_repair(delivered_order)
    assert case.repair.warranty_params["purchased"] == DELIVERED.date().isoformat()
