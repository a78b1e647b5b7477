"""The customer accepts or declines a solution the shop proposed, in the portal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from desk.cases import services
from desk.cases.models import CaseType, Reason
from desk.cases.services_confirmation import propose_solution
from desk.core.models import Event
from desk.core.testing import make_customer, make_order
from desk.evidence.models import ConfirmationChannel, ProposalStatus

pytestmark = pytest.mark.django_db


def open_refund(order: Any) -> Any:
    return services.open_case(
        by=None, order=order, case_type=CaseType.REFUND_ONLY, reason=Reason.QUALITY,
        items=[(order.items.order_by("pk").first(), 1)],
    )  # fmt: skip


def propose(case: Any, agent: Any, **terms: Any) -> Any:
    terms.setdefault("refund_amount", Decimal("100.00"))
    return propose_solution(
        case, by=agent, kind=CaseType.REFUND_ONLY, summary="部分退款 100 元，商品无需退回", reason="轻微划痕", **terms
    )


def test_customer_sees_and_accepts_a_proposed_solution(portal, delivered_order, agent):
    case = open_refund(delivered_order)
    proposal = propose(case, agent)

    page = portal.get(f"/portal/cases/{case.pk}/").content.decode()
    assert "部分退款 100 元，商品无需退回" in page
    response = portal.post(f"/portal/cases/{case.pk}/proposals/{proposal.pk}/accept/", {})

    proposal.refresh_from_db()
    assert response.status_code == 302
    assert (proposal.status, proposal.channel, proposal.recorded_by) == (
        ProposalStatus.ACCEPTED, ConfirmationChannel.PORTAL, None,
    )  # fmt: skip
    accepted = Event.objects.get(verb="case.solution_accepted", subject_id=case.pk)
    assert accepted.actor is None
    assert 'data-testid="proposal"' not in portal.get(f"/portal/cases/{case.pk}/").content.decode()


def test_customer_declines_with_a_reason(portal, delivered_order, agent):
    case = open_refund(delivered_order)
    proposal = propose(case, agent)

    portal.post(f"/portal/cases/{case.pk}/proposals/{proposal.pk}/reject/", {"reason": "我想全额退款"})

    proposal.refresh_from_db()
    assert (proposal.status, proposal.response_note) == (ProposalStatus.REJECTED, "我想全额退款")


def test_a_fee_needs_a_written_confirmation(portal, delivered_order, agent):
    case = open_refund(delivered_order)
    proposal = propose(case, agent, fee_amount=Decimal("20.00"))

    refused = portal.post(f"/portal/cases/{case.pk}/proposals/{proposal.pk}/accept/", {"confirmation_text": ""})
    proposal.refresh_from_db()
    assert refused.status_code == 400
    assert proposal.status == ProposalStatus.PROPOSED

    accepted = portal.post(f"/portal/cases/{case.pk}/proposals/{proposal.pk}/accept/", {"confirmation_text": "同意"})
    proposal.refresh_from_db()
    assert accepted.status_code == 302
    assert (proposal.status, proposal.confirmation_text) == (ProposalStatus.ACCEPTED, "同意")


def test_an_answered_proposal_cannot_be_answered_again(portal, delivered_order, agent):
    case = open_refund(delivered_order)
    proposal = propose(case, agent)
    portal.post(f"/portal/cases/{case.pk}/proposals/{proposal.pk}/reject/", {})

    response = portal.post(f"/portal/cases/{case.pk}/proposals/{proposal.pk}/accept/", {})

    proposal.refresh_from_db()
    assert response.status_code == 400
    assert proposal.status == ProposalStatus.REJECTED


def test_another_customers_proposal_cannot_be_answered(portal, delivered_order, agent):
    neighbour = make_order(make_customer("李雷"), items=1, unit_price="99.00")
    theirs = propose(open_refund(neighbour), agent, refund_amount=Decimal("50.00"))
    mine = open_refund(delivered_order)

    via_their_case = portal.post(f"/portal/cases/{theirs.case_id}/proposals/{theirs.pk}/accept/", {})
    via_my_case = portal.post(f"/portal/cases/{mine.pk}/proposals/{theirs.pk}/accept/", {})

    theirs.refresh_from_db()
    assert via_their_case.status_code == via_my_case.status_code == 404
    assert theirs.status == ProposalStatus.PROPOSED
