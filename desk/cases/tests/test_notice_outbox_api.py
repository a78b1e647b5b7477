"""The customer-notice outbox API over real HTTP (Django test client, bearer tokens of an integration user):
a channel integration lists, claims and reports notices; the 12 h email fallback and 24 h escalation still hold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from desk.accounts.models import Role
from desk.accounts.services import issue_token
from desk.cases import notices, queries, services
from desk.cases.models import CustomerNotice, NoticeStatus
from desk.cases.tests.conftest import error, ok, open_return, return_and_refund
from desk.core.models import Event
from desk.core.testing import make_staff
from desk.customers.models import Channel, CustomerIdentity
from desk.webhooks.models import WebhookDelivery
from desk.webhooks.services import create_endpoint


class Api:
    """A bearer-token client for one user, at /api/notices."""

    def __init__(self, client: Any, user: Any) -> None:
        _, key = issue_token(user, "tests", by=user)
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str = "", **params: Any) -> Any:
        return self.client.get(f"/api/notices{path}", params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        data = body if isinstance(body, str) else ({} if body is None else body)
        return self.client.post(f"/api/notices{path}", data, content_type="application/json", headers=self.headers)

    def claim(self, channel: str = "wechat", limit: int = 20) -> list[dict[str, Any]]:
        return list(ok(self.post("/claim", {"channel": channel, "limit": limit}))["items"])


@pytest.fixture
def bot(db: Any) -> Any:
    return make_staff("wechat-bot", Role.INTEGRATION)


@pytest.fixture
def as_bot(client: Any, bot: Any) -> Api:
    return Api(client, bot)


@pytest.fixture
def wechat_customer(customer: Any) -> Any:
    customer.preferred_channel, customer.language = Channel.WECHAT, "en"
    customer.save()
    CustomerIdentity.objects.create(customer=customer, channel=Channel.WECHAT, value="wx-openid-42")
    return customer


def approved(step: Any, order: Any, agent: Any) -> Any:
    """A case whose approval wrote one (step) notice."""
    return step(services.approve_case, open_return(step, order), by=agent)


def refunded(step: Any, order: Any, agent: Any, clerk: Any, manager: Any) -> Any:
    """Five notices: approved, return instructions, received, inspected, and the result, refunded."""
    return return_and_refund(step, open_return(step, order), agent, clerk, manager)


def notice_events(verb: str) -> list[Event]:
    return list(Event.objects.filter(verb=verb).order_by("pk"))


# --- Listing ----------------------------------------------------------------------------------------
def test_an_integration_pages_through_its_channels_outbox_oldest_first(
    delivered_order: Any, wechat_customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any,
    as_bot: Api, django_assert_max_num_queries: Any,
) -> None:  # fmt: skip
    case = refunded(step, delivered_order, agent, warehouse_clerk, manager)
    with django_assert_max_num_queries(4):  # token, grants, the page (case joined, no COUNT)
        first = ok(as_bot.get(channel="wechat", status="pending", limit=3))
    assert [n["kind"] for n in first["items"]] == ["approved", "return_instructions", "received"]
    notice = first["items"][0]
    assert notice["case_id"] == case.pk
    assert notice["case_number"] == case.number
    assert notice["customer_id"] == wechat_customer.pk
    assert (notice["channel"], notice["recipient"], notice["status"], notice["attempts"]) == (
        "wechat", "wx-openid-42", "pending", 0,
    )  # fmt: skip
    assert notice["subject"] == f"After-sales request {case.number} approved"
    assert notice["body"].startswith(f"Dear {wechat_customer.name},")
    assert (notice["next_attempt_at"], notice["claimed_until"], notice["is_result"]) == (None, None, False)
    assert first["next_after"] == first["items"][-1]["id"]

    rest = ok(as_bot.get(channel="wechat", status="pending", after=first["next_after"], limit=3))
    assert [n["kind"] for n in rest["items"]] == ["inspected", "refunded"]
    assert rest["items"][1]["is_result"] is True
    assert rest["items"][1]["due_at"] is not None
    assert rest["next_after"] is None
    assert ok(as_bot.get(channel="app"))["items"] == []
    assert ok(as_bot.get(channel="wechat", status="sent"))["items"] == []


def test_a_notice_written_without_an_address_lists_the_identity_the_customer_has_now(
    delivered_order: Any, customer: Any, agent: Any, step: Any, as_bot: Api
) -> None:
    customer.preferred_channel = Channel.WECHAT
    customer.save()
    approved(step, delivered_order, agent)
    assert CustomerNotice.objects.get().recipient == ""
    assert ok(as_bot.get(channel="wechat"))["items"][0]["recipient"] == ""
    CustomerIdentity.objects.create(customer=customer, channel=Channel.WECHAT, value="wx-later")
    assert ok(as_bot.get(channel="wechat"))["items"][0]["recipient"] == "wx-later"


# --- Claiming ---------------------------------------------------------------------------------------
def test_two_pollers_never_claim_the_same_notice_and_a_lapsed_claim_comes_back(
    delivered_order: Any, wechat_customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any,
    client: Any, bot: Any, time_machine: Any,
) -> None:  # fmt: skip
    refunded(step, delivered_order, agent, warehouse_clerk, manager)
    first, second = Api(client, bot), Api(client, make_staff("wechat-bot-2", Role.INTEGRATION))
    mine, theirs = first.claim(limit=3), second.claim(limit=3)
    assert [len(mine), len(theirs)] == [3, 2]
    assert not {n["id"] for n in mine} & {n["id"] for n in theirs}
    assert {(n["status"], n["attempts"]) for n in mine + theirs} == {("sending", 1)}
    assert all(n["claimed_until"] for n in mine)
    assert first.claim() == []
    assert ok(first.get(channel="wechat", status="pending"))["items"] == []

    ok(first.post(f"/{mine[0]['id']}/delivered"))
    time_machine.shift(notices.OUTBOX_CLAIM_FOR + timedelta(seconds=1))  # the pollers went quiet
    again = second.claim()
    assert [n["id"] for n in again] == sorted(n["id"] for n in mine[1:] + theirs)
    assert {n["attempts"] for n in again} == {2}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writing transaction at a time")
def test_a_poller_skips_the_notices_another_poller_is_claiming_this_moment(
    transactional_db: Any, delivered_order: Any, wechat_customer: Any, agent: Any, step: Any, as_bot: Api
) -> None:
    import psycopg

    case = approved(step, delivered_order, agent)
    step(services.withdraw_case, case, by=None)  # a second notice
    oldest, newest = CustomerNotice.objects.order_by("pk").values_list("pk", flat=True)
    other = psycopg.connect(**connection.get_connection_params())
    try:
        other.execute("SELECT id FROM cases_customernotice WHERE id = %s FOR UPDATE", [oldest])
        assert [n["id"] for n in as_bot.claim()] == [newest]
        other.rollback()
        assert [n["id"] for n in as_bot.claim()] == [oldest]
    finally:
        other.close()


# --- Reporting --------------------------------------------------------------------------------------
def test_a_delivered_notice_is_sent_once_with_one_event_however_often_it_is_reported(
    delivered_order: Any, wechat_customer: Any, agent: Any, step: Any, as_bot: Api, bot: Any, settings: Any
) -> None:
    settings.DESK_WEBHOOK_ALLOW_PRIVATE = True
    endpoint = create_endpoint(by=make_staff("root", Role.ADMIN), name="crm", url="http://127.0.0.1:9/hook",
                               event_types=["notice.*"])  # fmt: skip
    case = approved(step, delivered_order, agent)
    [claimed] = as_bot.claim()
    answer = ok(as_bot.post(f"/{claimed['id']}/delivered", {"provider_message_id": "wx-msg-77"}))
    assert (answer["status"], answer["attempts"], answer["claimed_until"]) == ("sent", 1, None)
    assert answer["sent_at"] is not None
    assert ok(as_bot.post(f"/{claimed['id']}/delivered", {"provider_message_id": "wx-msg-78"})) == answer

    [event] = notice_events("notice.delivered")
    assert (event.subject_id, event.customer_id, event.actor_id) == (case.pk, wechat_customer.pk, bot.pk)
    assert event.before == {"status": "sending", "attempts": 1}
    assert event.after == {"status": "sent", "attempts": 1}
    assert event.data == {"notice": claimed["id"], "kind": "approved", "channel": "wechat",
                          "provider_message_id": "wx-msg-77"}  # fmt: skip
    assert "notice.delivered" in [e.verb for e in queries.case_timeline(case)]
    assert WebhookDelivery.objects.get(endpoint=endpoint).event == event


def test_a_notice_read_from_the_list_is_reported_without_a_body_or_a_claim(
    delivered_order: Any, wechat_customer: Any, agent: Any, step: Any, as_bot: Api, client: Any
) -> None:
    case = approved(step, delivered_order, agent)
    [listed] = ok(as_bot.get(channel="wechat", status="pending"))["items"]
    answer = ok(as_bot.post(f"/{listed['id']}/delivered"))
    assert (answer["status"], answer["attempts"]) == ("sent", 1)
    client.force_login(agent)
    timeline = client.get(f"/cases/{case.number}/").content.decode().split('data-testid="timeline"')[1]
    assert "<strong>wechat-bot</strong> 通知已送达客户" in timeline  # "notice delivered to the customer"


def test_a_failed_notice_is_retried_after_the_backoff_then_given_up(
    delivered_order: Any, wechat_customer: Any, agent: Any, step: Any, as_bot: Api, time_machine: Any
) -> None:
    approved(step, delivered_order, agent)
    [notice] = as_bot.claim()
    failed = ok(as_bot.post(f"/{notice['id']}/failed", {"error": "errcode 45047: out of response count limit",
                                                        "retry": True}))  # fmt: skip
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["last_error"] == "errcode 45047: out of response count limit"
    assert failed["next_attempt_at"] is not None
    # The integration repeats its report (it lost the answer): nothing counts twice.
    assert ok(as_bot.post(f"/{notice['id']}/failed", {"error": "errcode 45047", "retry": True})) == failed
    assert as_bot.claim() == []  # not due for a minute
    time_machine.shift(timedelta(seconds=61))
    [again] = as_bot.claim()
    assert (again["id"], again["attempts"]) == (notice["id"], 2)
    later = ok(as_bot.post(f"/{notice['id']}/failed", {"error": "timeout"}))  # retry defaults to true
    assert later["status"] == "failed"

    dead = ok(as_bot.post(f"/{notice['id']}/failed", {"error": "errcode 43004: unsubscribed", "retry": False}))
    assert (dead["status"], dead["attempts"], dead["next_attempt_at"]) == ("dead", 3, None)
    assert ok(as_bot.post(f"/{notice['id']}/failed", {"error": "again", "retry": False})) == dead
    events = notice_events("notice.failed")
    assert [(e.after["status"], e.data["retry"]) for e in events] == [("failed", True), ("failed", True),
                                                                       ("dead", False)]  # fmt: skip
    assert events[0].data["error"] == "errcode 45047: out of response count limit"
    # Given up on, then delivered after all: the customer has it.
    assert ok(as_bot.post(f"/{notice['id']}/delivered"))["status"] == "sent"
    error_body = error(as_bot.post(f"/{notice['id']}/failed", {"error": "late"}), 409)
    assert error_body["code"] == "notice.already_sent"


def test_the_attempts_run_out(
    delivered_order: Any, wechat_customer: Any, agent: Any, step: Any, as_bot: Api, time_machine: Any
) -> None:
    approved(step, delivered_order, agent)
    for attempt in range(1, notices.MAX_ATTEMPTS + 1):
        [notice] = as_bot.claim()
        assert notice["attempts"] == attempt
        answer = ok(as_bot.post(f"/{notice['id']}/failed", {"error": "provider down"}))
        time_machine.shift(notices.MAX_DELAY + timedelta(seconds=1))
    assert (answer["status"], answer["attempts"]) == ("dead", notices.MAX_ATTEMPTS)
    assert as_bot.claim() == []


# --- The desk's own email, permissions, bad input ---------------------------------------------------
def test_email_notices_are_listed_but_the_desk_alone_sends_them(
    delivered_order: Any, customer: Any, agent: Any, step: Any, as_bot: Api, mailoutbox: Any
) -> None:
    customer.preferred_channel = Channel.EMAIL
    customer.save()
    approved(step, delivered_order, agent)
    [listed] = ok(as_bot.get(channel="email"))["items"]
    assert (listed["status"], listed["recipient"]) == ("sent", customer.email)
    CustomerNotice.objects.update(status=NoticeStatus.FAILED)  # even one the desk is still retrying
    for path, body in ((f"/{listed['id']}/delivered", None), (f"/{listed['id']}/failed", {"error": "x"}),
                       ("/claim", {"channel": "email"})):  # fmt: skip
        assert error(as_bot.post(path, body), 409)["code"] == "notice.sent_by_desk"
    assert CustomerNotice.objects.get().status == NoticeStatus.FAILED
    assert notice_events("notice.delivered") == notice_events("notice.failed") == []


def test_only_integrations_and_admins_may_use_the_outbox(
    delivered_order: Any, wechat_customer: Any, agent: Any, step: Any, client: Any, manager: Any
) -> None:
    approved(step, delivered_order, agent)
    notice = CustomerNotice.objects.get()
    as_agent = Api(client, agent)
    assert error(as_agent.get(channel="wechat"), 403)["code"] == "permission.denied"
    assert error(as_agent.post("/claim", {"channel": "wechat"}), 403)["code"] == "permission.denied"
    assert error(as_agent.post(f"/{notice.pk}/delivered"), 403)["code"] == "permission.denied"
    assert error(Api(client, manager).post(f"/{notice.pk}/failed", {"error": "x"}), 403)["code"] == "permission.denied"
    assert CustomerNotice.objects.get().status == NoticeStatus.PENDING
    assert {e.data["action"] for e in notice_events("permission.denied")} == {"notice.deliver"}
    as_admin = Api(client, make_staff("root", Role.ADMIN))
    assert len(ok(as_admin.get(channel="wechat"))["items"]) == 1


def test_bad_input_is_a_clear_4xx(
    delivered_order: Any, wechat_customer: Any, agent: Any, step: Any, as_bot: Api, client: Any
) -> None:
    approved(step, delivered_order, agent)
    notice = CustomerNotice.objects.get()
    assert error(as_bot.post("/999999/delivered"), 404)["code"] == "notice.not_found"
    assert error(as_bot.post("/999999/failed", {"error": "x"}), 404)["code"] == "notice.not_found"
    assert error(as_bot.post(f"/{2**60}/delivered"), 400)["field"] == "notice_id"
    assert error(as_bot.get(channel="telegram"), 400)["field"] == "channel"
    assert error(as_bot.get(), 400)["field"] == "channel"
    assert error(as_bot.get(channel="wechat", status="lost"), 400)["field"] == "status"
    assert error(as_bot.get(channel="wechat", after=-1), 400)["field"] == "after"
    assert error(as_bot.get(channel="wechat", limit=0), 400)["field"] == "limit"
    assert error(as_bot.post("/claim", {"channel": "fax"}), 400)["field"] == "channel"
    assert error(as_bot.post("/claim", {"channel": "wechat", "limit": 1000}), 400)["field"] == "limit"
    assert error(as_bot.post(f"/{notice.pk}/failed", {"retry": True}), 400)["field"] == "error"
    assert error(as_bot.post(f"/{notice.pk}/failed", {"error": "  "}), 400)["field"] == "error"
    assert error(as_bot.post(f"/{notice.pk}/failed", {"error": "x", "retry": "maybe"}), 400)["field"] == "retry"
    assert error(as_bot.post(f"/{notice.pk}/delivered", {"provider_message_id": "m" * 201}), 400)["field"]
    assert error(as_bot.post(f"/{notice.pk}/delivered", "{not json"), 400)["code"] == "malformed_json"
    assert error(client.get("/api/notices", {"channel": "wechat"}), 401)["code"] == "auth.required"
    assert CustomerNotice.objects.get().status == NoticeStatus.PENDING


# --- The 12 h email fallback and the 24 h escalation -------------------------------------------------
def test_a_result_notice_that_failed_on_its_channel_goes_by_email_at_12_hours(
    delivered_order: Any, wechat_customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any,
    as_bot: Api, time_machine: Any, mailoutbox: Any,
) -> None:  # fmt: skip
    case = refunded(step, delivered_order, agent, warehouse_clerk, manager)
    result = CustomerNotice.objects.get(case=case, is_result=True)
    for notice in as_bot.claim():
        ok(as_bot.post(f"/{notice['id']}/failed", {"error": "provider down"}))
    time_machine.shift(timedelta(hours=11))
    assert notices.sweep_result_notices()["switched_to_email"] == 0
    time_machine.shift(timedelta(minutes=58))
    [claimed] = [n for n in as_bot.claim() if n["id"] == result.pk]  # due again, and held by a poller now
    time_machine.shift(timedelta(minutes=3))
    assert notices.sweep_result_notices()["switched_to_email"] == 0  # 12 h passed, but it may be on its way
    time_machine.shift(notices.OUTBOX_CLAIM_FOR)  # the poller went quiet

    assert notices.sweep_result_notices() == {"switched_to_email": 1, "sent": 1, "failed": 0, "escalated": 0}
    assert [m.subject for m in mailoutbox] == [f"Refund made for case {case.number}"]
    result.refresh_from_db()
    assert (result.channel, result.recipient, result.status, result.attempts) == (
        "email", wechat_customer.email, NoticeStatus.SENT, 1,
    )  # fmt: skip
    assert error(as_bot.post(f"/{claimed['id']}/delivered"), 409)["code"] == "notice.sent_by_desk"
    time_machine.shift(timedelta(hours=24))
    assert notices.sweep_result_notices()["escalated"] == 0


def test_a_result_notice_its_channel_gave_up_on_goes_by_email_at_once(
    delivered_order: Any, wechat_customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any,
    as_bot: Api, mailoutbox: Any,
) -> None:  # fmt: skip
    case = refunded(step, delivered_order, agent, warehouse_clerk, manager)
    result = CustomerNotice.objects.get(case=case, is_result=True)
    ok(as_bot.post(f"/{result.pk}/failed", {"error": "errcode 43004: unsubscribed", "retry": False}))
    assert notices.sweep_result_notices()["switched_to_email"] == 1
    assert [m.to for m in mailoutbox] == [[wechat_customer.email]]
    assert CustomerNotice.objects.filter(channel="wechat", status=NoticeStatus.PENDING).count() == 4


def test_a_given_up_result_notice_with_no_email_is_escalated_at_24_hours(
    delivered_order: Any, wechat_customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any,
    as_bot: Api, time_machine: Any,
) -> None:  # fmt: skip
    wechat_customer.email = ""
    wechat_customer.save()
    case = refunded(step, delivered_order, agent, warehouse_clerk, manager)
    result = CustomerNotice.objects.get(case=case, is_result=True)
    ok(as_bot.post(f"/{result.pk}/failed", {"error": "errcode 43004: unsubscribed", "retry": False}))
    time_machine.shift(timedelta(hours=23))
    assert notices.sweep_result_notices() == {"switched_to_email": 0, "sent": 0, "failed": 0, "escalated": 0}
    time_machine.shift(timedelta(hours=1, minutes=1))
    assert notices.sweep_result_notices()["escalated"] == 1
    [overdue] = notice_events("case.result_notice_overdue")
    assert (overdue.data["status"], overdue.data["last_error"]) == ("dead", "errcode 43004: unsubscribed")


def test_mark_notice_sent_inside_the_process_records_the_delivery_too(
    delivered_order: Any, wechat_customer: Any, agent: Any, step: Any
) -> None:
    approved(step, delivered_order, agent)
    notice = CustomerNotice.objects.get()
    assert notices.mark_notice_sent(notice) is True
    assert notices.mark_notice_sent(notice) is False
    [event] = notice_events("notice.delivered")
    assert (event.actor_label, event.after) == ("system", {"status": "sent", "attempts": 1})
