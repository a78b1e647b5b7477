from __future__ import annotations

import pytest

from desk.accounts.models import AssignmentStrategy, Availability, Role
from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event
from desk.core.testing import make_customer, make_order, make_staff, request_type
from desk.customers.models import Tier
from desk.tickets import services
from desk.tickets.errors import CannotMerge, IllegalStatusChange
from desk.tickets.models import MessageKind, RoutingRule, Status, Ticket


@pytest.fixture
def routed(support_team, other_team):
    RoutingRule.objects.create(name="物流", position=10, request_type=request_type("logistics"), team=other_team)
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return support_team


def _ticket(by, customer, **kw):
    kw.setdefault("subject", "耳机左耳没有声音")
    kw.setdefault("description", "收到的蓝牙耳机左耳没有声音，想退货")
    kw.setdefault("request_type", request_type())
    return services.create_ticket(by=by, customer=customer, **kw)


def test_created_ticket_is_routed_assigned_and_recorded(routed, agent, customer):
    ticket = _ticket(agent, customer)
    assert ticket.team == routed
    assert ticket.assignee == agent
    assert ticket.number == f"TK{ticket.pk:07d}"
    assert Ticket.pk_from_number(ticket.number) == ticket.pk
    verbs = list(Event.objects.filter(ticket_id=ticket.pk).values_list("verb", flat=True))
    assert "ticket.created" in verbs
    assert "ticket.assigned" in verbs
    assert ticket.messages.get().kind == MessageKind.CUSTOMER
    assert "退货" in ticket.search_text.split()


def test_logistics_type_routes_to_logistics_team(routed, other_team, agent, customer):
    ticket = _ticket(agent, customer, request_type=request_type("logistics"), subject="快递三天没动")
    assert ticket.team == other_team


def test_keyword_rule_matches_subject(support_team, other_team, agent, customer):
    RoutingRule.objects.create(name="快递关键词", position=5, keywords="快递,物流", team=other_team)
    ticket = _ticket(agent, customer, subject="快递显示已签收但没收到")
    assert ticket.team == other_team


def test_vip_customer_goes_to_dedicated_agent(routed, agent, senior_agent):
    vip = make_customer("李总", tier=Tier.VIP, dedicated_agent=senior_agent)
    ticket = _ticket(agent, vip)
    assert ticket.assignee == senior_agent
    assert ticket.customer_tier == Tier.VIP


def test_round_robin_takes_turns_and_skips_away_agents(routed, customer):
    routed.assignment_strategy = AssignmentStrategy.ROUND_ROBIN
    routed.save()
    a = make_staff("a1", Role.AGENT, team=routed)
    b = make_staff("b1", Role.AGENT, team=routed)
    c = make_staff("c1", Role.AGENT, team=routed, availability=Availability.AWAY)
    owners = [_ticket(a, customer).assignee for _ in range(4)]
    assert owners == [a, b, a, b]
    assert c not in owners


def test_least_open_picks_the_least_loaded(routed, customer):
    a = make_staff("a1", Role.AGENT, team=routed)
    b = make_staff("b1", Role.AGENT, team=routed)
    first = _ticket(a, customer)
    second = _ticket(a, customer)
    assert {first.assignee, second.assignee} == {a, b}


def test_agent_cannot_assign_to_others_but_can_take(routed, agent, senior_agent, customer):
    ticket = _ticket(senior_agent, customer)
    with pytest.raises(Forbidden):
        services.assign_ticket(ticket, senior_agent, by=agent)
    assert Event.objects.filter(verb="permission.denied", actor=agent).exists()
    services.assign_ticket(ticket, agent, by=agent)
    ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_reply_sets_first_response_and_status(routed, agent, customer):
    ticket = _ticket(agent, customer)
    services.reply_to_ticket(ticket, "您好，请拍照给我们看看", by=agent, new_status=Status.PENDING_CUSTOMER)
    ticket.refresh_from_db()
    assert ticket.first_responded_at is not None
    assert ticket.status == Status.PENDING_CUSTOMER
    services.add_customer_message(ticket, "照片已上传")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_empty_reply_is_refused(routed, agent, customer):
    ticket = _ticket(agent, customer)
    with pytest.raises(ValidationFailed):
        services.reply_to_ticket(ticket, "   ", by=agent)


def test_illegal_status_change_is_refused(routed, agent, customer):
    ticket = _ticket(agent, customer)
    services.update_ticket(ticket, by=agent, status=Status.CLOSED)
    with pytest.raises(IllegalStatusChange):
        services.update_ticket(ticket, by=agent, status=Status.PENDING_CUSTOMER)
    services.update_ticket(ticket, by=agent, status=Status.OPEN)
    assert Event.objects.filter(ticket_id=ticket.pk, verb="ticket.reopened").exists()


def test_note_mentions_notify_colleagues(routed, agent, senior_agent, customer):
    ticket = _ticket(agent, customer)
    note = services.add_note(ticket, "@senior 请帮忙看看这个质量问题", by=agent)
    assert list(note.mentions.all()) == [senior_agent]
    assert senior_agent.notifications.filter(verb="ticket.mentioned").count() == 1


def test_mention_of_someone_who_cannot_open_the_ticket_notifies_nobody(routed, agent, outsider, customer):
    ticket = _ticket(agent, customer)
    note = services.add_note(ticket, "@outsider 你们组也遇到过吗", by=agent)
    assert list(note.mentions.all()) == []
    assert not outsider.notifications.exists()
    noted = Event.objects.get(ticket_id=ticket.pk, verb="ticket.noted")
    assert noted.data["not_notified"] == [outsider.pk]


def test_merge_moves_messages_and_closes_duplicate(routed, agent, customer):
    first = _ticket(agent, customer)
    dup = _ticket(agent, customer, description="同一个问题再问一次")
    services.merge_tickets(dup, first, by=agent)
    dup.refresh_from_db()
    assert dup.merged_into == first
    assert dup.status == Status.CLOSED
    assert first.messages.count() == 2
    with pytest.raises(CannotMerge):
        services.merge_tickets(first, first, by=agent)


def test_merge_carries_tags_and_the_order_the_kept_ticket_lacked(routed, agent, customer):
    order = make_order(customer, items=2)
    kept = _ticket(agent, customer, tags=["耳机"])
    dup = _ticket(agent, customer, order=order, order_items=list(order.items.all()[:1]), tags=["耳机", "加急"])
    services.merge_tickets(dup, kept, by=agent)
    kept.refresh_from_db()
    assert sorted(t.name for t in kept.tags.all()) == ["加急", "耳机"]
    assert kept.order == order
    assert list(kept.order_items.all()) == list(order.items.all()[:1])
    received = Event.objects.get(ticket_id=kept.pk, verb="ticket.merge_received")
    assert received.data["tags"] == ["加急"]
    assert received.data["order"] == order.pk


def test_merge_keeps_the_kept_tickets_own_order(routed, agent, customer):
    mine, other = make_order(customer), make_order(customer)
    kept = _ticket(agent, customer, order=mine)
    dup = _ticket(agent, customer, order=other, order_items=list(other.items.all()))
    services.merge_tickets(dup, kept, by=agent)
    kept.refresh_from_db()
    assert kept.order == mine
    assert not kept.order_items.exists()


def test_cannot_merge_tickets_of_different_customers(routed, agent, customer):
    mine = _ticket(agent, customer)
    theirs = _ticket(agent, make_customer("张三"))
    with pytest.raises(CannotMerge):
        services.merge_tickets(theirs, mine, by=agent)


def test_warehouse_cannot_create_tickets(routed, warehouse_clerk, customer):
    with pytest.raises(Forbidden):
        _ticket(warehouse_clerk, customer)


def test_order_of_another_customer_is_refused(routed, agent, customer, order):
    with pytest.raises(ValidationFailed):
        _ticket(agent, make_customer("张三"), order=order)


def test_unknown_team_member_in_other_team_is_not_assigned(routed, outsider, customer):
    """The creator belongs to another team and is available; the routed team has nobody. The ticket
    waits unassigned in the routed team rather than going to whoever is at hand."""
    assert outsider.staff.availability == Availability.AVAILABLE
    ticket = _ticket(outsider, customer)
    assert ticket.team == routed
    assert ticket.assignee is None
    assert not Event.objects.filter(ticket_id=ticket.pk, verb="ticket.assigned").exists()
