"""Customer confirmation of a proposed solution: accepted (in writing when fees are involved), rejected, expired."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from desk.cases import services
from desk.cases.errors import ConfirmationRequired, ProposalClosed
from desk.cases.models import CaseState, CaseType, Reason
from desk.cases.services_confirmation import (
    accept_solution,
    expire_unconfirmed_proposals,
    propose_solution,
    reject_solution,
    require_accepted_solution,
)
from desk.cases.tests.conftest import at, lines
from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event
from desk.evidence.models import ProposalStatus


@pytest.fixture(autouse=True)
def _in_english() -> Iterator[None]:
    """Messages are checked in English; the shop's default language is zh-hans."""
    with translation.override("en"):
        yield


@pytest.fixture
def case(delivered_order: Any, agent: Any) -> Any:
    return services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.REFUND_ONLY, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip


def propose(case: Any, by: Any, **terms: Any) -> Any:
    terms.setdefault("kind", CaseType.REPAIR)
    terms.setdefault("summary", "免费维修左耳机，3 个工作日内寄回")
    terms.setdefault("reason", "质检确认为电池故障，在保修期内")
    return propose_solution(case, by=by, **terms)


def test_the_customer_accepts_a_free_solution_in_the_portal(case: Any, agent: Any) -> None:
    proposal = propose(case, agent, execute_by=at(15))
    assert proposal.respond_by == at(12) + timedelta(hours=48)
    accepted = accept_solution(proposal, channel="portal")
    assert (accepted.status, accepted.channel, accepted.responded_at) == (ProposalStatus.ACCEPTED, "portal", at(12))
    assert accepted.recorded_by is None
    event = Event.objects.get(verb="case.solution_accepted")
    assert (event.actor_label, event.data["by_customer"], event.after) == (
        "system", True, {"proposal_status": "accepted"},
    )  # fmt: skip
    assert require_accepted_solution(case, CaseType.REPAIR) == accepted


def test_a_solution_with_a_fee_is_refused_without_written_confirmation(case: Any, agent: Any) -> None:
    proposal = propose(case, agent, fee_amount=Decimal("15.00"), summary="付费维修（人为损坏），维修费 15 元")
    with pytest.raises(ConfirmationRequired) as caught:
        accept_solution(proposal, channel="portal")
    assert (caught.value.code, caught.value.field) == ("case.confirmation_required", "confirmation_text")
    assert "15.00 CNY" in caught.value.message
    with pytest.raises(ConfirmationRequired) as caught:
        accept_solution(proposal, channel="phone", confirmation_text="同意", by=agent)
    assert caught.value.field == "channel"
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PROPOSED
    assert not Event.objects.filter(verb="case.solution_accepted").exists()


@pytest.mark.parametrize("text", ["同意", "  王小明 ", "15.00", "15", "¥15.00", "I agree"])
def test_written_confirmation_is_the_name_agreement_or_the_exact_fee(case: Any, agent: Any, text: str) -> None:
    proposal = propose(case, agent, fee_amount=Decimal("15.00"))
    accepted = accept_solution(proposal, channel="wechat", confirmation_text=text, by=agent)
    assert (accepted.status, accepted.channel, accepted.recorded_by) == (ProposalStatus.ACCEPTED, "wechat", agent)
    assert accepted.confirmation_text == " ".join(text.split())
    assert Event.objects.get(verb="case.solution_accepted").data["confirmation_text"] == accepted.confirmation_text


@pytest.mark.parametrize("text", ["ok", "16.00", "王小", ""])
def test_anything_else_is_not_a_written_confirmation(case: Any, agent: Any, text: str) -> None:
    proposal = propose(case, agent, fee_amount=Decimal("15.00"))
    with pytest.raises(ConfirmationRequired):
        accept_solution(proposal, channel="email", confirmation_text=text, by=agent)


def test_a_process_change_needs_written_confirmation_too(case: Any, agent: Any) -> None:
    proposal = propose(case, agent, kind=CaseType.EXCHANGE, process_change=True)
    with pytest.raises(ConfirmationRequired):
        accept_solution(proposal, channel="portal")
    assert accept_solution(proposal, channel="portal", confirmation_text="同意").status == ProposalStatus.ACCEPTED


def test_the_customer_rejects_and_cannot_accept_afterwards(case: Any, agent: Any) -> None:
    proposal = propose(case, agent)
    rejected = reject_solution(proposal, channel="app", reason="我只想退款")
    assert (rejected.status, rejected.response_note) == (ProposalStatus.REJECTED, "我只想退款")
    assert Event.objects.get(verb="case.solution_rejected").data["response_note"] == "我只想退款"
    with pytest.raises(ProposalClosed) as caught:
        accept_solution(proposal, channel="portal")
    assert caught.value.code == "case.proposal_closed"
    with pytest.raises(ConfirmationRequired) as refused:
        require_accepted_solution(case, CaseType.REPAIR)
    assert refused.value.code == "case.not_confirmed"


def test_a_new_proposal_supersedes_the_unanswered_one(case: Any, agent: Any) -> None:
    first = propose(case, agent)
    second = propose(case, agent, kind=CaseType.COMPENSATION, compensation_amount=Decimal("10.00"))
    first.refresh_from_db()
    assert (first.status, second.status) == (ProposalStatus.SUPERSEDED, ProposalStatus.PROPOSED)
    assert Event.objects.filter(verb="case.solution_proposed").latest("pk").data["superseded"] == [first.pk]
    with pytest.raises(ProposalClosed):
        accept_solution(first, channel="portal")


def test_nobody_promises_more_than_they_may_approve(case: Any, agent: Any, senior_agent: Any) -> None:
    with pytest.raises(Forbidden) as caught:
        propose(case, agent, kind=CaseType.REFUND_ONLY, refund_amount=Decimal("500.00"))
    assert caught.value.code == "permission.over_limit"
    assert propose(case, senior_agent, kind=CaseType.REFUND_ONLY, refund_amount=Decimal("500.00")).pk


def test_a_proposal_needs_what_why_and_a_real_deadline(case: Any, agent: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        propose(case, agent, reason=" ")
    assert (caught.value.code, caught.value.field) == ("case.bad_solution", "reason")
    with pytest.raises(ValidationFailed) as caught:
        propose(case, agent, respond_by=at(12, 12, 30))
    assert caught.value.field == "respond_by"
    with pytest.raises(ValidationFailed) as caught:
        accept_solution(propose(case, agent), channel="pigeon")
    assert caught.value.code == "case.bad_channel"


def test_unanswered_proposal_is_reminded_at_half_time_then_expires_and_closes_the_case(
    case: Any, agent: Any, time_machine: Any
) -> None:
    proposal = propose(case, agent)  # at 11-12 12:00, answer within 48 h
    time_machine.move_to(at(13, 11, 59), tick=False)
    assert expire_unconfirmed_proposals() == {"reminded": 0, "expired": 0, "cases_closed": 0}
    time_machine.move_to(at(13, 12, 1), tick=False)
    assert expire_unconfirmed_proposals() == {"reminded": 1, "expired": 0, "cases_closed": 0}
    assert expire_unconfirmed_proposals()["reminded"] == 0  # once only
    reminder = Event.objects.get(verb="case.solution_reminder")  # its own verb, with the proposal's terms
    assert (reminder.data["proposal"], reminder.data["summary"]) == (proposal.pk, "免费维修左耳机，3 个工作日内寄回")
    assert "2026-11-14 12:00" in reminder.data["message"]
    assert not Event.objects.filter(verb="case.notice").exists()
    time_machine.move_to(at(14, 12, 1), tick=False)
    with pytest.raises(ProposalClosed):  # too late, even before the sweep has run
        accept_solution(proposal, channel="portal")
    assert expire_unconfirmed_proposals() == {"reminded": 0, "expired": 1, "cases_closed": 1}
    assert expire_unconfirmed_proposals()["expired"] == 0
    proposal.refresh_from_db()
    case.refresh_from_db()
    assert proposal.status == ProposalStatus.EXPIRED
    assert (case.state, case.close_reason) == (CaseState.CLOSED, "unconfirmed")
    expired = Event.objects.get(verb="case.solution_expired")
    assert expired.data["case_closed"] is True
    assert "not confirmed in time" in expired.data["message"]


def test_an_expired_proposal_leaves_a_case_open_whose_workflow_cannot_close_it_there(
    case: Any, agent: Any, manager: Any, time_machine: Any
) -> None:
    services.approve_case(case, by=manager)
    services.start_refund(case, by=manager)  # refunded: only "close" (refunded → closed) leads on
    case.refresh_from_db()
    before = case.state
    propose(case, agent, kind=CaseType.COMPENSATION)
    time_machine.move_to(at(20), tick=False)
    assert expire_unconfirmed_proposals() == {"reminded": 0, "expired": 1, "cases_closed": 0}
    case.refresh_from_db()
    assert case.state == before
    assert Event.objects.get(verb="case.solution_expired").data["case_closed"] is False


def test_the_refusal_reads_in_the_shops_language(case: Any, agent: Any) -> None:
    proposal = propose(case, agent, fee_amount=Decimal("15.00"))
    with translation.override("zh-hans"), pytest.raises(ConfirmationRequired) as caught:
        accept_solution(proposal, channel="phone", confirmation_text="同意", by=agent)
    assert (
        caught.value.message
        == "该方案涉及费用（15.00 CNY）或流程变更：须书面确认（门户、邮件或消息），不能通过电话确认。"
    )
