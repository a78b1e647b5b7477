"""Every case timer fired by the periodic job (`sweep.run`, the Huey task `sweep_cases`) after a clock jump.

The reminder before an unshipped return closes, the refund-due escalation, return requests approved
by the sweep with the policy's return address, and the timers of the other workflows (diagnosis,
ship-first return, proposals, result notices): each through the job, so dropping one from the sweep
fails here.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from desk.accounts.models import Notification, Role
from desk.cases import payments, services, services_repair, sweep, tasks
from desk.cases import services_exchange as exchange
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    CustomerNotice,
    ExchangeMode,
    Grade,
    PolicyVersion,
    Reason,
    RefundStatus,
    ServiceMode,
)
from desk.cases.services_confirmation import propose_solution
from desk.cases.tests.conftest import at, lines, open_repair
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.customers.models import Channel, Tier
from desk.evidence.models import ProposalStatus

ADDRESS = {"address": "上海市嘉定区仓库路1号", "contact": "退货组", "phone": "021-5555"}
POLICY_ADDRESS = {
    "return_address": "上海市嘉定区仓库路1号",
    "return_contact": "退货组",
    "return_phone": "021-5555",
    "return_packing": "原包装",
}


@pytest.fixture(autouse=True)
def _in_english() -> Any:
    with translation.override("en"):
        yield


def prefer(customer: Any, channel: str, **fields: Any) -> None:
    customer.preferred_channel, customer.language = channel, "en"
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.save()


def open_case(order: Any, case_type: str = CaseType.RETURN_REFUND, reason: str = Reason.NO_REASON) -> Any:
    return services.open_case(by=None, order=order, case_type=case_type, reason=reason, items=lines(order, 1))


def verbs(case: Any) -> list[str]:
    rows = Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk).order_by("id")
    return list(rows.values_list("verb", flat=True))


def fresh(case: Any) -> AfterSalesCase:
    return AfterSalesCase.objects.get(pk=case.pk)


def run_sweep(step: Any) -> sweep.SweepResult:
    """The periodic task as Huey runs it, with what follows its commits (the notices' emails)."""
    result: sweep.SweepResult = step(tasks.sweep_cases.call_local)
    return result


def received(order: Any, agent: Any, clerk: Any) -> Any:
    """A no-reason return approved, instructed, shipped and received on 11-12 12:00."""
    case = services.approve_case(open_case(order), by=agent)
    case = services.send_return_instructions(case, by=agent, **ADDRESS)
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF123")
    return services.receive_return(case, by=clerk)


def inspected(order: Any, agent: Any, clerk: Any) -> Any:
    return services.inspect_return(
        received(order, agent, clerk), by=clerk, grade=Grade.A, complete=True, original=True, defect=False,
        human_damage=False,
    )  # fmt: skip


# --- The customer has not shipped the return: a reminder, then the close ---------------------------------
def test_an_unshipped_return_is_reminded_once_then_closes_with_a_notice(
    delivered_order: Any, customer: Any, agent: Any, step: Any, time_machine: Any, mailoutbox: Any
) -> None:
    prefer(customer, Channel.EMAIL)
    case = step(services.approve_case, open_case(delivered_order), by=agent)
    case = step(services.send_return_instructions, case, by=agent, **ADDRESS)  # ship by 11-19 12:00
    assert case.ship_remind_at == at(17) == case.ship_due_at - timedelta(days=2)
    time_machine.move_to(at(17, 11, 59), tick=False)
    assert run_sweep(step)["ship_reminders"] == 0
    time_machine.move_to(at(17, 12, 0), tick=False)
    assert run_sweep(step)["ship_reminders"] == 1
    reminder = Event.objects.get(verb="case.ship_reminder")
    assert (reminder.subject_id, reminder.actor_label) == (case.pk, "system")
    notice = CustomerNotice.objects.get(case=case, kind="ship_reminder")
    assert (notice.event_id, notice.channel, notice.is_result) == (reminder.pk, Channel.EMAIL, False)
    assert mailoutbox[-1].subject == f"Reminder: ship your return for case {case.number}"
    assert f"please send the goods for case {case.number} back by 2026-11-19 12:00" in mailoutbox[-1].body
    assert run_sweep(step)["ship_reminders"] == 0  # once only
    time_machine.move_to(at(18), tick=False)
    assert run_sweep(step)["ship_reminders"] == 0

    time_machine.move_to(at(19, 12, 0), tick=False)
    result = run_sweep(step)
    assert (result["expired"], result["ship_reminders"]) == (1, 0)
    closed = fresh(case)
    assert (closed.state, closed.close_reason, closed.ship_remind_at) == (CaseState.CLOSED, "expired", None)
    assert verbs(case).count("case.ship_reminder") == 1
    assert CustomerNotice.objects.filter(case=case, kind="expired").exists()
    assert mailoutbox[-1].subject == f"After-sales case {case.number} closed"


def test_a_chinese_customer_is_reminded_in_chinese(delivered_order: Any, customer: Any, agent: Any,
                                                   time_machine: Any) -> None:  # fmt: skip
    prefer(customer, Channel.WECHAT)
    customer.language = "zh-hans"
    customer.save(update_fields=["language"])
    services.send_return_instructions(services.approve_case(open_case(delivered_order), by=agent), by=agent,
                                      **ADDRESS)  # fmt: skip
    time_machine.move_to(at(17), tick=False)
    assert sweep.run()["ship_reminders"] == 1
    notice = CustomerNotice.objects.get(kind="ship_reminder")
    assert (notice.channel, notice.status, notice.language) == (Channel.WECHAT, "pending", "zh-hans")  # the outbox
    assert "请在 2026-11-19 12:00 前寄回" in notice.body


def test_a_return_shipped_before_the_reminder_is_never_reminded(
    delivered_order: Any, agent: Any, time_machine: Any
) -> None:
    case = services.send_return_instructions(services.approve_case(open_case(delivered_order), by=agent), by=agent,
                                             **ADDRESS)  # fmt: skip
    time_machine.move_to(at(15), tick=False)
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF55")
    assert case.ship_remind_at is None
    time_machine.move_to(at(20), tick=False)
    result = sweep.run()
    assert (result["ship_reminders"], result["expired"]) == (0, 0)
    assert "case.ship_reminder" not in verbs(case)
    assert not CustomerNotice.objects.filter(kind="ship_reminder").exists()


def test_the_policy_sets_the_reminder_days_and_zero_sends_none(
    delivered_order: Any, agent: Any, time_machine: Any
) -> None:
    PolicyVersion.objects.update(ship_reminder_days=5)
    first = services.approve_case(open_case(delivered_order), by=agent)  # approved: ship by 11-19 12:00
    assert first.ship_remind_at == at(14)
    PolicyVersion.objects.update(ship_reminder_days=0)
    time_machine.move_to(at(12, 13), tick=False)
    second = services.approve_case(open_case(delivered_order, reason=Reason.QUALITY), by=agent)
    assert (second.ship_due_at, second.ship_remind_at) == (at(19, 13), None)
    time_machine.move_to(at(14), tick=False)
    assert sweep.run()["ship_reminders"] == 1  # the first only, reminded while still approved
    assert Event.objects.get(verb="case.ship_reminder").subject_id == first.pk


# --- The refund is due within 7 days of receiving the return ------------------------------------------
def test_a_refund_not_made_within_seven_days_of_receipt_is_escalated_once(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, supervisor: Any, time_machine: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk)  # received 11-12 12:00, refund due 11-19 12:00
    assert case.refund_due_at == case.refund_escalate_at == at(19)
    time_machine.move_to(at(19, 11, 59), tick=False)
    assert sweep.run()["refunds_overdue"] == 0
    time_machine.move_to(at(19, 12), tick=False)
    assert sweep.run()["refunds_overdue"] == 1
    event = Event.objects.get(verb="case.refund_overdue")
    assert (event.subject_id, event.data["escalated"], event.actor_label) == (case.pk, True, "system")
    note = Notification.objects.get(verb="case.refund_overdue")
    assert (note.user_id, note.event_id, note.link) == (supervisor.pk, event.pk, f"/cases/{case.number}/")
    assert case.number in note.text
    assert sweep.run()["refunds_overdue"] == 0  # once only
    still = fresh(case)
    assert (still.state, still.refund_due_at) == (CaseState.INSPECTED, at(19))  # still shown as overdue


def test_a_refund_the_provider_declined_is_escalated_by_the_refund_timer(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, manager: Any, supervisor: Any, time_machine: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk)
    time_machine.move_to(at(13), tick=False)
    payments.simulated.fail_next = "decline"
    refund = services.start_refund(case, by=manager)
    assert refund.status == RefundStatus.FAILED
    assert fresh(case).state == CaseState.REFUNDING  # left refunding: nobody is told by the decline itself
    time_machine.move_to(at(19, 12), tick=False)
    assert tasks.sweep_cases.call_local()["refunds_overdue"] == 1
    assert Event.objects.get(verb="case.refund_overdue").subject_id == case.pk
    assert Notification.objects.filter(verb="case.refund_overdue", user=supervisor).count() == 1


def test_a_confirmed_refund_is_never_escalated(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, manager: Any, time_machine: Any
) -> None:
    case = inspected(delivered_order, agent, warehouse_clerk)
    services.start_refund(case, by=manager)
    refunded = fresh(case)
    assert (refunded.state, refunded.refund_due_at, refunded.refund_escalate_at) == (CaseState.REFUNDED, None, None)
    time_machine.move_to(at(25), tick=False)
    assert sweep.run()["refunds_overdue"] == 0


def test_a_declined_refund_without_a_return_is_due_seven_days_after_it_started(
    paid_order: Any, manager: Any, supervisor: Any, time_machine: Any
) -> None:
    case = services.approve_case(open_case(paid_order, CaseType.REFUND_ONLY), by=manager)  # 11-05 12:00
    payments.simulated.fail_next = "decline"
    services.start_refund(case, by=manager)
    assert fresh(case).refund_escalate_at == at(12)
    time_machine.move_to(at(12), tick=False)
    assert sweep.run()["refunds_overdue"] == 1
    assert Event.objects.get(verb="case.refund_overdue").subject_id == case.pk


def test_an_exchange_return_has_no_refund_timer(
    delivered_order: Any, agent: Any, warehouse_clerk: Any, time_machine: Any
) -> None:
    sku = str(delivered_order.items.order_by("pk").first().sku)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=5, model="BT-100", spec="black")
    case = services.approve_case(open_case(delivered_order, CaseType.EXCHANGE, Reason.QUALITY), by=agent)
    case = exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.RETURN_FIRST)
    case = services.send_return_instructions(case, by=agent, **ADDRESS)
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SF66")
    case = services.receive_return(case, by=warehouse_clerk)
    assert case.refund_escalate_at is None  # an exchange refunds nothing
    time_machine.move_to(at(25), tick=False)
    assert sweep.run()["refunds_overdue"] == 0


# --- An unanswered return request: approved with the policy's return address ---------------------------
def test_an_unanswered_return_request_is_approved_with_the_policys_return_address(
    delivered_order: Any, customer: Any, step: Any, time_machine: Any, mailoutbox: Any
) -> None:
    prefer(customer, Channel.EMAIL)
    PolicyVersion.objects.update(**POLICY_ADDRESS)
    case = step(open_case, delivered_order)  # shipped: the shop has 5 days
    time_machine.shift(timedelta(days=4, hours=23, minutes=59))
    assert run_sweep(step)["auto_approved"] == 0
    time_machine.shift(timedelta(minutes=1))
    result = run_sweep(step)
    assert (result["auto_approved"], result["escalated"]) == (1, 0)
    approved = fresh(case)
    assert (approved.state, approved.approved_by) == (CaseState.AWAITING_RETURN, None)
    assert approved.ship_due_at == at(24)  # the customer's 7 days start now
    assert approved.ship_remind_at == at(22)
    assert verbs(case) == ["case.opened", "case.approve", "case.send_instructions"]
    approve = Event.objects.get(verb="case.approve", subject_id=case.pk)
    assert approve.actor_label == "system"
    assert approve.data["auto"] is True
    assert approve.data["rule"] == {
        "code": "answer_timeout", "timer": "auto_approve_shipped_days", "hours": 120, "policy_version": 1,
        "decision": case.decision["rule"],
    }  # fmt: skip
    instructions = Event.objects.get(verb="case.send_instructions", subject_id=case.pk).data
    assert (instructions["address"], instructions["contact"], instructions["packing"]) == (
        "上海市嘉定区仓库路1号", "退货组", "原包装",
    )  # fmt: skip
    assert [m.subject for m in mailoutbox] == [
        f"After-sales request {case.number} approved",
        f"How to return your goods for case {case.number}",
    ]
    assert "上海市嘉定区仓库路1号, 退货组, 021-5555" in mailoutbox[1].body
    assert run_sweep(step)["auto_approved"] == 0  # claimed once


def test_a_return_request_is_escalated_when_the_policy_has_no_address_or_does_not_auto_approve(
    delivered_order: Any, supervisor: Any, time_machine: Any
) -> None:
    without_address = open_case(delivered_order)
    PolicyVersion.objects.update(**POLICY_ADDRESS, auto_approve_returns=False)
    switched_off = open_case(delivered_order, reason=Reason.QUALITY)
    time_machine.shift(timedelta(days=5))
    result = sweep.run()
    assert (result["auto_approved"], result["escalated"]) == (0, 2)
    for case in (without_address, switched_off):
        assert fresh(case).state == CaseState.REQUESTED
        assert verbs(case)[-1] == "case.answer_overdue"


def test_a_return_above_the_auto_approve_cap_is_escalated(delivered_order: Any, time_machine: Any) -> None:
    PolicyVersion.objects.update(**POLICY_ADDRESS, auto_approve_max_amount=Decimal("100.00"))
    above = open_case(delivered_order)  # 142.50
    time_machine.shift(timedelta(days=5))
    assert sweep.run()["escalated"] == 1
    assert fresh(above).state == CaseState.REQUESTED


def test_an_unanswered_exchange_is_escalated_not_approved(
    delivered_order: Any, supervisor: Any, time_machine: Any
) -> None:
    PolicyVersion.objects.update(**POLICY_ADDRESS)
    case = open_case(delivered_order, CaseType.EXCHANGE, Reason.QUALITY)
    assert case.decision["outcome"] == "allowed"
    time_machine.shift(timedelta(days=5))
    result = sweep.run()
    assert (result["auto_approved"], result["escalated"]) == (0, 1)
    assert fresh(case).state == CaseState.REQUESTED
    assert Notification.objects.filter(verb="case.answer_overdue", user=supervisor).count() == 1


# --- The other workflows' timers, through the periodic job ----------------------------------------------
def test_an_overdue_diagnosis_is_escalated_by_the_periodic_job(
    delivered_order: Any, agent: Any, supervisor: Any, time_machine: Any
) -> None:
    tech = make_staff("tech", Role.TECH_SUPPORT)
    case = open_repair(delivered_order, ServiceMode.MAIL_IN)
    case = services.approve_case(case, by=agent)
    case = services_repair.arrange_repair_service(case, by=agent, address="上海市维修中心 1 号")
    case = services_repair.start_diagnosis(case, by=tech)  # 11-12 12:00: diagnose within 24 h
    time_machine.move_to(at(13, 11, 59), tick=False)
    assert tasks.sweep_cases.call_local()["diagnoses_overdue"] == 0
    time_machine.move_to(at(13, 12, 1), tick=False)
    assert tasks.sweep_cases.call_local()["diagnoses_overdue"] == 1
    event = Event.objects.get(verb="case.diagnosis_overdue")
    assert event.subject_id == case.pk
    assert Notification.objects.get(verb="case.diagnosis_overdue", user=supervisor).event_id == event.pk
    assert tasks.sweep_cases.call_local()["diagnoses_overdue"] == 0


def test_a_late_ship_first_return_is_escalated_by_the_periodic_job(
    delivered_order: Any, customer: Any, agent: Any, warehouse_clerk: Any, supervisor: Any, time_machine: Any
) -> None:
    customer.tier = Tier.VIP
    customer.save(update_fields=["tier"])
    sku = str(delivered_order.items.order_by("pk").first().sku)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=5, model="BT-100", spec="black")
    case = services.approve_case(open_case(delivered_order, CaseType.EXCHANGE, Reason.QUALITY), by=agent)
    case = exchange.reserve_replacement(case, by=agent, mode=ExchangeMode.SHIP_FIRST)
    case = exchange.ship_replacement(
        case, by=warehouse_clerk, carrier="SF", tracking_number="SF779", return_address=ADDRESS["address"],
        return_contact=ADDRESS["contact"], return_phone=ADDRESS["phone"],
    )  # fmt: skip
    time_machine.shift(timedelta(days=6, hours=23))
    assert tasks.sweep_cases.call_local()["exchange_returns_overdue"] == 0
    time_machine.shift(timedelta(hours=1))
    assert tasks.sweep_cases.call_local()["exchange_returns_overdue"] == 1
    assert Event.objects.get(verb="case.return_overdue").subject_id == case.pk
    assert Notification.objects.filter(verb="case.return_overdue", user=supervisor).count() == 1
    assert fresh(case).state == CaseState.REPLACEMENT_SHIPPED
    assert tasks.sweep_cases.call_local()["exchange_returns_overdue"] == 0


def test_an_unanswered_proposal_is_reminded_then_expired_by_the_periodic_job(
    delivered_order: Any, agent: Any, time_machine: Any
) -> None:
    case = open_case(delivered_order, CaseType.REFUND_ONLY, Reason.QUALITY)
    proposal = propose_solution(
        case, by=agent, kind=CaseType.REPAIR, summary="免费维修左耳机", reason="质检确认为电池故障"
    )  # 11-12 12:00, answer within 48 h
    time_machine.move_to(at(13, 11, 59), tick=False)
    assert tasks.sweep_cases.call_local()["proposals_reminded"] == 0
    time_machine.move_to(at(13, 12, 1), tick=False)
    result = tasks.sweep_cases.call_local()
    assert (result["proposals_reminded"], result["proposals_expired"]) == (1, 0)
    assert tasks.sweep_cases.call_local()["proposals_reminded"] == 0  # once only
    time_machine.move_to(at(14, 12, 1), tick=False)
    result = tasks.sweep_cases.call_local()
    assert (result["proposals_reminded"], result["proposals_expired"]) == (0, 1)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXPIRED
    assert (fresh(case).state, fresh(case).close_reason) == (CaseState.CLOSED, "unconfirmed")
    assert tasks.sweep_cases.call_local()["proposals_expired"] == 0


def test_an_undelivered_result_notice_is_escalated_by_the_periodic_job_and_supervisors_see_it(
    delivered_order: Any, customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, supervisor: Any,
    step: Any, client: Any, time_machine: Any,
) -> None:  # fmt: skip
    prefer(customer, Channel.WECHAT, email="")  # an outbox channel, and no email to fall back on
    case = step(inspected, delivered_order, agent, warehouse_clerk)
    step(services.start_refund, case, by=manager)
    result_notice = CustomerNotice.objects.get(case=case, is_result=True)
    time_machine.shift(timedelta(hours=23, minutes=59))
    assert run_sweep(step)["notices_overdue"] == 0
    time_machine.shift(timedelta(minutes=2))
    assert run_sweep(step)["notices_overdue"] == 1
    event = Event.objects.get(verb="case.result_notice_overdue")
    assert (event.subject_id, event.data["notice"]) == (case.pk, result_notice.pk)
    note = Notification.objects.get(verb="case.result_notice_overdue")
    assert (note.user_id, note.event_id, note.link) == (supervisor.pk, event.pk, f"/cases/{case.number}/")
    assert not Notification.objects.filter(verb="case.result_notice_overdue").exclude(user=supervisor).exists()
    assert run_sweep(step)["notices_overdue"] == 0  # once only
    assert Notification.objects.filter(verb="case.result_notice_overdue").count() == 1

    client.force_login(supervisor)
    inbox = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="en")
    assert inbox.status_code == 200
    assert note.text in inbox.content.decode()
    assert f'href="/cases/{case.number}/"' in inbox.content.decode()
    page = client.get(f"/cases/{case.number}/", HTTP_ACCEPT_LANGUAGE="en")
    assert "the result notice was not delivered within 24 h (escalated)" in page.content.decode()
