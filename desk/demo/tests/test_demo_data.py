from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from desk.accounts.models import Role, StaffProfile, Team
from desk.core.models import Event
from desk.customers.models import Customer
from desk.orders.models import Order, Shipment
from desk.tickets.models import Status, Ticket


def _load() -> str:
    out = StringIO()
    call_command("demo_data", stdout=out)
    return out.getvalue()


def test_demo_data_loads_a_full_shop_once(db, client):
    printed = _load()

    roles = set(StaffProfile.objects.values_list("role", flat=True))
    assert roles >= {r.value for r in Role} - {Role.INTEGRATION}
    assert "demo-pass-2026" in printed
    assert "supervisor" in printed

    assert Customer.objects.count() == 50
    assert Order.objects.count() == 200
    assert Shipment.objects.exists()
    assert not Order.objects.filter(shipping_address="").exists()  # the 360 panel shows where it went
    vip_tickets = Ticket.objects.exclude(customer_tier="regular")
    assert vip_tickets.exists()
    vip_team = Team.objects.get(code="vip").pk
    created = Event.objects.filter(verb="ticket.created", ticket_id__in=vip_tickets.values("id"))
    assert {e.after["team"] for e in created} == {vip_team}  # routed by tier (breaches may move them up later)
    assert Ticket.objects.count() == 100
    assert set(Ticket.objects.values_list("status", flat=True)) == set(Status.values)
    assert Ticket.objects.filter(subject__contains="耳机").exists()
    assert Ticket.objects.filter(subject__contains="Parcel").exists()

    closed = Ticket.objects.filter(status=Status.CLOSED).first()
    verbs = set(Event.objects.filter(ticket_id=closed.pk).values_list("verb", flat=True))
    assert {"ticket.created", "ticket.accepted", "ticket.replied"} <= verbs

    from desk.cases.models import AfterSalesCase, CaseState, CaseType
    from desk.evidence.models import Dispute, SolutionProposal

    assert set(AfterSalesCase.objects.values_list("case_type", flat=True)) == set(CaseType.values)
    assert Dispute.objects.exists()
    assert SolutionProposal.objects.exists()

    states = set(AfterSalesCase.objects.values_list("state", flat=True))
    assert {CaseState.REQUESTED, CaseState.AWAITING_RETURN, CaseState.RECEIVED, CaseState.CLOSED} <= states
    assert Event.objects.filter(verb="case.confirm_refund").exists()
    assert not AfterSalesCase.objects.filter(updated_at__gt=timezone.now()).exists()  # no history in the future

    assert "already loaded" in _load()
    assert Ticket.objects.count() == 100

    # The demo manager holds config.manage, so the admin's login lets them in to configure the shop.
    login = client.post("/admin/login/", {"username": "manager", "password": "demo-pass-2026"})
    assert login.status_code == 302
    assert client.get("/admin/tickets/routingrule/").status_code == 200
