"""The customer's confirmation comes before execution: fees are accepted in writing, and proposals,
their reminders, repair quotes and repair appointments reach the customer on their channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from desk.accounts.models import Role
from desk.cases import services, services_repair, sweep
from desk.cases.errors import ConfirmationRequired, IllegalTransition
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    CustomerNotice,
    NoticeStatus,
    PolicyVersion,
    Reason,
    RepairResult,
    ServiceMode,
)
from desk.cases.services_confirmation import accept_solution, expire_unconfirmed_proposals, propose_solution
from desk.cases.tests.conftest import at, lines, open_repair
from desk.core.errors import ValidationFailed
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.customers.models import Channel
from desk.evidence.models import ProposalStatus


@pytest.fixture(autouse=True)
def _in_english() -> Iterator[None]:
    """Messages are checked in English; the shop's default language is zh-hans."""
    with translation.override("en"):
        yield


@pytest.fixture
def tech(db: Any) -> Any:
    return make_staff("tech", Role.TECH_SUPPORT)


def email_customer(customer: Any, language: str = "en") -> Any:
    customer.preferred_channel, customer.language = Channel.EMAIL, language
    customer.save()
    return customer


def no_reason_return(order: Any) -> AfterSalesCase:
    PolicyVersion.objects.filter(version=1).update(restocking_fee_percent=Decimal("10"))
    return services.open_case(
        by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON, items=lines(order, 2),
    )  # fmt: skip


def quoted_repair(order: Any, agent: Any, tech: Any, step: Any, fee: str = "150.00") -> AfterSalesCase:
    """An out-of-warranty mail-in repair (human damage) whose fee was just quoted."""
    case = open_repair(order, ServiceMode.MAIL_IN)
    case = services.approve_case(case, by=agent)
    case = services_repair.arrange_repair_service(case, by=agent, address="上海市维修中心 1 号")
    case = services_repair.start_diagnosis(case, by=tech)
    return step(services_repair.record_diagnosis, case, by=tech, diagnosis="进水", human_damage=True, fee=Decimal(fee))


# --- A restocking fee is agreed in writing before the return is approved --------------------------------
def test_a_restocking_fee_is_not_carried_out_until_the_customer_accepts_it_in_writing(
    delivered_order: Any, agent: Any, manager: Any
) -> None:
    case = no_reason_return(delivered_order)
    assert case.restocking_fee == Decimal("28.50")
    with pytest.raises(ConfirmationRequired) as unasked:
        services.approve_case(case, by=manager)
    assert unasked.value.code == "case.not_confirmed"
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REQUESTED  # nothing half-written

    terms = {"kind": CaseType.RETURN_REFUND, "summary": "退货退款，扣除 10% 手续费", "reason": "七天无理由退货"}
    wrong = propose_solution(case, by=manager, refund_amount=case.refund_amount, fee_amount=Decimal("10.00"), **terms)
    accept_solution(wrong, channel="portal", confirmation_text="同意")
    with pytest.raises(ConfirmationRequired) as other_fee:  # agreed to 10.00, the case takes 28.50
        services.approve_case(case, by=manager)
    assert other_fee.value.code == "case.fee_not_confirmed"
    assert "28.50 CNY" in other_fee.value.message

    right = propose_solution(
        case, by=manager, refund_amount=case.refund_amount, fee_amount=case.restocking_fee, **terms
    )
    with pytest.raises(ConfirmationRequired):  # a fee is never accepted by phone
        accept_solution(right, channel="phone", confirmation_text="同意", by=agent)
    accepted = accept_solution(right, channel="email", confirmation_text="28.50", by=agent)
    assert (accepted.channel, accepted.confirmation_text, accepted.responded_at) == ("email", "28.50", at(12))
    case = services.approve_case(case, by=manager)
    assert case.state == CaseState.APPROVED


def test_a_request_without_a_fee_needs_no_proposal(delivered_order: Any, manager: Any) -> None:
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    assert services.approve_case(case, by=manager).state == CaseState.APPROVED


def test_the_sweep_escalates_instead_of_auto_approving_an_unagreed_fee(
    customer: Any, supervisor: Any, time_machine: Any
) -> None:
    from desk.core.testing import make_order

    PolicyVersion.objects.filter(version=1).update(restocking_fee_percent=Decimal("10"))
    order = make_order(customer, items=1, unit_price="100.00", payment_reference="PAY-9")  # paid, not shipped
    case = services.open_case(
        by=None, order=order, case_type=CaseType.REFUND_ONLY, reason=Reason.NO_REASON, items=lines(order, 1)
    )
    assert case.restocking_fee > 0
    time_machine.move_to(case.answer_due_at + timedelta(minutes=1), tick=False)
    sweep.run()
    case.refresh_from_db()
    assert case.state == CaseState.REQUESTED  # not approved, no refund: a person must ask the customer
    escalated = Event.objects.get(verb="case.answer_overdue", subject_id=case.pk)
    assert escalated.data == {"escalated": True, "auto_action_refused": "case.not_confirmed"}
    assert not case.refunds.exists()


# --- The repair fee: quoted as a proposal, accepted in writing, then carried out ------------------------
def test_a_repair_fee_quote_is_a_proposal_sent_to_the_customer(
    delivered_order: Any, customer: Any, agent: Any, tech: Any, step: Any, mailoutbox: Any
) -> None:
    email_customer(customer)
    case = quoted_repair(delivered_order, agent, tech, step)
    assert case.state == CaseState.QUOTED
    quote = case.proposals.get()
    assert (quote.kind, quote.fee_amount, quote.status, quote.respond_by) == (
        CaseType.REPAIR, Decimal("150.00"), ProposalStatus.PROPOSED, at(15),
    )  # fmt: skip
    notice = CustomerNotice.objects.get(case=case, kind="repair_quote")
    assert notice.event == Event.objects.get(verb="case.solution_proposed", subject_id=case.pk)
    assert notice.status == NoticeStatus.SENT
    [message] = [m for m in mailoutbox if m.subject == f"Repair quote for case {case.number}: please answer"]
    assert message.to == [customer.email]
    assert "进水" in message.body  # why
    assert "The repair costs 150.00 CNY" in message.body  # what it costs
    assert "by 2026-11-15 12:00" in message.body  # the deadline
    assert "type your full name, 同意, or the fee amount" in message.body  # how to confirm in writing

    with pytest.raises(IllegalTransition):  # the repair is not carried out before the answer
        services_repair.record_repair_result(case, by=tech, result=RepairResult.REPAIRED)


def test_staff_record_a_fee_acceptance_only_with_its_channel_and_the_customers_words(
    delivered_order: Any, agent: Any, tech: Any, step: Any
) -> None:
    case = quoted_repair(delivered_order, agent, tech, step)
    with pytest.raises(ConfirmationRequired) as by_phone:
        services_repair.accept_repair_fee(case, channel="phone", confirmation_text="同意", by=agent)
    assert by_phone.value.field == "channel"
    with pytest.raises(ConfirmationRequired) as unwritten:
        services_repair.accept_repair_fee(case, channel="wechat", confirmation_text="好的", by=agent)
    assert unwritten.value.field == "confirmation_text"
    with pytest.raises(ValidationFailed) as not_the_portal:  # the portal records the customer's own answer
        services_repair.accept_repair_fee(case, channel="portal", confirmation_text="同意", by=agent)
    assert not_the_portal.value.code == "case.bad_channel"
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.QUOTED

    case = services_repair.accept_repair_fee(case, channel="wechat", confirmation_text="150", by=agent)
    assert (case.state, case.repair.fee, case.repair.fee_accepted_at) == (
        CaseState.REPAIRING,
        Decimal("150.00"),
        at(12),
    )
    quote = case.proposals.get()
    assert (quote.status, quote.channel, quote.confirmation_text, quote.recorded_by) == (
        ProposalStatus.ACCEPTED, "wechat", "150", agent,
    )  # fmt: skip
    accepted = Event.objects.get(verb="case.accept_fee", subject_id=case.pk)
    assert (accepted.actor, accepted.data["channel"], accepted.data["confirmation_text"]) == (agent, "wechat", "150")
    case = services_repair.record_repair_result(case, by=tech, result=RepairResult.REPAIRED)  # now it proceeds
    assert case.state == CaseState.REPAIRED


def test_a_revised_quote_replaces_the_first_and_its_fee_is_the_one_accepted(
    delivered_order: Any, agent: Any, tech: Any, step: Any
) -> None:
    case = quoted_repair(delivered_order, agent, tech, step)
    first = case.proposals.get()
    revised = propose_solution(
        case,
        by=agent,
        kind=CaseType.REPAIR,
        summary="更换主板，优惠价",
        reason="进水，主板损坏",
        fee_amount=Decimal("120"),
    )
    first.refresh_from_db()
    assert first.status == ProposalStatus.SUPERSEDED
    accept_solution(revised, channel="portal", confirmation_text="120")
    case = AfterSalesCase.objects.get(pk=case.pk)
    assert (case.state, case.repair.fee) == (CaseState.REPAIRING, Decimal("120.00"))


def test_a_paid_repair_cannot_be_carried_out_without_the_accepted_fee(
    delivered_order: Any, agent: Any, tech: Any, step: Any
) -> None:
    """Even a case pushed to `repairing` by other means is refused until the fee was accepted in writing."""
    case = quoted_repair(delivered_order, agent, tech, step)
    AfterSalesCase.objects.filter(pk=case.pk).update(state=CaseState.REPAIRING)
    with pytest.raises(ConfirmationRequired) as refused:
        services_repair.record_repair_result(case, by=tech, result=RepairResult.REPAIRED)
    assert refused.value.code == "case.not_confirmed"
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.REPAIRING


def test_an_unanswered_quote_is_reminded_then_the_unit_goes_back_unrepaired(
    delivered_order: Any, customer: Any, agent: Any, tech: Any, step: Any, mailoutbox: Any, time_machine: Any
) -> None:
    email_customer(customer)
    case = quoted_repair(delivered_order, agent, tech, step)  # 11-12 12:00, answer within 3 days
    time_machine.move_to(at(14, 0, 1), tick=False)  # half time
    assert step(expire_unconfirmed_proposals) == {"reminded": 1, "expired": 0, "cases_closed": 0}
    reminder = CustomerNotice.objects.get(case=case, kind="solution_reminder")
    assert reminder.status == NoticeStatus.SENT
    assert reminder.subject == f"Reminder: case {case.number} waits for your answer"
    assert "Fee you pay: 150.00 CNY" in reminder.body
    assert "by 2026-11-15 12:00" in reminder.body

    time_machine.move_to(at(15, 12, 1), tick=False)
    assert step(expire_unconfirmed_proposals) == {"reminded": 0, "expired": 1, "cases_closed": 0}
    case = AfterSalesCase.objects.get(pk=case.pk)
    assert (case.state, case.repair.result, case.repair.fee_accepted_at) == (
        CaseState.REPAIRED, RepairResult.UNREPAIRED, None,
    )  # fmt: skip
    declined = Event.objects.get(verb="case.decline_fee", subject_id=case.pk)
    assert declined.actor is None


# --- Proposals, their reminders and repair appointments reach the customer -----------------------------
def test_a_proposal_and_its_reminder_reach_an_email_customer_through_a_real_smtp_server(
    delivered_order: Any, customer: Any, agent: Any, step: Any, smtp_server: Any, time_machine: Any
) -> None:
    email_customer(customer)
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.REFUND_ONLY, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    step(
        propose_solution, case, by=agent, kind=CaseType.REFUND_ONLY, summary="Partial refund, keep the goods",
        reason="A light scratch", refund_amount=Decimal("40.00"), execute_by=at(14),
    )  # fmt: skip
    [proposed] = smtp_server
    assert (proposed["To"], proposed["Subject"]) == (
        customer.email,
        f"A solution for case {case.number}: please answer",
    )
    body = proposed.get_body(preferencelist=("plain",)).get_content()
    assert f"We propose this solution for case {case.number}: Partial refund, keep the goods" in body  # what
    assert "Why: A light scratch" in body  # why
    assert "Refund to you: 40.00 CNY" in body  # amounts
    assert "we carry it out by 2026-11-14 12:00" in body
    assert "Please accept or reject it by 2026-11-14 12:00" in body  # the deadline (48 h)
    assert CustomerNotice.objects.get(case=case, kind="solution_proposed").status == NoticeStatus.SENT

    time_machine.move_to(at(13, 12, 1), tick=False)
    step(expire_unconfirmed_proposals)
    reminded = smtp_server[1]
    assert reminded["Subject"] == f"Reminder: case {case.number} waits for your answer"
    assert "Partial refund, keep the goods" in reminded.get_body(preferencelist=("plain",)).get_content()
    assert Event.objects.filter(verb="case.solution_reminder", subject_id=case.pk).count() == 1
    assert CustomerNotice.objects.get(case=case, kind="solution_reminder").status == NoticeStatus.SENT


def test_the_on_site_appointment_reaches_the_customer_in_their_language(
    delivered_order: Any, customer: Any, agent: Any, step: Any, smtp_server: Any
) -> None:
    email_customer(customer, "zh-hans")
    case = open_repair(delivered_order, ServiceMode.ON_SITE)
    case = services.approve_case(case, by=agent)
    smtp_server.clear()
    visit = at(14, 9, 30)
    step(
        services_repair.arrange_repair_service,
        case,
        by=agent,
        address="上海市徐汇区漕溪北路 1 号",
        appointment_at=visit,
    )
    [message] = smtp_server
    notice = CustomerNotice.objects.get(case=case, kind="service_arranged")
    assert notice.subject == f"售后单 {case.number} 的维修服务已安排"
    assert (message["To"], message["Subject"].strip(), notice.status) == (
        customer.email, notice.subject, NoticeStatus.SENT,
    )  # fmt: skip
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert f"技术人员将于 2026-11-14 09:30 上门处理售后单 {case.number}，地址：上海市徐汇区漕溪北路 1 号。" in body
    assert notice.language == "zh-hans"


def test_a_mail_in_repair_tells_the_customer_where_to_send_the_unit(
    delivered_order: Any, customer: Any, agent: Any, step: Any, mailoutbox: Any
) -> None:
    email_customer(customer)
    case = open_repair(delivered_order, ServiceMode.MAIL_IN)
    case = services.approve_case(case, by=agent)
    step(services_repair.arrange_repair_service, case, by=agent, address="上海市维修中心 1 号")
    notice = CustomerNotice.objects.get(case=case, kind="service_arranged")
    assert notice.subject == f"Repair service arranged for case {case.number}"
    assert f"Please send the unit for case {case.number} to: 上海市维修中心 1 号." in notice.body
    assert mailoutbox[-1].body == notice.body


# --- The API: a fee accepted on a channel needs the channel and the customer's words ------------------
def test_the_api_records_a_fee_answer_only_with_its_channel_and_written_words(
    delivered_order: Any, client: Any, agent: Any, tech: Any, step: Any
) -> None:
    from desk.cases.tests.test_api import Api, error, ok

    case = quoted_repair(delivered_order, agent, tech, step)
    desk = Api(client, agent)
    assert desk.post(f"/{case.number}/accept-fee", {}).status_code == 400  # no channel: the request is malformed
    by_phone = error(desk.post(f"/{case.number}/accept-fee", {"channel": "phone", "confirmation_text": "同意"}), 400)
    assert by_phone["code"] == "case.confirmation_required"
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.QUOTED
    answered = ok(desk.post(f"/{case.number}/accept-fee", {"channel": "email", "confirmation_text": "同意"}))
    assert answered["state"] == "repairing"
    assert (answered["proposals"][0]["status"], answered["proposals"][0]["channel"]) == ("accepted", "email")
    again = error(desk.post(f"/{case.number}/decline-fee", {"channel": "email"}), 409)
    assert again["code"] == "repair.no_quote"
