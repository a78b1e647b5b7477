"""Reads for the portal, always scoped to the customer of the portal session.

A customer reaches only their own orders and cases: anything else is `NotFound` (404), so a
guessed id tells nothing about whether it exists.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from desk.cases.models import AfterSalesCase, CaseItem
from desk.cases.money import claimed_items
from desk.core.errors import NotFound
from desk.core.models import Event
from desk.customers.models import Customer
from desk.evidence.models import EvidenceFile, ProposalStatus, SolutionProposal
from desk.orders.models import Order, OrderItem, Shipment
from desk.portal.models import PortalSession
from desk.portal.services import hash_token


def session_for_token(token: str | None) -> PortalSession | None:
    """The live portal session for a browser's token (not ended, not expired), with its customer."""
    if not token:
        return None
    return (
        PortalSession.objects.select_related("customer")
        .filter(token_hash=hash_token(token), ended_at=None, expires_at__gt=timezone.now())
        .first()
    )


def orders_of(customer: Customer) -> QuerySet[Order]:
    return (
        Order.objects.filter(customer=customer)
        .select_related("storefront")
        .prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.order_by("id")),
            Prefetch("shipments", queryset=Shipment.objects.order_by("id")),
        )
        .order_by("-placed_at", "-id")
    )


def get_order_of(customer: Customer, order_id: int) -> Order:
    order = orders_of(customer).filter(pk=order_id).first()
    if order is None:
        raise NotFound("order not found", code="order.not_found")
    return order


def cases_of(customer: Customer) -> QuerySet[AfterSalesCase]:
    return (
        AfterSalesCase.objects.filter(customer=customer)
        .select_related("order")
        .prefetch_related(Prefetch("items", queryset=CaseItem.objects.select_related("order_item").order_by("id")))
        .order_by("-created_at", "-id")
    )


def get_case_of(customer: Customer, case_id: int) -> AfterSalesCase:
    case = cases_of(customer).filter(pk=case_id).first()
    if case is None:
        raise NotFound("case not found", code="case.not_found")
    return case


def case_history(case: AfterSalesCase) -> QuerySet[Event]:
    """The case's own events, oldest first: what the customer sees as the case's progress."""
    return Event.objects.filter(subject_type=AfterSalesCase._meta.model_name, subject_id=case.pk).order_by("id")


def claimable_units(order: Order) -> dict[int, int]:
    """Units of each item not yet in a live after-sales case (what the customer may still claim)."""
    claimed = claimed_items(order)
    return {item.pk: item.quantity - claimed.get(item.pk, (0, 0))[0] for item in order.items.all()}


def evidence_of(case: AfterSalesCase) -> QuerySet[EvidenceFile]:
    return EvidenceFile.objects.filter(case=case, withdrawn_at=None).order_by("id")


def open_proposal(case: AfterSalesCase) -> SolutionProposal | None:
    """The proposal waiting for the customer's answer, if its deadline has not passed."""
    return (
        SolutionProposal.objects.filter(case=case, status=ProposalStatus.PROPOSED, respond_by__gt=timezone.now())
        .order_by("-id")
        .first()
    )


def answered_proposals(case: AfterSalesCase) -> QuerySet[SolutionProposal]:
    return SolutionProposal.objects.filter(
        case=case, status__in=[ProposalStatus.ACCEPTED, ProposalStatus.REJECTED]
    ).order_by("-id")


def get_proposal_of(case: AfterSalesCase, proposal_id: int) -> SolutionProposal:
    """A proposal of a case already scoped to the customer; another case's proposal is NotFound."""
    proposal = SolutionProposal.objects.filter(case=case, pk=proposal_id).select_related("case__customer").first()
    if proposal is None:
        raise NotFound("proposal not found", code="proposal.not_found")
    return proposal
