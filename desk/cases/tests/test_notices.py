"""Customer notices: one per step on the customer's channel, in their language, and the 24 h result notice timer.

Email goes through Django's email backend: the locmem outbox, or the real SMTP backend pointed at a
closed port for a mail server that is down, or a real SMTP server (aiosmtpd, the `smtp_server` fixture).
"""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from desk.cases import notices, services, sweep
from desk.cases import services_exchange as exchange
from desk.cases.errors import IllegalTransition
from desk.cases.models import CaseType, CustomerNotice, ExchangeMode, NoticeStatus, Reason
from desk.cases.tests.conftest import lines, open_return, return_and_refund
from desk.core.models import Event
from desk.customers.models import Channel, CustomerIdentity, Tier

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


def prefer(customer: Any, channel: str, language: str = "zh-hans", **fields: Any) -> Any:
    customer.preferred_channel, customer.language = channel, language
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.save()
    return customer


def kinds(case: Any) -> list[tuple[str, bool]]:
    return list(CustomerNotice.objects.filter(case=case).values_list("kind", "is_result"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- One notice per step ----------------------------------------------------------------------------
def test_an_email_customer_hears_of_every_step_in_english(
    delivered_order: Any, customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any, mailoutbox: Any
) -> None:
    prefer(customer, Channel.EMAIL, "en")
    case = return_and_refund(step, open_return(step, delivered_order), agent, warehouse_clerk, manager)
    case = step(services.close_case, case, by=agent)

    assert kinds(case) == [
        ("approved", False), ("return_instructions", False), ("received", False), ("inspected", False),
        ("refunded", True), ("closed", True),
    ]  # fmt: skip
    assert [m.to for m in mailoutbox] == [[customer.email]] * 6
    assert [m.subject for m in mailoutbox] == [
        f"After-sales request {case.number} approved",
        f"How to return your goods for case {case.number}",
        f"Return received for case {case.number}",
        f"Return inspected for case {case.number}",
        f"Refund made for case {case.number}",
        f"After-sales case {case.number} closed",
    ]
    instructions, refunded = mailoutbox[1].body, mailoutbox[4].body
    assert "上海市嘉定区仓库路1号, 退货组, 021-5555" in instructions
    assert "Ship by 2026-11-19 12:00; return postage is paid by you." in instructions
    refund = case.refunds.get()
    assert f"142.50 CNY was refunded for case {case.number} (refund number {refund.refund_number})" in refunded
    assert delivered_order.number in refunded
    assert set(CustomerNotice.objects.values_list("status", flat=True)) == {NoticeStatus.SENT}


def test_a_chinese_customer_reads_chinese(delivered_order: Any, customer: Any, agent: Any, step: Any,
                                          mailoutbox: Any) -> None:  # fmt: skip
    prefer(customer, Channel.EMAIL, "zh-hans")
    case = step(services.approve_case, open_return(step, delivered_order), by=agent)
    [message] = mailoutbox
    assert message.subject == f"售后申请 {case.number} 已同意"
    assert "退货地址" in message.body


def test_the_notice_reaches_a_real_smtp_server(
    delivered_order: Any, customer: Any, agent: Any, step: Any, smtp_server: Any
) -> None:
    prefer(customer, Channel.EMAIL, "zh-hans")
    case = step(services.approve_case, open_return(step, delivered_order), by=agent)
    [message] = smtp_server
    assert (message["To"], message["Subject"]) == (customer.email, f"售后申请 {case.number} 已同意")
    assert "退货地址" in message.get_body(preferencelist=("plain",)).get_content()
    assert CustomerNotice.objects.get(case=case).status == NoticeStatus.SENT


def test_the_notice_is_written_with_its_event_and_not_without(
    delivered_order: Any, customer: Any, agent: Any, warehouse_clerk: Any, step: Any, mailoutbox: Any
) -> None:
    prefer(customer, Channel.EMAIL)
    case = open_return(step, delivered_order)
    with pytest.raises(IllegalTransition):
        step(services.receive_return, case, by=warehouse_clerk)
    assert not CustomerNotice.objects.exists()
    case = step(services.approve_case, case, by=agent)
    notice = CustomerNotice.objects.get()
    assert notice.event == Event.objects.get(verb="case.approve")
    assert (notice.case, notice.status, notice.attempts) == (case, NoticeStatus.SENT, 1)


def test_other_channels_are_an_outbox_for_their_integration(
    delivered_order: Any, customer: Any, agent: Any, step: Any, mailoutbox: Any
) -> None:
    prefer(customer, Channel.WECHAT)
    CustomerIdentity.objects.create(customer=customer, channel=Channel.WECHAT, value="wx-openid-42")
    step(services.approve_case, open_return(step, delivered_order), by=agent)
    notice = CustomerNotice.objects.get()
    assert (notice.channel, notice.recipient, notice.status) == ("wechat", "wx-openid-42", NoticeStatus.PENDING)
    assert notice.next_attempt_at is None
    assert mailoutbox == []
    assert notices.mark_notice_sent(notice) is True
    assert notices.mark_notice_sent(notice) is False
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.SENT


def test_a_step_notice_goes_to_the_oldest_identity_on_the_preferred_channel_in_one_read(
    delivered_order: Any, customer: Any, agent: Any, step: Any, mailoutbox: Any
) -> None:
    prefer(customer, "")  # no preference: web chat
    CustomerIdentity.objects.create(customer=customer, channel=Channel.WECHAT, value="wx-other-channel")
    CustomerIdentity.objects.create(customer=customer, channel=Channel.WEB, value="web-first")
    CustomerIdentity.objects.create(customer=customer, channel=Channel.WEB, value="web-second")
    case = open_return(step, delivered_order)
    with CaptureQueriesContext(connection) as captured:
        step(services.approve_case, case, by=agent)
    assert CustomerNotice.objects.values_list("channel", "recipient").get() == ("web", "web-first")
    identity_reads = [q["sql"] for q in captured.captured_queries if '"customers_customeridentity"' in q["sql"]]
    (read,) = identity_reads  # the identity comes with the case's facts
    assert read.startswith('SELECT "cases_aftersalescase"')


# --- Retries -------------------------------------------------------------------------------------------
def test_an_email_that_fails_is_sent_again_by_the_sweep(
    delivered_order: Any, customer: Any, agent: Any, step: Any, settings: Any, time_machine: Any
) -> None:
    prefer(customer, Channel.EMAIL, "en")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    step(services.approve_case, open_return(step, delivered_order), by=agent)
    notice = CustomerNotice.objects.get()
    assert (notice.status, notice.attempts) == (NoticeStatus.FAILED, 1)
    assert notice.last_error
    assert notices.sweep_result_notices()["sent"] == 0  # not due yet: one minute of backoff

    settings.EMAIL_BACKEND = LOCMEM  # the mail server is back
    mail.outbox = []
    time_machine.shift(timedelta(minutes=2))
    assert notices.sweep_result_notices()["sent"] == 1
    notice.refresh_from_db()
    assert (notice.status, notice.attempts, notice.last_error) == (NoticeStatus.SENT, 2, "")
    assert len(mail.outbox) == 1
    assert notices.sweep_result_notices()["sent"] == 0


def test_no_address_gives_up_at_once(delivered_order: Any, customer: Any, agent: Any, step: Any) -> None:
    prefer(customer, Channel.EMAIL, email="")
    step(services.approve_case, open_return(step, delivered_order), by=agent)
    notice = CustomerNotice.objects.get()
    assert (notice.status, notice.next_attempt_at) == (NoticeStatus.DEAD, None)


# --- The 24 h result notice --------------------------------------------------------------------------
def refunded_case(step: Any, order: Any, agent: Any, clerk: Any, manager: Any) -> Any:
    return return_and_refund(step, open_return(step, order), agent, clerk, manager)


def overdue_events() -> list[Any]:
    return list(Event.objects.filter(verb="case.result_notice_overdue"))


def test_an_undelivered_result_notice_is_escalated_once_after_24_hours(
    delivered_order: Any, customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any,
    time_machine: Any, mailoutbox: Any,
) -> None:  # fmt: skip
    prefer(customer, Channel.WECHAT, email="")  # no email to fall back on
    case = refunded_case(step, delivered_order, agent, warehouse_clerk, manager)
    result = CustomerNotice.objects.get(case=case, is_result=True)
    assert result.kind == "refunded"
    assert result.due_at == result.created_at + timedelta(hours=24)

    time_machine.shift(timedelta(hours=23, minutes=59))
    assert notices.sweep_result_notices()["escalated"] == 0
    time_machine.shift(timedelta(minutes=2))
    assert notices.sweep_result_notices()["escalated"] == 1
    [event] = overdue_events()
    assert (event.subject_id, event.customer_id) == (case.pk, customer.pk)
    assert event.data | {"due_at": None} == {
        "escalated": True, "notice": result.pk, "kind": "refunded", "channel": "wechat", "status": "pending",
        "attempts": 0, "last_error": "", "due_at": None,
    }  # fmt: skip
    assert notices.sweep_result_notices()["escalated"] == 0  # once only
    assert len(overdue_events()) == 1
    assert mailoutbox == []


def test_a_silent_outbox_result_falls_back_to_email_and_is_not_escalated(
    delivered_order: Any, customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any,
    time_machine: Any, mailoutbox: Any,
) -> None:  # fmt: skip
    prefer(customer, Channel.APP, "en")
    case = refunded_case(step, delivered_order, agent, warehouse_clerk, manager)
    time_machine.shift(timedelta(hours=11))
    assert notices.sweep_result_notices()["switched_to_email"] == 0
    time_machine.shift(timedelta(hours=2))
    assert notices.sweep_result_notices() == {"switched_to_email": 1, "sent": 1, "failed": 0, "escalated": 0}
    assert [m.subject for m in mailoutbox] == [f"Refund made for case {case.number}"]
    assert mailoutbox[0].to == [customer.email]
    time_machine.shift(timedelta(hours=24))
    assert notices.sweep_result_notices()["escalated"] == 0
    assert overdue_events() == []
    # Step notices that are not results stay with the app integration.
    assert CustomerNotice.objects.filter(channel="app", status=NoticeStatus.PENDING).count() == 4


def test_a_delivered_result_notice_is_never_escalated(
    delivered_order: Any, customer: Any, agent: Any, warehouse_clerk: Any, manager: Any, step: Any,
    time_machine: Any, mailoutbox: Any,
) -> None:  # fmt: skip
    prefer(customer, Channel.EMAIL)
    case = refunded_case(step, delivered_order, agent, warehouse_clerk, manager)
    step(services.close_case, case, by=agent)
    time_machine.shift(timedelta(days=2))
    assert notices.sweep_result_notices()["escalated"] == 0
    assert CustomerNotice.objects.filter(is_result=True, status=NoticeStatus.SENT).count() == 2


def test_an_expired_case_tells_the_customer(
    delivered_order: Any, customer: Any, agent: Any, step: Any, time_machine: Any, mailoutbox: Any
) -> None:
    prefer(customer, Channel.EMAIL, "en")
    case = step(services.approve_case, open_return(step, delivered_order), by=agent)
    time_machine.shift(timedelta(days=8))
    step(sweep.run)
    notice = CustomerNotice.objects.get(case=case, kind="expired")
    assert notice.is_result
    assert mailoutbox[-1].subject == f"After-sales case {case.number} closed"
    assert "not shipped in time" in mailoutbox[-1].body


def test_a_ship_first_exchange_tells_where_the_replacement_is_and_where_to_send_the_goods(
    delivered_order: Any, customer: Any, agent: Any, warehouse_clerk: Any, step: Any, mailoutbox: Any
) -> None:
    prefer(customer, Channel.EMAIL, "en", tier=Tier.VIP)
    sku = str(delivered_order.items.order_by("pk").first().sku)
    exchange.restock_sku(sku, by=warehouse_clerk, quantity=5, model="BT-100", spec="black")
    case = step(services.open_case, by=None, order=delivered_order, case_type=CaseType.EXCHANGE,
                reason=Reason.QUALITY, items=lines(delivered_order, 1))  # fmt: skip
    case = step(services.approve_case, case, by=agent)
    case = step(exchange.reserve_replacement, case, by=agent, mode=ExchangeMode.SHIP_FIRST)
    case = step(exchange.ship_replacement, case, by=warehouse_clerk, carrier="SF", tracking_number="SF778",
                return_address="上海市嘉定区仓库路1号", return_contact="换货组", return_phone="021-5555")  # fmt: skip
    approved, shipped = mailoutbox
    assert "We will tell you of each next step." in approved.body
    assert shipped.subject == f"Replacement shipped for case {case.number}"
    assert f"Your replacement for case {case.number} is on its way: SF, tracking number SF778." in shipped.body
    assert "上海市嘉定区仓库路1号, 换货组, 021-5555" in shipped.body
    assert CustomerNotice.objects.get(kind="replacement_shipped").is_result is False
