"""The staff pages of cases: who sees what, each action through the real service, errors as 4xx messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from desk.accounts.models import Role
from desk.cases import payments, services
from desk.cases import services_compensation as compensation
from desk.cases import services_confirmation as confirmation
from desk.cases import services_disputes as disputes
from desk.cases import services_exchange as exchange
from desk.cases.models import (
    AfterSalesCase,
    CaseState,
    CaseType,
    CompensationGrant,
    Grade,
    GrantStatus,
    PolicyVersion,
    Reason,
    Refund,
    RefundStatus,
    ServiceMode,
    ShippingInsuranceClaim,
)
from desk.cases.tests.conftest import at, deliver, lines, open_repair
from desk.core.models import Event
from desk.core.testing import make_customer, make_order, make_staff, make_team, request_type
from desk.evidence.models import Dispute, DisputeStatus, EvidenceFile, ProposalStatus, SolutionProposal

ADDRESS = {"address": "上海市嘉定区仓库路1号", "contact": "退货组", "phone": "021-5555", "packing": "原包装"}


def open_return(order: Any, qty: tuple[int, ...] = (1,), reason: str = Reason.NO_REASON) -> AfterSalesCase:
    return services.open_case(
        by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=reason, items=lines(order, *qty)
    )


def shipped_return(order: Any, agent: Any, tracking: str = "SF123456789") -> AfterSalesCase:
    case = services.approve_case(open_return(order), by=agent)
    case = services.send_return_instructions(case, by=agent, **ADDRESS)
    return services.record_return_shipment(case, carrier="SF", tracking_number=tracking)


def inspected_return(order: Any, agent: Any, clerk: Any) -> AfterSalesCase:
    case = services.receive_return(shipped_return(order, agent), by=clerk)
    return services.inspect_return(
        case, by=clerk, grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
    )


def page(case: AfterSalesCase) -> str:
    return reverse("cases:detail", args=[case.number])


def act(case: AfterSalesCase, verb: str) -> str:
    return reverse("cases:action", args=[case.number, verb])


def fresh(case: AfterSalesCase) -> AfterSalesCase:
    return AfterSalesCase.objects.get(pk=case.pk)


@pytest.fixture(autouse=True)
def _english(client: Any) -> None:
    """Assertions read the English text; test_case_page_is_translated asks for Chinese."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def manual_payments(settings: Any) -> None:
    settings.CASES_PAYMENT_PROVIDER = "manual"


# --- Who may open which page -----------------------------------------------------------------------
@pytest.mark.parametrize("role", ["agent", "senior_agent", "supervisor", "manager", "warehouse_clerk"])
def test_case_staff_see_the_case_list_and_the_case_page(client, delivered_order, role, request):
    case = open_return(delivered_order)
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("cases:list"))
    assert response.status_code == 200
    assert case.number in response.content.decode()
    assert client.get(page(case)).status_code == 200


def test_roles_without_case_rights_get_the_403_page(client, delivered_order, analyst):
    case = open_return(delivered_order)
    client.force_login(analyst)
    for url in (reverse("cases:list"), page(case), reverse("cases:warehouse"), reverse("cases:refunds")):
        response = client.get(url)
        assert response.status_code == 403, url
        assert 'data-testid="forbidden"' in response.content.decode()
    assert client.post(act(case, "approve_case")).status_code == 403
    assert fresh(case).state == CaseState.REQUESTED


def test_login_is_required(client, db):
    response = client.get(reverse("cases:list"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_an_unknown_case_number_is_404(client, agent):
    client.force_login(agent)
    assert client.get(reverse("cases:detail", args=["AS9999999"])).status_code == 404
    assert client.get(reverse("cases:detail", args=["nonsense"])).status_code == 404


def test_warehouse_page_is_for_case_inspect_only(client, agent, warehouse_clerk, supervisor):
    client.force_login(agent)
    assert client.get(reverse("cases:warehouse")).status_code == 403
    for user in (warehouse_clerk, supervisor):
        client.force_login(user)
        assert client.get(reverse("cases:warehouse")).status_code == 200


def test_refunds_page_is_for_refund_execute_only(client, db, agent, supervisor, warehouse_clerk, manager):
    for user in (agent, supervisor, warehouse_clerk):
        client.force_login(user)
        assert client.get(reverse("cases:refunds")).status_code == 403
    client.force_login(manager)
    assert client.get(reverse("cases:refunds")).status_code == 200


def test_the_navigation_links_follow_the_role(client, db, agent, warehouse_clerk, manager):
    client.force_login(agent)
    html = client.get(reverse("cases:list")).content.decode()
    assert reverse("cases:list") in html
    assert reverse("cases:warehouse") not in html
    assert reverse("cases:refunds") not in html
    client.force_login(warehouse_clerk)
    assert reverse("cases:warehouse") in client.get(reverse("cases:list")).content.decode()
    client.force_login(manager)
    assert reverse("cases:refunds") in client.get(reverse("cases:list")).content.decode()


# --- The list --------------------------------------------------------------------------------------
def _refund_only_for(customer_name: str, agent: Any, **order_fields: Any) -> AfterSalesCase:
    """A refund-only case on a new delivered order of a new customer."""
    order = make_order(make_customer(customer_name), items=1, **order_fields)
    deliver(order)
    return services.open_case(
        by=agent, order=order, case_type=CaseType.REFUND_ONLY, reason=Reason.NOT_AS_DESCRIBED, items=lines(order, 1)
    )


def _listed(client: Any, cases: tuple[AfterSalesCase, ...], **params: Any) -> set[str]:
    """Which of `cases` the case list shows with these filters."""
    html = client.get(reverse("cases:list"), params).content.decode()
    return {c.number for c in cases if c.number in html}


def test_list_filters_by_state_type_and_search(client, delivered_order, customer, agent):
    returned = shipped_return(delivered_order, agent, tracking="YT777")
    refund_only = _refund_only_for("李雷", agent, number="ORD-LI-1")
    client.force_login(agent)

    def numbers(**params: Any) -> set[str]:
        return _listed(client, (returned, refund_only), **params)

    assert numbers() == {returned.number, refund_only.number}
    assert numbers(state="returning") == {returned.number}
    assert numbers(type="refund_only") == {refund_only.number}
    assert numbers(reason="not_as_described") == {refund_only.number}
    assert numbers(q="YT777") == {returned.number}  # the return's tracking number
    assert numbers(q=f"SF{delivered_order.pk:010d}") == {returned.number}  # the delivery's tracking number
    assert numbers(q="ORD-LI-1") == {refund_only.number}
    assert numbers(q="李雷") == {refund_only.number}
    assert numbers(q=returned.number.lower()) == {returned.number}
    assert numbers(q="nothing-like-this") == set()


def test_list_filters_by_the_linked_tickets_team_and_assignee(client, delivered_order, agent, support_team):
    from desk.tickets import services as ticket_services
    from desk.tickets.models import RoutingRule

    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    ticket = ticket_services.create_ticket(
        by=agent,
        customer=delivered_order.customer,
        order=delivered_order,
        subject="耳机退货",
        request_type=request_type(),
    )
    ticket_services.assign_ticket(ticket, agent, by=agent)
    with_ticket = services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 1), ticket=ticket,
    )  # fmt: skip
    without = _refund_only_for("韩梅梅", agent)
    client.force_login(agent)

    def numbers(**params: Any) -> set[str]:
        return _listed(client, (with_ticket, without), **params)

    page = client.get(reverse("cases:list")).content.decode()
    assert f'<option value="{support_team.pk}" >{support_team.name}</option>' in page  # the team select
    assert f'<option value="{agent.pk}" >' in page  # the assignee select
    assert numbers() == {with_ticket.number, without.number}
    assert numbers(team=support_team.pk) == {with_ticket.number}
    assert numbers(assignee=agent.pk) == {with_ticket.number}
    assert (
        f'<option value="{support_team.pk}" selected>'
        in client.get(reverse("cases:list"), {"team": support_team.pk}).content.decode()
    )
    make_team("returns", "退货专组")  # a new team shows in the select at once
    assert "退货专组" in client.get(reverse("cases:list")).content.decode()


def test_closed_cases_leave_the_default_list_but_not_any_state(client, delivered_order, agent):
    case = services.withdraw_case(open_return(delivered_order), by=agent)
    client.force_login(agent)
    assert case.number not in client.get(reverse("cases:list")).content.decode()
    assert case.number in client.get(reverse("cases:list"), {"state": "any"}).content.decode()
    assert case.number in client.get(reverse("cases:list"), {"state": "closed"}).content.decode()


def test_overdue_cases_are_highlighted_and_filtered(client, delivered_order, agent, time_machine):
    late = open_return(delivered_order, qty=(1,))
    time_machine.move_to(at(16), tick=False)  # 4 days later: the 5-day answer window still runs for this one
    on_time = open_return(delivered_order, qty=(0, 1))
    time_machine.move_to(at(18), tick=False)  # `late`'s window ended on the 17th
    client.force_login(agent)
    html = client.get(reverse("cases:list")).content.decode()
    assert html.count('class="overdue"') == 1
    overdue_only = client.get(reverse("cases:list"), {"overdue": "1"}).content.decode()
    assert late.number in overdue_only
    assert on_time.number not in overdue_only
    assert 'data-testid="overdue"' in client.get(page(late)).content.decode()


def test_case_list_stays_within_twelve_queries(client, agent, django_assert_max_num_queries, time_machine):
    time_machine.move_to(at(12), tick=False)
    for i in range(60):
        order = make_order(make_customer(f"客户{i}"), items=1, number=f"ORD-{i:04d}")
        services.open_case(
            by=agent, order=order, case_type=CaseType.REFUND_ONLY, reason=Reason.QUALITY, items=lines(order, 1)
        )
    client.force_login(agent)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("cases:list"))
    html = response.content.decode()
    assert html.count('data-testid="case-row"') == 50
    assert 'data-testid="next-page"' in html
    with django_assert_max_num_queries(12):
        response = client.get(reverse("cases:list"), {"q": "客户7", "type": "refund_only", "overdue": ""})
    assert response.content.decode().count('data-testid="case-row"') == 1


def test_the_next_page_continues_where_the_first_ended(client, agent, time_machine):
    time_machine.move_to(at(12), tick=False)
    cases = []
    for i in range(52):
        order = make_order(make_customer(f"客户{i}"), items=1)
        cases.append(
            services.open_case(
                by=agent, order=order, case_type=CaseType.REFUND_ONLY, reason=Reason.QUALITY, items=lines(order, 1)
            )
        )
    client.force_login(agent)
    first = client.get(reverse("cases:list")).content.decode()
    second = client.get(reverse("cases:list"), {"before": cases[2].pk}).content.decode()
    assert cases[-1].number in first
    assert second.count('data-testid="case-row"') == 2
    assert cases[0].number in second
    assert cases[1].number in second


# --- The case page ---------------------------------------------------------------------------------
def test_case_page_shows_decision_items_return_and_timeline(client, delivered_order, agent, warehouse_clerk):
    case = inspected_return(delivered_order, agent, warehouse_clerk)
    client.force_login(agent)
    html = client.get(page(case)).content.decode()
    assert "7-day no-reason return: delivered 2026-11-10, window ends 2026-11-17 23:59" in html
    assert "no_reason_open" in html
    assert "version 1" in html
    assert delivered_order.items.order_by("pk").first().name in html
    assert "142.50" in html
    assert "上海市嘉定区仓库路1号" in html
    assert "SF123456789" in html
    assert 'data-testid="inspection"' in html
    timeline = html.split('data-testid="timeline"')[1]
    for text in ("opened the case", "approved the request", "warehouse received the return", "inspected the return"):
        assert text in timeline


def test_case_page_is_translated(client, delivered_order, agent):
    case = open_return(delivered_order)
    client.force_login(agent)
    html = client.get(page(case), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "7 天无理由退货：2026-11-10 签收，期限至 2026-11-17 23:59 — 允许" in html
    assert "政策判定" in html
    assert 'data-action="approve_case">同意</button>' in html


def test_case_page_stays_within_twelve_queries(
    client, delivered_order, agent, warehouse_clerk, manager, django_assert_max_num_queries
):
    case = inspected_return(delivered_order, agent, warehouse_clerk)
    payments.simulated.fail_next = "decline"
    refund = services.start_refund(case, by=manager)
    services.retry_refund(refund, by=manager)
    compensation.propose_compensation(case, by=manager, kind="coupon", amount=Decimal("10"), reason="补偿")
    confirmation.propose_solution(case, by=manager, kind=CaseType.REPAIR, summary="维修", reason="保修期内")
    disputes.add_evidence(case, SimpleUploadedFile("a.jpg", b"\xff\xd8", content_type="image/jpeg"), by=manager)
    disputes.open_dispute(case, by=manager, tier="minor", summary="争议")
    client.force_login(manager)
    with django_assert_max_num_queries(12):
        response = client.get(page(case))
    html = response.content.decode()
    assert response.status_code == 200
    assert refund.refund_number in html
    assert f'data-testid="ledger-{refund.refund_number}"' in html
    for section in ("compensation", "proposals", "disputes", "evidence"):
        assert f'data-testid="{section}"' in html


def test_only_the_actions_the_role_may_take_are_offered(client, delivered_order, agent, warehouse_clerk):
    case = shipped_return(delivered_order, agent)
    client.force_login(agent)
    html = client.get(page(case)).content.decode()
    assert 'data-action="receive_return"' not in html  # the warehouse's step
    assert 'data-testid="no-actions"' in html
    client.force_login(warehouse_clerk)
    assert 'data-action="receive_return"' in client.get(page(case)).content.decode()


# --- Actions through the real services --------------------------------------------------------------
def test_a_return_goes_through_every_form_to_closing(client, delivered_order, agent, warehouse_clerk, manager):
    case = open_return(delivered_order)
    client.force_login(agent)
    html = client.get(page(case)).content.decode()
    assert 'data-action="approve_case"' in html
    assert 'data-action="reject_case"' in html

    def post(user: Any, verb: str, data: dict[str, Any] | None = None) -> AfterSalesCase:
        client.force_login(user)
        response = client.post(act(case, verb), data or {})
        assert response.status_code == 302, response.content.decode()[:2000]
        assert response["Location"] == page(case)
        return fresh(case)

    assert post(agent, "approve_case").state == CaseState.APPROVED
    assert post(agent, "send_return_instructions", ADDRESS).state == CaseState.AWAITING_RETURN
    shipped = post(agent, "record_return_shipment", {"carrier": "SF", "tracking_number": "SF000111"})
    assert (shipped.state, shipped.return_tracking_number) == (CaseState.RETURNING, "SF000111")
    assert post(warehouse_clerk, "receive_return").state == CaseState.RECEIVED
    inspected = post(warehouse_clerk, "inspect_return", {"grade": "B", "complete": "on", "original": "on"})
    assert (inspected.grade, inspected.inspection["passed"]) == ("B", True)
    assert post(manager, "start_refund").state == CaseState.REFUNDED
    assert post(agent, "close_case").state == CaseState.CLOSED
    verbs = set(Event.objects.filter(subject_id=case.pk, subject_type="aftersalescase").values_list("verb", flat=True))
    assert {"case.approve", "case.inspect", "case.start_refund", "case.close"} <= verbs
    assert "done" in client.get(page(case)).content.decode()


def test_reject_needs_a_reason_and_records_it(client, delivered_order, agent):
    case = open_return(delivered_order)
    client.force_login(agent)
    response = client.post(act(case, "reject_case"), {"reason": ""})
    assert response.status_code == 422
    assert 'data-testid="error-reject_case"' in response.content.decode()
    assert fresh(case).state == CaseState.REQUESTED
    assert client.post(act(case, "reject_case"), {"reason": "商品已使用"}).status_code == 302
    assert fresh(case).state == CaseState.REJECTED
    assert "商品已使用" in client.get(page(case)).content.decode()


def test_withdraw_closes_the_request(client, delivered_order, agent):
    case = open_return(delivered_order)
    client.force_login(agent)
    assert client.post(act(case, "withdraw_case")).status_code == 302
    assert (fresh(case).state, fresh(case).close_reason) == (CaseState.CLOSED, "withdrawn")


def test_approving_what_the_policy_refuses_needs_a_stated_exception(
    client, delivered_order, agent, senior_agent, time_machine
):
    time_machine.move_to(at(20), tick=False)  # the 7-day window ended on the 17th
    case = open_return(delivered_order)
    assert case.decision["outcome"] == "refused"
    client.force_login(senior_agent)
    response = client.post(act(case, "approve_case"), {"policy_exception": ""})
    assert response.status_code == 422
    assert "needs a stated exception" in response.content.decode()
    client.force_login(agent)  # agents may not make policy exceptions at all
    response = client.post(act(case, "approve_case"), {"policy_exception": "老客户"})
    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-testid="error-approve_case"' in html
    assert 'data-testid="forbidden"' not in html  # a message on the case page, not the 403 page
    client.force_login(senior_agent)
    assert client.post(act(case, "approve_case"), {"policy_exception": "老客户，破例"}).status_code == 302
    assert fresh(case).state == CaseState.APPROVED
    assert "老客户，破例" in client.get(page(case)).content.decode()


def test_approving_above_the_limit_is_a_403_message_on_the_page(client, delivered_order, agent):
    case = open_return(delivered_order, qty=(2, 2))
    assert case.refund_amount > Decimal("200")
    client.force_login(agent)
    response = client.post(act(case, "approve_case"))
    assert response.status_code == 403
    assert "above your approval limit" in response.content.decode()
    assert fresh(case).state == CaseState.REQUESTED


def test_a_step_the_workflow_does_not_allow_is_a_409_message(client, delivered_order, warehouse_clerk):
    case = open_return(delivered_order)
    client.force_login(warehouse_clerk)
    response = client.post(act(case, "receive_return"))
    assert response.status_code == 409
    assert 'data-testid="error-receive_return"' in response.content.decode()
    assert fresh(case).state == CaseState.REQUESTED


def test_an_unknown_action_is_404(client, delivered_order, agent):
    case = open_return(delivered_order)
    client.force_login(agent)
    assert client.post(act(case, "delete_everything")).status_code == 404


def test_actions_are_post_only(client, delivered_order, agent):
    case = open_return(delivered_order)
    client.force_login(agent)
    assert client.get(act(case, "approve_case")).status_code == 405


# --- Warehouse -------------------------------------------------------------------------------------
def test_warehouse_finds_the_return_by_tracking_number_then_receives_and_inspects(
    client, delivered_order, agent, warehouse_clerk
):
    case = shipped_return(delivered_order, agent, tracking="JD0042")
    other = shipped_return(deliver(make_order(make_customer("韩梅梅"), items=1)), agent, tracking="JD0043")
    client.force_login(warehouse_clerk)
    html = client.get(reverse("cases:warehouse"), {"q": "JD0042"}).content.decode()
    found = html.split('data-testid="found"')[1].split('data-testid="on-the-way"')[0]
    assert case.number in found
    assert other.number not in found
    assert 'data-action="receive_return"' in found

    response = client.post(act(case, "receive_return"), {"return_to": "warehouse", "q": "JD0042"})
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:warehouse") + "?q=JD0042"
    assert fresh(case).state == CaseState.RECEIVED
    html = client.get(response["Location"]).content.decode()
    assert 'data-action="inspect_return"' in html
    data = {"return_to": "warehouse", "q": "JD0042", "grade": "C", "defect": "on", "human_damage": "on"}
    data["notes"] = "屏幕碎"
    assert client.post(act(case, "inspect_return"), data).status_code == 302
    inspected = fresh(case)
    assert (inspected.state, inspected.grade) == (CaseState.INSPECTED, "C")
    assert inspected.inspection == {
        "complete": False, "original": False, "defect": True, "human_damage": True, "opened": False,
        "notes": "屏幕碎", "passed": False,
        "hold": {  # a no-reason return that came back damaged: its refund waits for an agent's decision
            "rule": "not_intact", "params": {"findings": "incomplete,not_original,human_damage,grade_c"},
            "policy_version": 1,
        },
    }  # fmt: skip


def test_warehouse_finds_the_return_by_case_number_and_receives_it(client, delivered_order, agent, warehouse_clerk):
    case = shipped_return(delivered_order, agent, tracking="JD0044")
    other = shipped_return(deliver(make_order(make_customer("韩梅梅"), items=1)), agent, tracking="JD0045")
    client.force_login(warehouse_clerk)

    def found(term):
        html = client.get(reverse("cases:warehouse"), {"q": term}).content.decode()
        return html.split('data-testid="found"')[1].split('data-testid="on-the-way"')[0]

    by_number = found(f" {case.number} ")  # as typed or scanned from the packing slip
    assert by_number.count('data-testid="found-case"') == 1  # not the "no return matches" line
    assert case.number in by_number
    assert other.number not in by_number
    assert 'data-action="receive_return"' in by_number
    assert other.number in found(other.number)
    assert case.number not in found(other.number)
    assert 'data-testid="not-found"' in found(str(case.pk))  # a bare number is not a case number

    response = client.post(act(case, "receive_return"), {"return_to": "warehouse", "q": case.number})
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:warehouse") + f"?q={case.number}"
    assert (fresh(case).state, fresh(other).state) == (CaseState.RECEIVED, CaseState.RETURNING)


def test_warehouse_errors_show_on_the_warehouse_page(client, delivered_order, agent, warehouse_clerk):
    case = services.receive_return(shipped_return(delivered_order, agent, tracking="JD0050"), by=warehouse_clerk)
    client.force_login(warehouse_clerk)
    response = client.post(act(case, "inspect_return"), {"return_to": "warehouse", "q": "JD0050", "grade": "Z"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="warehouse-search"' in html
    assert 'data-testid="error-inspect_return"' in html
    assert fresh(case).state == CaseState.RECEIVED


def test_warehouse_lists_returns_on_the_way_and_waiting_for_inspection(client, delivered_order, agent, warehouse_clerk):
    case = shipped_return(delivered_order, agent, tracking="JD0060")
    client.force_login(warehouse_clerk)
    html = client.get(reverse("cases:warehouse")).content.decode()
    assert case.number in html.split('data-testid="on-the-way"')[1].split('data-testid="to-inspect"')[0]
    assert client.get(reverse("cases:warehouse"), {"q": "JD9999"}).content.decode().count('data-testid="not-found"')


# --- Finance ---------------------------------------------------------------------------------------
def test_finance_marks_a_manual_refund_paid(client, delivered_order, agent, warehouse_clerk, manager, manual_payments):
    case = inspected_return(delivered_order, agent, warehouse_clerk)
    client.force_login(manager)
    html = client.get(reverse("cases:refunds")).content.decode()
    assert case.number in html.split('data-testid="ready"')[1]
    response = client.post(act(case, "start_refund"), {"return_to": "refunds", "status": "manual"})
    assert response.status_code == 302
    refund = Refund.objects.get(case=case)
    assert refund.status == RefundStatus.SENT
    html = client.get(reverse("cases:refunds"), {"status": "manual"}).content.decode()
    assert refund.refund_number in html
    assert 'data-action="mark_refund_done"' in html

    done = reverse("cases:refund_action", args=[refund.refund_number, "mark_refund_done"])
    response = client.post(done, {"return_to": "refunds", "status": "manual", "reference": ""})
    assert response.status_code == 422
    assert 'data-testid="error-mark_refund_done"' in response.content.decode()
    response = client.post(done, {"return_to": "refunds", "status": "manual", "reference": "BANK-20261112-1"})
    assert response.status_code == 302
    refund.refresh_from_db()
    assert (refund.status, refund.provider_reference) == (RefundStatus.CONFIRMED, "BANK-20261112-1")
    assert fresh(case).state == CaseState.REFUNDED
    ledger = client.get(reverse("cases:refunds"), {"status": "confirmed"}).content.decode()
    assert "BANK-20261112-1" in ledger


def test_finance_retries_a_failed_refund(client, delivered_order, agent, warehouse_clerk, manager):
    case = inspected_return(delivered_order, agent, warehouse_clerk)
    payments.simulated.fail_next = "decline"
    refund = services.start_refund(case, by=manager)
    assert refund.status == RefundStatus.FAILED
    client.force_login(manager)
    html = client.get(reverse("cases:refunds"), {"status": "failed"}).content.decode()
    assert refund.refund_number in html
    retry = reverse("cases:refund_action", args=[refund.refund_number, "retry_refund"])
    assert client.post(retry, {"return_to": "refunds", "status": "failed"}).status_code == 302
    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == (RefundStatus.CONFIRMED, 2)
    assert client.post(retry, {"return_to": "refunds", "status": "failed"}).status_code == 409


def test_refund_actions_are_finance_only(client, delivered_order, agent, warehouse_clerk, manager, supervisor):
    case = inspected_return(delivered_order, agent, warehouse_clerk)
    payments.simulated.fail_next = "decline"
    refund = services.start_refund(case, by=manager)
    client.force_login(supervisor)
    retry = reverse("cases:refund_action", args=[refund.refund_number, "retry_refund"])
    assert client.post(retry).status_code == 403
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert 'data-action="retry_refund"' not in client.get(page(case)).content.decode()


# --- Exchange, repair and guidance steps (actions.py) ---------------------------------------------
@pytest.fixture
def tech(db):
    return make_staff("tech", Role.TECH_SUPPORT, team=make_team("tech", "技术支持组"))


def post_step(client, user, case, verb, data=None):
    client.force_login(user)
    response = client.post(act(case, verb), data or {})
    assert response.status_code == 302, response.content.decode()[:3000]
    return fresh(case)


def test_an_exchange_goes_through_its_forms(client, delivered_order, agent, warehouse_clerk):
    sku = delivered_order.items.order_by("pk").first().sku
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=3, model="BT-100")
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.EXCHANGE, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    assert post_step(client, agent, case, "approve_case").state == CaseState.APPROVED
    client.force_login(agent)
    assert 'data-action="reserve_replacement"' in client.get(page(case)).content.decode()
    reserved = post_step(client, agent, case, "reserve_replacement", {"mode": "return_first"})
    assert reserved.state == CaseState.REPLACEMENT_RESERVED
    post_step(client, agent, case, "send_return_instructions", ADDRESS)
    post_step(client, agent, case, "record_return_shipment", {"carrier": "YTO", "tracking_number": "YT42"})
    post_step(client, warehouse_clerk, case, "receive_return")
    post_step(client, warehouse_clerk, case, "inspect_return", {"grade": "A", "complete": "on", "original": "on"})
    client.force_login(warehouse_clerk)
    assert 'data-action="ship_replacement"' in client.get(reverse("cases:warehouse"), {"q": "YT42"}).content.decode()
    shipped = post_step(client, warehouse_clerk, case, "ship_replacement", {"carrier": "SF", "tracking_number": "SF77"})
    assert shipped.state == CaseState.REPLACEMENT_SHIPPED
    client.force_login(agent)
    response = client.post(act(case, "complete_replacement"))
    assert response.status_code == 409  # the replacement has not been delivered yet
    assert "delivery" in response.content.decode()
    post_step(client, agent, case, "record_replacement_delivery")
    assert post_step(client, agent, case, "complete_replacement").state == CaseState.COMPLETED


def test_a_repair_goes_through_its_forms(client, delivered_order, agent, tech):
    case = open_repair(delivered_order, ServiceMode.MAIL_IN)
    post_step(client, agent, case, "approve_case")
    scheduled = post_step(client, agent, case, "arrange_repair_service", {"address": "上海市维修中心 1 号"})
    assert scheduled.state == CaseState.SCHEDULED
    client.force_login(agent)
    assert 'data-action="start_diagnosis"' not in client.get(page(case)).content.decode()  # tech support's step
    post_step(client, tech, case, "start_diagnosis", {"carrier": "SF", "tracking_number": "SF900"})
    repairing = post_step(client, tech, case, "record_diagnosis", {"diagnosis": "左耳喇叭虚焊"})
    assert repairing.state == CaseState.REPAIRING
    post_step(client, tech, case, "record_repair_result", {"result": "repaired", "notes": "重新焊接"})
    post_step(client, agent, case, "ship_repair_back", {"carrier": "SF", "tracking_number": "SF901"})
    done = post_step(client, agent, case, "complete_repair")
    assert done.state == CaseState.COMPLETED
    assert done.repair.back_tracking_number == "SF901"


def test_an_on_site_repair_is_completed_from_the_page_with_the_visit_result(client, delivered_order, agent, tech):
    case = open_repair(delivered_order, ServiceMode.ON_SITE)
    post_step(client, agent, case, "approve_case")
    visit = {"address": "客户家", "appointment_at": "2026-11-13 14:00"}
    scheduled = post_step(client, agent, case, "arrange_repair_service", visit)
    assert scheduled.repair.appointment_at is not None
    post_step(client, tech, case, "start_diagnosis")
    post_step(client, tech, case, "record_diagnosis", {"diagnosis": "电源接口松动"})
    post_step(client, tech, case, "record_repair_result", {"result": "repaired"})
    client.force_login(agent)
    refused = client.post(act(case, "complete_repair"), HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 422
    assert 'data-testid="error-complete_repair"' in refused.content.decode()
    assert fresh(case).state == CaseState.REPAIRED
    done = post_step(client, agent, case, "complete_repair", {"visit_result": "现场修复，客户签字确认"})
    assert (done.state, done.repair.visit_result) == (CaseState.COMPLETED, "现场修复，客户签字确认")


def test_a_quoted_repair_fee_is_answered_from_the_page(client, delivered_order, agent, tech):
    case = open_repair(delivered_order, ServiceMode.MAIL_IN)
    post_step(client, agent, case, "approve_case")
    post_step(client, agent, case, "arrange_repair_service", {"address": "上海市维修中心 1 号"})
    post_step(client, tech, case, "start_diagnosis")
    quoted = post_step(client, tech, case, "record_diagnosis", {"diagnosis": "进水", "human_damage": "on", "fee": "80"})
    assert quoted.state == CaseState.QUOTED
    client.force_login(agent)
    by_phone = client.post(act(case, "accept_repair_fee"), {"channel": "phone", "confirmation_text": "同意"})
    assert by_phone.status_code == 422  # a fee is accepted in writing: staff name the channel and the words
    assert 'data-testid="error-accept_repair_fee"' in by_phone.content.decode()
    unwritten = client.post(act(case, "accept_repair_fee"), {"channel": "wechat", "confirmation_text": ""})
    assert unwritten.status_code == 422
    assert fresh(case).state == CaseState.QUOTED
    declined = post_step(client, agent, case, "decline_repair_fee", {"channel": "wechat", "reason": "太贵了"})
    assert declined.state == CaseState.REPAIRED
    assert declined.proposals.get().status == "rejected"


def test_guidance_is_given_then_resolved_or_converted(client, delivered_order, agent):
    first = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.GUIDANCE, reason=Reason.OTHER, items=[],
        reason_text="蓝牙连不上手机",
    )  # fmt: skip
    guided = post_step(client, agent, first, "give_guidance", {"text": "请长按电源键 10 秒重新配对"})
    assert guided.state == CaseState.GUIDED
    assert post_step(client, agent, first, "resolve_guidance", {"note": "客户确认已连上"}).state == CaseState.RESOLVED

    second = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.GUIDANCE, reason=Reason.OTHER,
        items=lines(delivered_order, 1), reason_text="仍然无声",
    )  # fmt: skip
    post_step(client, agent, second, "give_guidance", {"text": "请恢复出厂设置"})
    converted = post_step(client, agent, second, "convert_guidance", {"to": "return_refund", "reason": "quality"})
    assert (converted.state, converted.close_reason) == (CaseState.CLOSED, "converted")
    assert AfterSalesCase.objects.filter(case_type=CaseType.RETURN_REFUND, order=delivered_order).exists()


# --- Compensation, disputes, evidence and proposals -----------------------------------------------
def subject_url(case: AfterSalesCase, kind: str, pk: int, verb: str) -> str:
    return reverse("cases:subject_action", args=[case.number, kind, pk, verb])


def test_compensation_is_proposed_approved_and_issued_from_the_page(client, delivered_order, agent):
    case = services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.COMPENSATION, reason=Reason.OTHER, items=[],
        reason_text="发货延迟 5 天",
    )  # fmt: skip
    data = {"kind": "coupon", "amount": "15", "reason": "发货延迟补偿"}
    post_step(client, agent, case, "propose_compensation", data)
    grant = CompensationGrant.objects.get(case=case)
    html = client.get(page(case)).content.decode()
    assert 'data-action="approve_compensation"' in html
    assert client.post(subject_url(case, "grant", grant.pk, "approve_compensation")).status_code == 302
    issue = subject_url(case, "grant", grant.pk, "issue_compensation")
    response = client.post(issue, {"reference": ""})
    assert response.status_code == 422
    assert 'data-testid="error-issue_compensation"' in response.content.decode()
    assert client.post(issue, {"reference": "CPN-2026-8888"}).status_code == 302
    grant.refresh_from_db()
    assert (grant.status, grant.reference) == (GrantStatus.ISSUED, "CPN-2026-8888")


def test_a_grant_of_another_case_is_404(client, delivered_order, agent):
    case = services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.COMPENSATION, reason=Reason.OTHER, items=[],
    )  # fmt: skip
    other = open_return(deliver(make_order(make_customer("韩梅梅"), items=1)))
    post_step(client, agent, case, "propose_compensation", {"kind": "coupon", "amount": "5", "reason": "补偿"})
    grant = CompensationGrant.objects.get(case=case)
    assert client.post(subject_url(other, "grant", grant.pk, "approve_compensation")).status_code == 404
    grant.refresh_from_db()
    assert grant.status == GrantStatus.PROPOSED


def test_a_dispute_is_opened_mediated_and_resolved_from_the_page(client, delivered_order, agent, senior_agent):
    case = open_return(delivered_order)
    client.force_login(agent)
    assert 'data-action="open_dispute"' not in client.get(page(case)).content.decode()  # seniors and up
    post_step(client, senior_agent, case, "open_dispute", {"tier": "minor", "summary": "客户认为商品是二手的"})
    dispute = Dispute.objects.get(case=case)
    assert (
        client.post(subject_url(case, "dispute", dispute.pk, "mediate_dispute"), {"note": "已电话安抚"}).status_code
        == 302
    )
    response = client.post(
        subject_url(case, "dispute", dispute.pk, "resolve_dispute"), {"outcome": "补偿优惠券，客户接受"}
    )
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.RESOLVED
    assert "补偿优惠券，客户接受" in client.get(page(case)).content.decode()


def test_evidence_is_uploaded_and_withdrawn_from_the_page(client, delivered_order, agent):
    case = open_return(delivered_order)
    client.force_login(agent)
    upload = SimpleUploadedFile("破损.jpg", b"\xff\xd8\xff\xe0 a photo", content_type="image/jpeg")
    response = client.post(act(case, "add_evidence"), {"file": upload, "description": "收到时外盒破损"})
    assert response.status_code == 302
    evidence = EvidenceFile.objects.get(case=case)
    assert "破损.jpg" in client.get(page(case)).content.decode()
    response = client.post(subject_url(case, "evidence", evidence.pk, "withdraw_evidence"), {"reason": "传错了"})
    assert response.status_code == 302
    evidence.refresh_from_db()
    assert evidence.withdrawn_reason == "传错了"


def test_a_solution_is_proposed_and_the_customers_answer_recorded(client, delivered_order, agent):
    case = open_return(delivered_order)
    data = {"kind": "repair", "summary": "免费维修左耳机", "reason": "在保修期内"}
    post_step(client, agent, case, "propose_solution", data)
    proposal = SolutionProposal.objects.get(case=case)
    accept = subject_url(case, "proposal", proposal.pk, "accept_solution")
    assert client.post(accept, {"channel": "email", "confirmation_text": "同意"}).status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.channel) == (ProposalStatus.ACCEPTED, "email")
    assert client.post(accept, {"channel": "email"}).status_code == 409  # no longer open


# --- Opening a case from a ticket ------------------------------------------------------------------
@pytest.fixture
def ticket(delivered_order, agent, support_team):
    from desk.tickets import services as ticket_services
    from desk.tickets.models import RoutingRule

    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return ticket_services.create_ticket(
        by=agent, customer=delivered_order.customer, order=delivered_order, subject="耳机左耳没有声音",
        description="想退货", request_type=request_type(),
    )  # fmt: skip


def test_an_agent_opens_a_case_from_the_ticket_page(client, ticket, delivered_order, agent):
    client.force_login(agent)
    ticket_page = client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert f"{reverse('cases:new')}?ticket={ticket.pk}" in ticket_page
    form = client.get(reverse("cases:new"), {"ticket": ticket.pk}).content.decode()
    first, second = delivered_order.items.order_by("pk")
    assert f'name="qty-{first.pk}"' in form
    data = {"ticket": ticket.pk, "case_type": "return_refund", "reason": "no_reason", f"qty-{first.pk}": "1"}
    preview = client.post(reverse("cases:new_preview"), data).content.decode()
    assert "7-day no-reason return: delivered 2026-11-10, window ends 2026-11-17 23:59" in preview
    response = client.post(reverse("cases:new"), data | {"reason_text": "尺码不合适"})
    case = AfterSalesCase.objects.get(ticket=ticket)
    assert response.status_code == 302
    assert response["Location"] == page(case)
    assert (case.case_type, case.customer_id, case.items.get().order_item_id) == (
        "return_refund",
        ticket.customer_id,
        first.pk,
    )
    assert case.reason_text == "尺码不合适"


def test_opening_a_case_without_items_says_so(client, ticket, agent):
    client.force_login(agent)
    data = {"ticket": ticket.pk, "case_type": "return_refund", "reason": "no_reason"}
    response = client.post(reverse("cases:new"), data)
    assert response.status_code == 422
    assert 'data-testid="error-open_case"' in response.content.decode()
    assert not AfterSalesCase.objects.exists()


def test_only_case_creators_open_cases(client, ticket, warehouse_clerk):
    client.force_login(warehouse_clerk)
    assert client.get(reverse("cases:new"), {"ticket": ticket.pk}).status_code == 403


def test_a_shipping_insurance_claim_is_filed_and_settled_from_the_page(client, delivered_order, agent, manager):
    PolicyVersion.objects.update(shipping_insurance_payout=Decimal("12.00"))
    delivered_order.shipping_insured = True
    delivered_order.save(update_fields=["shipping_insured"])
    case = services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 1),
    )  # fmt: skip
    case = services.approve_case(case, by=agent)
    case = services.send_return_instructions(case, by=agent, **ADDRESS)
    services.record_return_shipment(case, carrier="SF", tracking_number="SF5550001")
    post_step(client, agent, case, "file_insurance_claim")
    claim = ShippingInsuranceClaim.objects.get(case=case)
    assert 'data-action="record_insurance_payout"' not in client.get(page(case)).content.decode()  # finance's
    client.force_login(manager)
    paid = reverse("cases:subject_action", args=[case.number, "claim", claim.pk, "record_insurance_payout"])
    assert client.post(paid, {"reference": "INS-20261112-01"}).status_code == 302
    claim.refresh_from_db()
    assert (claim.status, claim.reference) == ("paid", "INS-20261112-01")


def test_double_shipping_compensation_is_proposed_from_the_page(client, paid_order, agent, time_machine):
    deliver(paid_order)
    time_machine.move_to(at(12), tick=False)
    case = open_return(paid_order, reason=Reason.DAMAGED)
    assert case.compensation_amount == Decimal("20.00")
    post_step(client, agent, case, "propose_double_shipping")
    grant = CompensationGrant.objects.get(case=case)
    assert (grant.amount, grant.source) == (Decimal("20.00"), "double_shipping")
    client.force_login(agent)
    response = client.post(act(case, "propose_double_shipping"))
    assert response.status_code == 409
    assert 'data-testid="error-propose_double_shipping"' in response.content.decode()


def test_an_action_no_longer_offered_reports_its_error_at_the_top_of_the_page(client, delivered_order, agent):
    case = services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.COMPENSATION, reason=Reason.OTHER, items=[],
    )  # fmt: skip
    post_step(client, agent, case, "propose_compensation", {"kind": "coupon", "amount": "5", "reason": "补偿"})
    grant = CompensationGrant.objects.get(case=case)
    approve = subject_url(case, "grant", grant.pk, "approve_compensation")
    assert client.post(approve).status_code == 302
    response = client.post(approve)  # approved already: the form is gone from the page
    assert response.status_code == 409
    html = response.content.decode()
    assert html.count('data-testid="error-approve_compensation"') == 1
    assert html.index('data-testid="error-approve_compensation"') < html.index('data-testid="case-header"')


def test_the_timeline_masks_a_customers_address_for_roles_that_see_masked_data(
    client, delivered_order, agent, senior_agent
):
    case = open_repair(delivered_order, ServiceMode.ON_SITE)
    post_step(client, agent, case, "approve_case")
    visit = {"address": "上海市浦东新区世纪大道100号1201室", "appointment_at": "2026-11-13 14:00"}
    post_step(client, agent, case, "arrange_repair_service", visit)
    client.force_login(agent)
    masked = client.get(page(case)).content.decode()
    assert "世纪大道100号1201室" not in masked
    assert "上海市" in masked  # the masked address keeps its city
    client.force_login(senior_agent)  # holds customer.view_pii
    assert "世纪大道100号1201室" in client.get(page(case)).content.decode()
