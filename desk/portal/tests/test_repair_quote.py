"""The customer answers a repair fee quote in the portal: accepted in writing, or declined."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from desk.accounts.models import Role
from desk.cases import services, services_repair
from desk.cases.models import CaseState, CaseType, Reason, RepairResult, ServiceMode
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.evidence.models import ConfirmationChannel, ProposalStatus

pytestmark = pytest.mark.django_db


def quoted_repair(order: Any, agent: Any) -> Any:
    """A mail-in repair whose unit came in water-damaged: out of warranty, 80.00 quoted."""
    tech = make_staff("tech", Role.TECH_SUPPORT)
    case = services.open_case(
        by=None, order=order, case_type=CaseType.REPAIR, reason=Reason.QUALITY,
        items=[(order.items.order_by("pk").first(), 1)], serial_number="SN-A1B2C3D4", service_mode=ServiceMode.MAIL_IN,
    )  # fmt: skip
    case = services.approve_case(case, by=agent)
    case = services_repair.arrange_repair_service(case, by=agent, address="上海市维修中心 1 号")
    case = services_repair.start_diagnosis(case, by=tech)
    case = services_repair.record_diagnosis(case, by=tech, diagnosis="进水", human_damage=True, fee=Decimal("80"))
    assert case.state == CaseState.QUOTED
    return case


def test_customer_accepts_the_repair_fee_in_writing(portal, delivered_order, agent):
    case = quoted_repair(delivered_order, agent)
    quote = case.proposals.get()

    page = portal.get(f"/portal/cases/{case.pk}/").content.decode()
    assert 'data-testid="proposal"' in page
    assert "80.00" in page
    unwritten = portal.post(f"/portal/cases/{case.pk}/proposals/{quote.pk}/accept/", {"confirmation_text": ""})
    assert unwritten.status_code == 400
    case.refresh_from_db()
    assert case.state == CaseState.QUOTED  # not carried out without the written confirmation

    accepted = portal.post(f"/portal/cases/{case.pk}/proposals/{quote.pk}/accept/", {"confirmation_text": "80"})
    assert accepted.status_code == 302
    quote.refresh_from_db()
    case.refresh_from_db()
    assert (quote.status, quote.channel, quote.confirmation_text, quote.recorded_by) == (
        ProposalStatus.ACCEPTED, ConfirmationChannel.PORTAL, "80", None,
    )  # fmt: skip
    assert (case.state, case.repair.fee_accepted_at) == (CaseState.REPAIRING, quote.responded_at)
    fee = Event.objects.get(verb="case.accept_fee", subject_id=case.pk)
    assert (fee.actor, fee.data["channel"], fee.data["proposal"]) == (None, "portal", quote.pk)


def test_customer_declines_the_repair_fee_and_the_unit_comes_back_unrepaired(portal, delivered_order, agent):
    case = quoted_repair(delivered_order, agent)
    quote = case.proposals.get()

    declined = portal.post(f"/portal/cases/{case.pk}/proposals/{quote.pk}/reject/", {"reason": "太贵了"})
    assert declined.status_code == 302
    quote.refresh_from_db()
    case.refresh_from_db()
    assert (quote.status, quote.response_note) == (ProposalStatus.REJECTED, "太贵了")
    assert (case.state, case.repair.result) == (CaseState.REPAIRED, RepairResult.UNREPAIRED)
    assert Event.objects.get(verb="case.decline_fee", subject_id=case.pk).actor is None
    again = portal.post(f"/portal/cases/{case.pk}/proposals/{quote.pk}/accept/", {"confirmation_text": "同意"})
    assert again.status_code == 400  # answered once (the portal shows it on the case page)
    case.refresh_from_db()
    assert case.state == CaseState.REPAIRED
