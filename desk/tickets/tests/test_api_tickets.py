"""The tickets API end to end: list with filters, create, work a ticket, and who may do what."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from desk.accounts.models import Role
from desk.accounts.services import issue_token
from desk.core.testing import make_customer, make_order, make_staff, request_type
from desk.customers.models import Customer, CustomerIdentity, Tier
from desk.tickets import services
from desk.tickets.models import MessageKind, RoutingRule, SlaState, Status, Ticket


class Api:
    """A bearer-token client for one user."""

    def __init__(self, client, user):
        _, key = issue_token(user, "tests", by=user)
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path, **params):
        return self.client.get(f"/api{path}", params, headers=self.headers)

    def post(self, path, body=None):
        return self.client.post(f"/api{path}", body or {}, content_type="application/json", headers=self.headers)

    def patch(self, path, body):
        return self.client.patch(f"/api{path}", body, content_type="application/json", headers=self.headers)

    def upload(self, path, upload):
        return self.client.post(f"/api{path}", {"file": upload}, headers=self.headers)


@pytest.fixture
def routed(support_team):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return support_team


@pytest.fixture
def api(client, agent, routed):
    return Api(client, agent)


def _ticket(by, customer, **kw):
    kw.setdefault("subject", "耳机左耳没有声音")
    kw.setdefault("description", "收到的蓝牙耳机左耳没有声音")
    kw.setdefault("request_type", request_type())
    return services.create_ticket(by=by, customer=customer, **kw)


def _numbers(response):
    assert response.status_code == 200, response.content
    return [t["number"] for t in response.json()["items"]]


# --- Creating ------------------------------------------------------------------------------------
def test_create_with_customer_id_routes_and_assigns(api, agent, customer, order):
    body = {
        "subject": "耳机坏了",
        "description": "左耳没声音",
        "customer_id": customer.pk,
        "request_type": "product_quality",
        "order_id": order.pk,
        "order_item_ids": [order.items.first().pk],
        "tags": ["耳机", " 质量 "],
        "priority": 3,
    }
    response = api.post("/tickets", body)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == f"TK{body['id']:07d}"
    assert body["team"]["code"] == "support"
    assert body["assignee"]["username"] == "agent"
    assert body["priority"] == 3
    assert body["tags"] == ["耳机", "质量"]
    assert body["channel"] == "api"
    assert Ticket.objects.get(pk=body["id"]).order_items.count() == 1


def test_create_by_identity_finds_or_creates_the_customer(api):
    body = {"subject": "快递没到", "request_type": "logistics",
            "customer": {"channel": "email", "value": "li.lei@example.com", "name": "李雷"}}  # fmt: skip
    first = api.post("/tickets", body)
    assert first.status_code == 201, first.content
    second = api.post("/tickets", body)
    assert first.json()["customer"]["id"] == second.json()["customer"]["id"]
    customer = Customer.objects.get(pk=first.json()["customer"]["id"])
    assert customer.name == "李雷"
    assert CustomerIdentity.objects.filter(customer=customer, channel="email").exists()


def test_create_needs_exactly_one_customer_reference(api, customer):
    response = api.post("/tickets", {"subject": "x"})
    assert response.status_code == 400
    assert response.json()["field"] == "customer"


def test_create_with_unknown_customer_or_order_is_404(api, customer):
    missing = api.post("/tickets", {"subject": "x", "customer_id": 987654})
    assert missing.status_code == 404
    assert missing.json()["code"] == "customer.not_found"
    stranger_order = make_order(make_customer("陌生人"))
    wrong = api.post("/tickets", {"subject": "x", "customer_id": customer.pk, "order_id": stranger_order.pk})
    assert wrong.status_code == 404
    assert wrong.json()["field"] == "order_id"


def test_unknown_request_type_is_400(api, customer):
    response = api.post("/tickets", {"subject": "x", "customer_id": customer.pk, "request_type": "nope"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "ticket.unknown_request_type",
        "message": response.json()["message"],
        "field": "request_type",
    }


def test_warehouse_clerk_may_not_create_and_no_customer_is_made(client, warehouse_clerk, routed):
    api = Api(client, warehouse_clerk)
    response = api.post("/tickets", {"subject": "x", "customer": {"channel": "phone", "value": "13900000000"}})
    assert response.status_code == 403
    assert response.json()["code"] == "permission.denied"
    assert not CustomerIdentity.objects.filter(value="13900000000").exists()


# --- Reading -------------------------------------------------------------------------------------
def test_get_by_id_or_number(api, agent, customer):
    ticket = _ticket(agent, customer)
    assert api.get(f"/tickets/{ticket.pk}").json()["id"] == ticket.pk
    assert api.get(f"/tickets/{ticket.number}").json()["id"] == ticket.pk
    assert api.get(f"/tickets/{ticket.number.lower()}").json()["subject"] == "耳机左耳没有声音"


def test_outsider_gets_404_for_another_teams_ticket(client, agent, outsider, customer, routed):
    ticket = _ticket(agent, customer)
    api = Api(client, outsider)
    response = api.get(f"/tickets/{ticket.number}")
    assert response.status_code == 404
    assert response.json()["code"] == "ticket.not_found"
    assert api.post(f"/tickets/{ticket.pk}/reply", {"body": "hi"}).status_code == 404
    assert _numbers(api.get("/tickets")) == []


def test_list_filters(api, agent, senior_agent, customer):
    vip = make_customer("李总", tier=Tier.VIP)
    quality = _ticket(agent, customer, tags=["耳机"])
    refund = _ticket(
        agent, vip, subject="Refund please", description="wrong colour", request_type=request_type("refund"),
        priority=4, channel="email",
    )  # fmt: skip
    services.assign_ticket(refund, senior_agent, by=senior_agent)
    services.update_ticket(quality, by=agent, status=Status.PENDING_CUSTOMER)
    assert _numbers(api.get("/tickets")) == [refund.number, quality.number]
    assert _numbers(api.get("/tickets", status="pending_customer")) == [quality.number]
    assert _numbers(api.get("/tickets", priority=4)) == [refund.number]
    assert _numbers(api.get("/tickets", request_type="refund")) == [refund.number]
    assert _numbers(api.get("/tickets", assignee=senior_agent.pk)) == [refund.number]
    assert _numbers(api.get("/tickets", channel="email")) == [refund.number]
    assert _numbers(api.get("/tickets", tier="vip")) == [refund.number]
    assert _numbers(api.get("/tickets", tag="耳机")) == [quality.number]
    assert _numbers(api.get("/tickets", team=refund.team_id)) == [refund.number, quality.number]
    assert _numbers(api.get("/tickets", customer=vip.pk)) == [refund.number]
    states = dict(Ticket.objects.values_list("pk", "sla_state"))
    assert quality.number in _numbers(api.get("/tickets", sla_state=states[quality.pk]))
    unused = next(s for s in SlaState.values if s not in states.values())
    assert _numbers(api.get("/tickets", sla_state=unused)) == []
    assert _numbers(api.get("/tickets", open="true", unassigned="false")) == [refund.number, quality.number]


def test_keyword_search_in_chinese_and_english(api, agent, customer):
    earphone = _ticket(agent, customer, subject="蓝牙耳机没有声音", description="")
    refund = _ticket(agent, customer, subject="Refund for broken kettle", description="")
    assert _numbers(api.get("/tickets", q="耳机")) == [earphone.number]
    assert _numbers(api.get("/tickets", q="kettle refund")) == [refund.number]
    assert _numbers(api.get("/tickets", q="冰箱")) == []


def test_keyword_pages_follow_next_offset_newest_first(api, agent, customer):
    made = [_ticket(agent, customer, subject=f"耳机没有声音 {i}", description="").number for i in range(5)]
    _ticket(agent, customer, subject="冰箱不制冷", description="")
    first = api.get("/tickets", q="耳机 声音", limit=2).json()
    assert [t["number"] for t in first["items"]] == made[::-1][:2]
    assert (first["offset"], first["next_offset"]) == (0, 2)
    second = api.get("/tickets", q="耳机 声音", limit=2, offset=2).json()
    assert [t["number"] for t in second["items"]] == made[::-1][2:4]
    assert second["next_offset"] == 4
    last = api.get("/tickets", q="耳机 声音", limit=2, offset=4).json()
    assert ([t["number"] for t in last["items"]], last["next_offset"]) == ([made[0]], None)
    assert _numbers(api.get("/tickets", q="耳机", status="closed")) == []  # the other filters still apply


def test_pages_follow_next_offset_without_counting(api, agent, customer):
    made = [_ticket(agent, customer, subject=f"工单 {i}").number for i in range(5)]
    first = api.get("/tickets", limit=2).json()
    assert [t["number"] for t in first["items"]] == made[::-1][:2]
    assert first["next_offset"] == 2
    last = api.get("/tickets", limit=2, offset=4).json()
    assert [t["number"] for t in last["items"]] == [made[0]]
    assert last["next_offset"] is None


def test_list_query_count_does_not_grow_with_rows(api, agent, customer):
    for i in range(3):
        _ticket(agent, customer, subject=f"工单 {i}", tags=["a", "b"])
    api.get("/tickets")  # the token's first use is recorded once; count what follows
    with CaptureQueriesContext(connection) as few:
        api.get("/tickets")
    for i in range(6):
        _ticket(agent, customer, subject=f"更多 {i}", tags=["c"])
    with CaptureQueriesContext(connection) as many:
        assert len(api.get("/tickets").json()["items"]) == 9
    assert len(many) == len(few)
    assert len(many) <= 6


def test_request_types_are_listed(api):
    codes = [t["code"] for t in api.get("/request-types").json()]
    assert codes[:2] == ["product_quality", "logistics"]


# --- Working a ticket ----------------------------------------------------------------------------
def test_reply_note_and_messages(api, agent, customer, supervisor):
    ticket = _ticket(agent, customer)
    reply = api.post(f"/tickets/{ticket.number}/reply", {"body": "您好，请提供照片", "status": "pending_customer"})
    assert reply.status_code == 201, reply.content
    assert reply.json()["kind"] == MessageKind.REPLY
    note = api.post(f"/tickets/{ticket.pk}/notes", {"body": "@supervisor 请看一下"})
    assert note.status_code == 201
    assert supervisor.notifications.filter(verb="ticket.mentioned").exists()
    messages = api.get(f"/tickets/{ticket.pk}/messages").json()["items"]
    assert [m["kind"] for m in messages] == ["customer", "reply", "note"]
    assert messages[1]["author"]["username"] == "agent"
    assert api.get(f"/tickets/{ticket.pk}").json()["status"] == "pending_customer"


def test_empty_reply_is_400_with_field(api, agent, customer):
    ticket = _ticket(agent, customer)
    response = api.post(f"/tickets/{ticket.pk}/reply", {"body": "   "})
    assert response.status_code == 400
    assert response.json()["field"] == "body"


def test_assign_accept_and_update(client, agent, senior_agent, customer, routed):
    ticket = _ticket(agent, customer)
    lead = Api(client, senior_agent)
    assigned = lead.post(f"/tickets/{ticket.pk}/assign", {"assignee_id": senior_agent.pk})
    assert assigned.status_code == 200, assigned.content
    assert assigned.json()["assignee"]["username"] == "senior"
    accepted = lead.post(f"/tickets/{ticket.pk}/accept")
    assert accepted.json()["status"] == "open"
    assert accepted.json()["accepted_at"] is not None
    updated = lead.patch(f"/tickets/{ticket.pk}", {"priority": 4, "request_type": "refund", "tags": ["退款"]})
    assert updated.status_code == 200, updated.content
    after = updated.json()
    assert (after["priority"], after["request_type"], after["tags"]) == (4, "refund", ["退款"])


def test_agent_may_not_assign_to_others_but_may_take_it(api, agent, senior_agent, customer):
    ticket = _ticket(senior_agent, customer)
    services.assign_ticket(ticket, senior_agent, by=senior_agent)
    refused = api.post(f"/tickets/{ticket.pk}/assign", {"assignee_id": senior_agent.pk})
    assert refused.status_code == 403
    taken = api.post(f"/tickets/{ticket.pk}/assign", {"assignee_id": agent.pk})
    assert taken.json()["assignee"]["username"] == "agent"


def test_assign_to_unknown_user_is_404(client, senior_agent, customer, routed):
    ticket = _ticket(senior_agent, customer)
    response = Api(client, senior_agent).post(f"/tickets/{ticket.pk}/assign", {"assignee_id": 424242})
    assert response.status_code == 404
    assert response.json() == {"code": "user.not_found", "message": response.json()["message"], "field": "assignee_id"}


def test_illegal_status_change_is_409(api, agent, customer):
    ticket = _ticket(agent, customer)
    api.patch(f"/tickets/{ticket.pk}", {"status": "resolved"})
    response = api.patch(f"/tickets/{ticket.pk}", {"status": "pending_customer"})
    assert response.status_code == 409
    assert response.json()["code"] == "ticket.illegal_status_change"


def test_merge_folds_the_duplicate(api, agent, customer):
    keep = _ticket(agent, customer)
    duplicate = _ticket(agent, customer, subject="还是耳机的问题")
    response = api.post(f"/tickets/{duplicate.number}/merge", {"into": keep.number})
    assert response.status_code == 200, response.content
    assert response.json()["id"] == keep.pk
    assert api.get(f"/tickets/{duplicate.pk}").json()["merged_into_id"] == keep.pk
    again = api.post(f"/tickets/{duplicate.number}/merge", {"into": keep.number})
    assert again.status_code == 409


def test_attachment_upload_and_limits(api, agent, customer, settings):
    ticket = _ticket(agent, customer)
    photo = SimpleUploadedFile("broken.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100, content_type="image/png")
    created = api.upload(f"/tickets/{ticket.pk}/attachments", photo)
    assert created.status_code == 201, created.content
    assert created.json()["content_type"] == "image/png"
    assert created.json()["size"] == 108
    listed = api.get(f"/tickets/{ticket.pk}/attachments").json()
    assert [a["original_name"] for a in listed["items"]] == ["broken.png"]
    assert listed["next_offset"] is None
    script = SimpleUploadedFile("x.sh", b"rm -rf /", content_type="text/x-sh")
    refused = api.upload(f"/tickets/{ticket.pk}/attachments", script)
    assert refused.status_code == 400
    assert refused.json()["code"] == "ticket.bad_attachment"
    assert refused.json()["field"] == "file"
    disguised = api.upload(
        f"/tickets/{ticket.pk}/attachments", SimpleUploadedFile("a.pdf", b"MZ\x90\x00", "application/pdf")
    )
    assert disguised.status_code == 400
    assert disguised.json()["message"].startswith("a.pdf ")  # "... is not really application/pdf", translated
    assert "application/pdf" in disguised.json()["message"]
    settings.DESK_ATTACHMENT_MAX_BYTES = 50
    over_limit = api.upload(f"/tickets/{ticket.pk}/attachments", SimpleUploadedFile("b.png", b"0" * 2000, "image/png"))
    assert over_limit.status_code == 400
    assert over_limit.json()["code"] == "ticket.bad_attachment"
    huge = api.upload(f"/tickets/{ticket.pk}/attachments", SimpleUploadedFile("c.png", b"0" * 200_000, "image/png"))
    assert huge.status_code == 413
    assert huge.json()["code"] == "payload_too_large"
    missing = api.post(f"/tickets/{ticket.pk}/attachments")
    assert missing.status_code == 400


def test_ticket_history(api, agent, customer):
    ticket = _ticket(agent, customer)
    api.post(f"/tickets/{ticket.pk}/reply", {"body": "已收到"})
    verbs = [e["verb"] for e in api.get(f"/tickets/{ticket.pk}/events").json()["items"]]
    assert verbs[0] == "ticket.created"
    assert "ticket.replied" in verbs


def test_integration_user_creates_tickets_with_a_token(client, routed, customer):
    shop = make_staff("shop-bot", Role.INTEGRATION)
    response = Api(client, shop).post("/tickets", {"subject": "订单异常", "customer_id": customer.pk})
    assert response.status_code == 201, response.content
