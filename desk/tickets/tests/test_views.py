"""The agent console pages: who sees what, actions through the services, errors as form errors."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from desk.accounts.models import Availability, StaffProfile
from desk.core.models import Event
from desk.core.testing import make_customer, make_order, request_type
from desk.tickets import services
from desk.tickets.models import CannedReply, MessageKind, RoutingRule, SlaState, Status, Ticket


@pytest.fixture
def routed(support_team):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return support_team


@pytest.fixture
def ticket(routed, agent, customer, order):
    return services.create_ticket(
        by=agent, customer=customer, order=order, subject="蓝牙耳机左耳没有声音",
        description="收到的耳机左耳没有声音，想退货", request_type=request_type(),
    )  # fmt: skip


def _login(client, user):
    client.force_login(user)
    return client


# --- Queue ----------------------------------------------------------------------------------------
def test_agent_sees_own_ticket_in_the_mine_tab(client, agent, ticket):
    response = _login(client, agent).get(reverse("tickets:queue"))
    assert response.status_code == 200
    html = response.content.decode()
    assert ticket.number in html
    assert "蓝牙耳机左耳没有声音" in html


def test_login_is_required_for_the_queue(client, db):
    response = client.get(reverse("tickets:queue"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_outsider_sees_nothing_of_another_team(client, outsider, other_team, ticket, customer):
    """The unassigned tab and a keyword search filter nothing by team themselves: only the scoping
    (tickets_visible_to) keeps the support team's ticket out, so a broken scope shows it here."""
    services.assign_ticket(ticket, None, by=_supervisor_for(ticket))
    RoutingRule.objects.create(name="物流", position=1, keywords="快递", team=other_team)
    own = services.create_ticket(by=outsider, customer=customer, subject="耳机的快递没到", request_type=request_type())
    services.assign_ticket(own, None, by=_supervisor_for(own, "lead3"))
    client = _login(client, outsider)
    for params in ({"tab": "unassigned"}, {"tab": "unassigned", "q": "耳机"}):
        response = client.get(reverse("tickets:queue"), params)
        assert response.status_code == 200
        html = response.content.decode()
        assert own.number in html, params  # the tab does list unassigned tickets, the outsider's own
        assert ticket.number not in html, params
    assert client.get(reverse("tickets:detail", args=[ticket.pk])).status_code == 404


def test_keyword_search_finds_chinese_and_ignores_others(client, agent, ticket, customer):
    services.create_ticket(by=agent, customer=customer, subject="发票抬头写错了", request_type=request_type("invoice"))
    response = _login(client, agent).get(reverse("tickets:queue"), {"tab": "mine", "q": "耳机"})
    html = response.content.decode()
    assert ticket.number in html
    assert "发票抬头" not in html


def test_keyword_search_finds_english_words(client, agent, routed, customer):
    found = services.create_ticket(
        by=agent, customer=customer, subject="Refund for broken charger", request_type=request_type("refund")
    )
    response = _login(client, agent).get(reverse("tickets:queue"), {"q": "charger"})
    assert found.number in response.content.decode()


def test_filters_narrow_the_queue(client, agent, ticket, customer):
    other = services.create_ticket(
        by=agent, customer=customer, subject="快递三天没动", request_type=request_type("logistics"), priority=4
    )
    html = _login(client, agent).get(reverse("tickets:queue"), {"priority": "4"}).content.decode()
    assert other.number in html
    assert ticket.number not in html
    html = client.get(reverse("tickets:queue"), {"type": "product_quality"}).content.decode()
    assert ticket.number in html
    assert other.number not in html


def _vip(agent, pair):
    from desk.customers.models import Tier

    vip = make_customer("李总", tier=Tier.VIP)
    return services.create_ticket(by=agent, customer=vip, subject="会员的耳机", request_type=request_type())


def _by_email(agent, pair):
    from desk.customers.models import Channel

    return services.create_ticket(by=agent, customer=pair.customer, subject="邮件来的问题",
                                  request_type=request_type(), channel=Channel.EMAIL)  # fmt: skip


def _breaching(agent, pair):
    found = services.create_ticket(by=agent, customer=pair.customer, subject="快超时了", request_type=request_type())
    Ticket.objects.filter(pk=found.pk).update(sla_state=SlaState.WARNING)  # what the sweep writes at 80 %
    pair.update(sla_state=SlaState.OK)
    return found


def _tagged(agent, pair):
    return services.create_ticket(by=agent, customer=pair.customer, subject="带标签", request_type=request_type(),
                                  tags=["返修"])  # fmt: skip


def _waiting(agent, pair):
    found = services.create_ticket(by=agent, customer=pair.customer, subject="等客户回复", request_type=request_type())
    return services.update_ticket(found, by=agent, status=Status.PENDING_CUSTOMER)


@pytest.mark.parametrize(
    ("params", "make"),
    [
        ({"tier": "vip"}, _vip),
        ({"channel": "email"}, _by_email),
        ({"sla": "warning"}, _breaching),
        ({"tag": "返修"}, _tagged),
        ({"status": "pending_customer"}, _waiting),
    ],
    ids=["tier", "channel", "sla", "tag", "status"],
)
def test_each_console_filter_narrows_the_rows(client, agent, ticket, params, make):
    class Pair:  # the plain ticket, for the builders that need its customer or set its state
        customer = ticket.customer

        @staticmethod
        def update(**fields):
            Ticket.objects.filter(pk=ticket.pk).update(**fields)

    match = make(agent, Pair)
    client = _login(client, agent)
    unfiltered = client.get(reverse("tickets:queue"), {"tab": "team", "status": "any"}).content.decode()
    assert match.number in unfiltered  # both are in the team's queue
    assert ticket.number in unfiltered

    response = client.get(reverse("tickets:queue"), {"tab": "team", **params})
    rows = client.get(reverse("tickets:queue_rows"), {"tab": "team", **params})

    for page in (response, rows):  # the page and the htmx partial it polls
        assert page.status_code == 200
        html = page.content.decode()
        assert match.number in html, params
        assert ticket.number not in html, params


def test_unassigned_tab_lists_tickets_without_owner(client, agent, ticket):
    services.assign_ticket(ticket, None, by=_supervisor_for(ticket))
    html = _login(client, agent).get(reverse("tickets:queue"), {"tab": "unassigned"}).content.decode()
    assert ticket.number in html


def _supervisor_for(ticket, username="lead2"):
    from desk.accounts.models import Role
    from desk.core.testing import make_staff

    return make_staff(username, Role.SUPERVISOR, team=ticket.team)


def test_breaching_tab_orders_by_deadline(client, agent, ticket, customer):
    from datetime import timedelta

    from django.utils import timezone

    later = services.create_ticket(by=agent, customer=customer, subject="快递慢", request_type=request_type())
    Ticket.objects.filter(pk=ticket.pk).update(sla_state=SlaState.BREACHED, sla_due_at=timezone.now())
    Ticket.objects.filter(pk=later.pk).update(
        sla_state=SlaState.WARNING, sla_due_at=timezone.now() + timedelta(hours=1)
    )
    html = _login(client, agent).get(reverse("tickets:queue"), {"tab": "breaching"}).content.decode()
    assert html.index(ticket.number) < html.index(later.number)


def test_all_tab_needs_view_all(client, agent, supervisor, ticket):
    assert _login(client, agent).get(reverse("tickets:queue"), {"tab": "all"}).status_code == 403
    client.force_login(supervisor)
    response = client.get(reverse("tickets:queue"), {"tab": "all"})
    assert response.status_code == 200
    assert ticket.number in response.content.decode()


def test_queue_partial_keeps_the_filters_for_polling(client, agent, ticket):
    response = _login(client, agent).get(reverse("tickets:queue_rows"), {"tab": "mine", "q": "耳机"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 10s"' in html
    assert "q=%E8%80%B3%E6%9C%BA" in html
    assert ticket.number in html


def test_queue_pages_fifty_rows(client, agent, routed, customer):
    for i in range(51):
        services.create_ticket(by=agent, customer=customer, subject=f"问题 {i}", request_type=request_type())
    first = _login(client, agent).get(reverse("tickets:queue"), {"tab": "team"}).content.decode()
    assert first.count('class="num"><a href="/tickets/') == 50
    assert "page=2" in first
    second = client.get(reverse("tickets:queue"), {"tab": "team", "page": 2}).content.decode()
    assert second.count('class="num"><a href="/tickets/') == 1


def test_queue_page_stays_within_twelve_queries(client, agent, routed, customer, django_assert_max_num_queries):
    for i in range(60):
        ticket = services.create_ticket(by=agent, customer=make_customer(f"客户{i}"), subject=f"耳机 {i}",
                                        request_type=request_type(), tags=["急"])  # fmt: skip
    _login(client, agent)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("tickets:queue"), {"q": "耳机", "status": "any", "tag": "急", "type": "usage"})
    assert response.status_code == 200
    with django_assert_max_num_queries(12):
        response = client.get(reverse("tickets:queue"), {"tab": "team"})
    assert ticket.number in response.content.decode()


# --- Ticket page ----------------------------------------------------------------------------------
def test_ticket_page_shows_conversation_and_history(client, agent, ticket):
    services.add_note(ticket, "内部：请仓库确认库存", by=agent)
    html = _login(client, agent).get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert "收到的耳机左耳没有声音" in html
    assert 'class="msg note"' in html
    assert "内部：请仓库确认库存" in html
    assert 'id="history"' in html
    assert reverse("customers:panel", args=[ticket.customer_id]) in html


def test_outsider_gets_404_for_the_ticket_page(client, outsider, ticket):
    _login(client, outsider)
    assert client.get(reverse("tickets:detail", args=[ticket.pk])).status_code == 404
    assert client.post(reverse("tickets:reply", args=[ticket.pk]), {"body": "hi"}).status_code == 404
    assert not ticket.messages.filter(kind=MessageKind.REPLY).exists()
    # The outsider learns nothing, the audit trail learns of both attempts; an unknown number is no attempt.
    assert client.get(reverse("tickets:detail", args=[ticket.pk + 1000])).status_code == 404
    denied = Event.objects.filter(verb="permission.denied", actor=outsider, subject_type="ticket")
    assert list(denied.values_list("subject_id", "data__action")) == [(ticket.pk, "ticket.view")] * 2


def test_ticket_page_stays_within_twelve_queries(client, agent, ticket, django_assert_max_num_queries):
    for i in range(5):
        services.add_note(ticket, f"note {i} @agent", by=agent)
        services.reply_to_ticket(ticket, f"reply {i}", by=agent)
    services.update_ticket(ticket, by=agent, tags=["退货", "加急"])
    png = SimpleUploadedFile("a.png", b"\x89PNG\r\n\x1a\n....", content_type="image/png")
    services.add_attachment(ticket, png, by=agent)
    CannedReply.objects.create(title="问候", body="您好 {customer_name}")
    _login(client, agent)
    with django_assert_max_num_queries(14):  # request types and canned replies just changed: read, then cached
        client.get(reverse("tickets:detail", args=[ticket.pk]))
    with django_assert_max_num_queries(12):  # with its customer-360 panel
        response = client.get(reverse("tickets:detail", args=[ticket.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="customer-360"' in html  # rendered with the page, not loaded after it
    assert "退货" in html
    assert "加急" in html
    with django_assert_max_num_queries(12):
        assert client.get(reverse("tickets:live", args=[ticket.pk])).status_code == 200


def test_live_partial_shows_a_colleagues_reply(client, agent, senior_agent, ticket):
    _login(client, agent)
    services.reply_to_ticket(ticket, "同事的回复：已安排换货", by=senior_agent)
    html = client.get(reverse("tickets:live", args=[ticket.pk])).content.decode()
    assert "同事的回复：已安排换货" in html
    assert 'hx-swap-oob="true"' in html


def test_reply_posts_through_the_service_and_changes_status(client, agent, ticket):
    response = _login(client, agent).post(
        reverse("tickets:reply", args=[ticket.pk]),
        {"body": "您好，我们会为您换新", "new_status": Status.PENDING_CUSTOMER, "proposes_solution": "1"},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.PENDING_CUSTOMER
    assert ticket.solution_proposed_at is not None
    assert ticket.messages.filter(kind=MessageKind.REPLY, body="您好，我们会为您换新").exists()


def test_empty_reply_is_a_form_error_not_a_500(client, agent, ticket):
    response = _login(client, agent).post(reverse("tickets:reply", args=[ticket.pk]), {"body": "  "})
    assert response.status_code == 400
    assert 'data-testid="error-reply"' in response.content.decode()


def test_illegal_status_change_is_a_form_error(client, agent, ticket):
    services.update_ticket(ticket, by=agent, status=Status.CLOSED)
    response = _login(client, agent).post(
        reverse("tickets:update", args=[ticket.pk]), {"status": Status.PENDING_CUSTOMER}
    )
    assert response.status_code == 409
    assert 'data-testid="error-update"' in response.content.decode()


def test_update_changes_status_priority_type_and_tags(client, agent, ticket):
    response = _login(client, agent).post(
        reverse("tickets:update", args=[ticket.pk]),
        {"status": Status.PENDING_INTERNAL, "priority": "3", "request_type": "refund", "tags": "退款, 加急"},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.request_type.code) == (Status.PENDING_INTERNAL, 3, "refund")
    assert sorted(t.name for t in ticket.tags.all()) == ["加急", "退款"]


def test_bad_priority_is_a_form_error(client, agent, ticket):
    response = _login(client, agent).post(reverse("tickets:update", args=[ticket.pk]), {"priority": "99"})
    assert response.status_code == 400


def test_note_with_mention_notifies_colleague(client, agent, senior_agent, ticket):
    _login(client, agent).post(reverse("tickets:note", args=[ticket.pk]), {"body": "@senior 请帮忙看看"})
    assert senior_agent.notifications.filter(verb="ticket.mentioned").exists()


def test_accept_sets_owner_and_opens(client, senior_agent, ticket):
    response = _login(client, senior_agent).post(reverse("tickets:accept", args=[ticket.pk]))
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.accepted_at is not None


def test_agent_cannot_assign_to_others_and_gets_403(client, agent, senior_agent, ticket):
    response = _login(client, agent).post(reverse("tickets:assign", args=[ticket.pk]), {"assignee": senior_agent.pk})
    assert response.status_code == 403
    assert Event.objects.filter(verb="permission.denied", actor=agent).exists()
    ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_senior_agent_assigns_to_a_team_member(client, agent, senior_agent, ticket):
    response = _login(client, senior_agent).post(
        reverse("tickets:assign", args=[ticket.pk]), {"assignee": senior_agent.pk}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.assignee == senior_agent


def test_assign_to_someone_outside_the_team_is_a_form_error(client, senior_agent, outsider, ticket):
    response = _login(client, senior_agent).post(reverse("tickets:assign", args=[ticket.pk]), {"assignee": outsider.pk})
    assert response.status_code == 400


def test_take_makes_me_the_owner(client, senior_agent, ticket):
    _login(client, senior_agent).post(reverse("tickets:take", args=[ticket.pk]))
    ticket.refresh_from_db()
    assert ticket.assignee == senior_agent


def test_merge_into_another_ticket_by_number(client, agent, ticket, customer):
    target = services.create_ticket(by=agent, customer=customer, subject="同一个问题", request_type=request_type())
    response = _login(client, agent).post(reverse("tickets:merge", args=[ticket.pk]), {"target": target.number})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.merged_into == target


def test_merge_into_unknown_number_is_a_form_error(client, agent, ticket):
    response = _login(client, agent).post(reverse("tickets:merge", args=[ticket.pk]), {"target": "TK9999999"})
    assert response.status_code == 400
    assert "TK9999999" in response.content.decode()


def test_merge_across_customers_is_refused_with_a_message(client, agent, ticket, routed):
    other = services.create_ticket(by=agent, customer=make_customer("李雷"), subject="x", request_type=request_type())
    response = _login(client, agent).post(reverse("tickets:merge", args=[ticket.pk]), {"target": other.number})
    assert response.status_code == 409
    assert 'data-testid="error-merge"' in response.content.decode()


def test_upload_attachment_and_reject_wrong_type(client, agent, ticket):
    _login(client, agent)
    ok = SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff fake jpeg", content_type="image/jpeg")
    assert client.post(reverse("tickets:attach", args=[ticket.pk]), {"file": ok}).status_code == 302
    assert ticket.attachments.count() == 1
    bad = SimpleUploadedFile("virus.exe", b"MZ", content_type="application/x-msdownload")
    response = client.post(reverse("tickets:attach", args=[ticket.pk]), {"file": bad})
    assert response.status_code == 400
    assert "virus.exe" in response.content.decode()
    assert ticket.attachments.count() == 1


def test_canned_reply_variables_are_filled_in(client, agent, ticket, order):
    CannedReply.objects.create(
        title="退货说明", body="{customer_name}您好，工单{ticket_number}，订单{order_number}，客服{agent_name}"
    )
    html = _login(client, agent).get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert f"王小明您好，工单{ticket.number}，订单{order.number}，客服Agent" in html


def test_get_on_an_action_is_not_allowed(client, agent, ticket):
    assert _login(client, agent).get(reverse("tickets:reply", args=[ticket.pk])).status_code == 405


# --- Overview -------------------------------------------------------------------------------------
def test_supervisor_sees_the_overview(client, supervisor, agent, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(sla_state=SlaState.WARNING)
    response = _login(client, supervisor).get(reverse("tickets:overview"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "售后客服组" in html
    assert 'data-testid="agent-loads"' in html
    assert client.get(reverse("tickets:overview_live")).status_code == 200


def test_agent_gets_403_on_the_overview(client, agent, db):
    response = _login(client, agent).get(reverse("tickets:overview"))
    assert response.status_code == 403
    assert 'data-testid="forbidden"' in response.content.decode()


def test_overview_stays_within_twelve_queries(client, supervisor, ticket, django_assert_max_num_queries):
    _login(client, supervisor)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("tickets:overview")).status_code == 200


def test_order_of_another_customer_is_not_shown(client, agent, ticket):
    make_order(make_customer("别人"), number="SO-OTHER")
    html = _login(client, agent).get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert "SO-OTHER" not in html


def test_overview_lists_recent_breaches_with_their_targets(client, supervisor, ticket):
    from desk.core.events import record_event

    record_event(
        "sla.breached", subject=ticket, ticket_id=ticket.pk, customer_id=ticket.customer_id,
        data={"metrics": ["first_response"]},
    )  # fmt: skip
    html = _login(client, supervisor).get(reverse("tickets:overview")).content.decode()
    breaches = html[html.index('data-testid="breaches"') :]
    assert ticket.number in breaches
    assert "首次响应" in breaches


def _row(html, first_cell):
    """The table row that starts with `first_cell`, whitespace collapsed."""
    html = re.sub(r"\s+", " ", html).replace("> <", "><")
    start = html.index(f"<tr><td>{first_cell}</td>")
    return html[start : html.index("</tr>", start)]


def test_overview_figures_per_team_state_and_agent_in_each_language(
    client, supervisor, agent, outsider, other_team, ticket, customer
):
    second = services.create_ticket(by=agent, customer=customer, subject="发票抬头写错了", request_type=request_type())
    Ticket.objects.filter(pk=ticket.pk).update(assignee=agent, sla_state=SlaState.WARNING)
    Ticket.objects.filter(pk=second.pk).update(team=other_team, assignee=outsider, sla_state=SlaState.BREACHED)
    StaffProfile.objects.filter(user=agent).update(max_open_tickets=1)
    StaffProfile.objects.filter(user=outsider).update(availability=Availability.AWAY)
    _login(client, supervisor)

    html = client.get(reverse("tickets:overview")).content.decode()
    support = _row(html, "售后客服组")
    assert '<span class="pill sla-warning">1</span>' in support
    assert "sla-breached" not in support
    assert "<strong>1</strong>" in support
    assert '<span class="pill sla-breached">1</span>' in _row(html, "物流组")
    mine = _row(html, "Agent")
    assert "<td>客服</td><td>售后客服组</td>" in mine
    assert '<span class="pill sla-ok">在线</span>' in mine
    assert '1 <span class="pill sla-breached">已满</span>' in mine  # at its max of 1
    away = _row(html, "Outsider")
    assert '<span class="pill ">离开</span>' in away
    assert '<td class="num">1</td>' in away  # under its max: not full
    assert "<td>主管</td>" in _row(html, "Supervisor")

    # The figures are shared per language: English gets its own labels, not the Chinese ones.
    english = client.get(reverse("tickets:overview_live"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<th>Breaching soon</th>" in english
    assert '1 <span class="pill sla-breached">full</span>' in _row(english, "Agent")
    assert '<span class="pill ">Away</span>' in _row(english, "Outsider")


def test_overview_shares_its_figures_between_requests(client, supervisor, ticket):
    _login(client, supervisor).get(reverse("tickets:overview"))
    Ticket.objects.filter(pk=ticket.pk).update(sla_state=SlaState.BREACHED)
    with CaptureQueriesContext(connection) as captured:
        html = client.get(reverse("tickets:overview_live")).content.decode()
    assert not [q for q in captured.captured_queries if "tickets_ticket" in q["sql"]]
    assert "sla-breached" not in _row(html, "售后客服组")  # until the shared figures expire
    cache.clear()
    assert "sla-breached" in _row(client.get(reverse("tickets:overview_live")).content.decode(), "售后客服组")
