"""Compensation: the catalogue, grants on their own case or on another, approval limits, paying money once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from desk.cases import payments, services
from desk.cases import services_compensation as comp
from desk.cases.errors import IllegalTransition
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    CompensationGrant,
    CompensationKind,
    GrantSource,
    GrantStatus,
    Reason,
    SimulatedPayout,
)
from desk.cases.tests.conftest import at, lines
from desk.core.errors import Conflict, Forbidden, ValidationFailed
from desk.core.models import Event


def open_compensation(order: Any, by: Any = None) -> AfterSalesCase:
    return services.open_case(
        by=by, order=order, case_type=CaseType.COMPENSATION, reason=Reason.OTHER, items=[], reason_text="发货延迟 5 天"
    )


def open_return(order: Any, reason: str = Reason.NO_REASON) -> AfterSalesCase:
    return services.open_case(
        by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=reason, items=lines(order, 1)
    )


def test_the_catalogue_is_seeded_with_five_kinds(db: Any) -> None:
    kinds = {k.code: k for k in CompensationKind.objects.all()}
    assert list(kinds) == ["coupon", "points", "balance", "goods", "money"]
    assert [code for code, k in kinds.items() if k.pays_money] == ["money"]
    assert kinds["points"].unit_value == Decimal("0.0100")


def test_a_compensation_case_goes_from_proposal_to_issued_coupon(delivered_order: Any, agent: Any) -> None:
    case = open_compensation(delivered_order, by=agent)
    assert (case.state, case.items.count(), case.refund_amount) == (CaseState.REQUESTED, 0, Decimal("0.00"))
    grant = comp.propose_compensation(case, by=agent, kind="coupon", amount=Decimal("15"), reason="发货延迟补偿")
    assert (grant.status, grant.payout_number) == (GrantStatus.PROPOSED, f"CP{case.pk:07d}01")
    grant = comp.approve_compensation(grant, by=agent)
    case.refresh_from_db()
    assert (grant.status, case.state) == (GrantStatus.APPROVED, CaseState.APPROVED)
    with pytest.raises(ValidationFailed) as no_code:
        comp.issue_compensation(grant, by=agent)
    assert no_code.value.code == "compensation.no_reference"
    grant = comp.issue_compensation(grant, by=agent, reference="CPN-2026-8888")
    case.refresh_from_db()
    assert (grant.status, grant.reference) == (GrantStatus.ISSUED, "CPN-2026-8888")
    assert (case.state, case.close_reason) == (CaseState.COMPLETED, "compensated")
    with pytest.raises(Conflict):  # a completed compensation case takes no more grants
        comp.propose_compensation(case, by=agent, kind="coupon", amount=Decimal("5"), reason="再补一张")
    events = Event.objects.filter(subject_id=case.pk, subject_type="aftersalescase").order_by("id")
    assert list(events.values_list("verb", flat=True)) == [
        "case.opened", "case.compensation_proposed", "case.compensation_approved", "case.compensation_issued",
    ]  # fmt: skip
    issued = events.last()
    assert issued is not None
    assert (issued.before, issued.after["case_state"]) == ({"case_state": CaseState.APPROVED}, CaseState.COMPLETED)
    with pytest.raises(IllegalTransition):
        services.withdraw_case(case)


def test_approval_limits_follow_the_role_and_the_kinds_value(
    delivered_order: Any, agent: Any, senior_agent: Any, supervisor: Any
) -> None:
    case = open_return(delivered_order)
    points = comp.propose_compensation(case, by=agent, kind="points", amount=Decimal("1500"), reason="评价积分")
    assert comp.approve_compensation(points, by=agent).status == GrantStatus.APPROVED  # 1500 points = 15.00 ≤ 20
    money = comp.propose_compensation(case, by=agent, kind="money", amount=Decimal("50"), reason="安抚")
    with pytest.raises(Forbidden) as over:
        comp.approve_compensation(money, by=agent)
    assert over.value.code == "permission.over_limit"
    assert comp.approve_compensation(money, by=senior_agent).status == GrantStatus.APPROVED
    big = comp.propose_compensation(case, by=agent, kind="balance", amount=Decimal("500"), reason="重大失误")
    with pytest.raises(Forbidden):
        comp.approve_compensation(big, by=senior_agent)
    assert comp.approve_compensation(big, by=supervisor).status == GrantStatus.APPROVED
    denied = Event.objects.filter(verb="permission.denied", data__action="compensation.approve")
    assert sorted(Decimal(str(e.data["amount"])) for e in denied) == [Decimal("50"), Decimal("500")]
    case.refresh_from_db()
    assert case.state == CaseState.REQUESTED  # grants on a return do not move the return


def test_money_is_paid_once_when_the_provider_answer_is_lost_and_the_payout_retried(
    delivered_order: Any, senior_agent: Any, manager: Any
) -> None:
    case = open_return(delivered_order)
    grant = comp.propose_compensation(case, by=senior_agent, kind="money", amount=Decimal("30"), reason="安抚")
    grant = comp.approve_compensation(grant, by=senior_agent)
    with pytest.raises(Forbidden):
        comp.issue_compensation(grant, by=senior_agent)  # money goes out through finance
    payments.simulated.fail_next = "lose_response"
    grant = comp.issue_compensation(grant, by=manager)
    assert (grant.status, grant.attempts) == (GrantStatus.SENT, 1)
    assert SimulatedPayout.objects.filter(refund_number=grant.payout_number).count() == 1  # paid, answer lost
    with pytest.raises(Conflict):
        comp.issue_compensation(grant, by=manager)  # a second "issue" click cannot send it again
    grant = comp.retry_compensation_payout(grant, by=manager)
    assert (grant.status, grant.attempts) == (GrantStatus.ISSUED, 2)
    payout = SimulatedPayout.objects.get()
    assert (payout.refund_number, payout.amount) == (grant.payout_number, Decimal("30.00"))
    assert grant.reference == f"SIM{payout.pk}"
    with pytest.raises(Conflict) as again:
        comp.retry_compensation_payout(grant, by=manager)
    assert again.value.code == "compensation.already_issued"
    assert payments.simulated.calls == 2
    assert SimulatedPayout.objects.count() == 1


def test_the_sweep_resends_a_payout_left_unanswered_for_ten_minutes(
    delivered_order: Any, senior_agent: Any, manager: Any, time_machine: Any
) -> None:
    case = open_return(delivered_order)
    grant = comp.approve_compensation(
        comp.propose_compensation(case, by=senior_agent, kind="money", amount=Decimal("18"), reason="安抚"),
        by=senior_agent,
    )
    payments.simulated.fail_next = "lose_response"
    grant = comp.issue_compensation(grant, by=manager)  # sent at 11-12 12:00, the answer lost
    time_machine.move_to(at(12, 12, 9), tick=False)
    assert comp.retry_stale_payouts() == 0
    time_machine.move_to(at(12, 12, 10), tick=False)
    assert comp.retry_stale_payouts() == 1
    grant.refresh_from_db()
    assert (grant.status, grant.attempts) == (GrantStatus.ISSUED, 2)
    assert comp.retry_stale_payouts() == 0
    assert SimulatedPayout.objects.get().amount == Decimal("18.00")


def test_a_declined_payout_can_be_retried_or_cancelled(delivered_order: Any, senior_agent: Any, manager: Any) -> None:
    case = open_return(delivered_order)
    grant = comp.approve_compensation(
        comp.propose_compensation(case, by=senior_agent, kind="money", amount=Decimal("12.5"), reason="安抚"),
        by=senior_agent,
    )
    payments.simulated.fail_next = "decline"
    grant = comp.issue_compensation(grant, by=manager)
    assert grant.status == GrantStatus.FAILED
    assert not SimulatedPayout.objects.exists()
    grant = comp.cancel_compensation(grant, by=senior_agent, reason="客户改要优惠券")
    assert grant.status == GrantStatus.CANCELLED
    with pytest.raises(Conflict):
        comp.retry_compensation_payout(grant, by=manager)


def test_a_manual_payout_waits_for_finance(
    delivered_order: Any, senior_agent: Any, manager: Any, settings: Any
) -> None:
    settings.CASES_PAYMENT_PROVIDER = "manual"
    case = open_compensation(delivered_order)
    grant = comp.approve_compensation(
        comp.propose_compensation(case, by=senior_agent, kind="money", amount=Decimal("40"), reason="延迟赔付"),
        by=senior_agent,
    )
    grant = comp.issue_compensation(grant, by=manager)
    assert (grant.status, grant.provider) == (GrantStatus.SENT, "manual")
    grant = comp.mark_compensation_paid(grant, by=manager, reference="BANK-0001")
    case.refresh_from_db()
    assert (grant.status, grant.reference, case.state) == (GrantStatus.ISSUED, "BANK-0001", CaseState.COMPLETED)


def test_the_double_shipping_fee_compensation_is_paid_through_a_grant_once(
    delivered_order: Any, agent: Any, manager: Any
) -> None:
    case = open_return(delivered_order, reason=Reason.DAMAGED)
    assert case.compensation_amount == Decimal("20.00")  # twice the 10.00 shipping fee
    grant = comp.propose_double_shipping(case, by=agent)
    assert (grant.kind.code, grant.amount, grant.source) == ("money", Decimal("20.00"), GrantSource.DOUBLE_SHIPPING)
    with pytest.raises(Conflict) as twice:
        comp.propose_double_shipping(case, by=agent)
    assert twice.value.code == "compensation.duplicate"
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses a second one too
        CompensationGrant.objects.create(
            case=case, kind=grant.kind, amount=Decimal("20"), reason="x", source=GrantSource.DOUBLE_SHIPPING,
            payout_number="CPDUP", created_at=timezone.now(),
        )  # fmt: skip
    grant = comp.issue_compensation(comp.approve_compensation(grant, by=agent), by=manager)  # 20 ≤ agent's 20
    assert grant.status == GrantStatus.ISSUED
    assert SimulatedPayout.objects.get().amount == Decimal("20.00")
    case.refresh_from_db()
    assert case.refund_amount == Decimal("142.50")  # never added to the refund


def test_proposals_are_checked(delivered_order: Any, agent: Any, analyst: Any) -> None:
    case = open_return(delivered_order)
    with pytest.raises(ValidationFailed) as nothing:
        comp.propose_double_shipping(case, by=agent)  # a no-reason return owes no compensation
    assert nothing.value.code == "compensation.nothing_due"
    with pytest.raises(ValidationFailed) as bad_kind:
        comp.propose_compensation(case, by=agent, kind="bitcoin", amount=Decimal("1"), reason="x")
    assert bad_kind.value.code == "compensation.bad_kind"
    CompensationKind.objects.filter(code="goods").update(active=False)
    with pytest.raises(ValidationFailed):
        comp.propose_compensation(case, by=agent, kind="goods", amount=Decimal("1"), reason="x")
    with pytest.raises(ValidationFailed) as zero:
        comp.propose_compensation(case, by=agent, kind="coupon", amount=Decimal("0"), reason="x")
    assert zero.value.code == "compensation.bad_amount"
    with pytest.raises(ValidationFailed):
        comp.propose_compensation(case, by=agent, kind="coupon", amount=Decimal("5"), reason=" ")
    with pytest.raises(Forbidden):
        comp.propose_compensation(case, by=analyst, kind="coupon", amount=Decimal("5"), reason="x")
    services.withdraw_case(case)
    with pytest.raises(Conflict) as ended:
        comp.propose_compensation(case, by=agent, kind="coupon", amount=Decimal("5"), reason="x")
    assert ended.value.code == "compensation.case_ended"
    assert not CompensationGrant.objects.exists()


def test_grant_steps_out_of_order_are_refused(delivered_order: Any, agent: Any) -> None:
    case = open_compensation(delivered_order)
    grant = comp.propose_compensation(case, by=agent, kind="coupon", amount=Decimal("5"), reason="x")
    with pytest.raises(Conflict) as early:
        comp.issue_compensation(grant, by=agent, reference="CPN-1")
    assert early.value.code == "compensation.not_issuable"
    comp.approve_compensation(grant, by=agent)
    with pytest.raises(Conflict) as twice:
        comp.approve_compensation(grant, by=agent)
    assert twice.value.code == "compensation.illegal_step"
    comp.cancel_compensation(grant, by=agent, reason="重复申请")
    case.refresh_from_db()
    assert case.state == CaseState.APPROVED  # nothing was issued: the case is not done
    services.withdraw_case(case, by=agent)
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.CLOSED
