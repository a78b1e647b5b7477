"""The set-based notice writer: a sweep's many notices, each with its own customer's values and address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import translation

from desk.cases import notices, services, sweep
from desk.cases.models import AfterSalesCase, CaseType, CustomerNotice, NoticeStatus, Reason
from desk.cases.tests.conftest import at, deliver, lines
from desk.core.testing import make_customer, make_order
from desk.customers.models import Channel, CustomerIdentity


def approved_return(customer: Any, agent: Any) -> AfterSalesCase:
    order = deliver(make_order(customer, items=1))
    case = services.open_case(
        by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON, items=lines(order, 1)
    )
    return services.approve_case(case, by=agent)


def test_expiry_notices_written_together_each_carry_their_own_customer_language_and_address(
    agent: Any, time_machine: Any
) -> None:
    time_machine.move_to(at(12), tick=False)
    # A name that looks like a placeholder must come out as written, not filled in again.
    english = make_customer("%(number)s Smith", language="en", preferred_channel=Channel.EMAIL)
    chinese = make_customer("李雷", language="zh-hans", preferred_channel=Channel.PHONE)
    wechat = make_customer("韩梅梅", language="fr", preferred_channel=Channel.WECHAT)  # unknown language: default
    first = CustomerIdentity.objects.create(customer=wechat, channel=Channel.WECHAT, value="wx-first")
    CustomerIdentity.objects.create(customer=wechat, channel=Channel.WECHAT, value="wx-second")
    web = make_customer("无地址", preferred_channel=Channel.WEB)  # no web identity: blank recipient
    customers = [english, chinese, wechat, web]
    cases = [approved_return(c, agent) for c in customers for _ in range(2)]
    time_machine.shift(timedelta(days=7))

    assert sweep.run()["expired"] == len(cases)

    written = {n.case_id: n for n in CustomerNotice.objects.filter(kind="expired")}
    assert set(written) == {c.pk for c in cases}
    expected = {
        english.pk: (Channel.EMAIL, english.email, "en"),
        chinese.pk: (Channel.PHONE, chinese.phone, "zh-hans"),
        wechat.pk: (Channel.WECHAT, first.value, "zh-hans"),
        web.pk: (Channel.WEB, "", "zh-hans"),
    }
    for case in cases:
        notice = written[case.pk]
        case = AfterSalesCase.objects.select_related("customer", "order").get(pk=case.pk)
        assert (notice.channel, notice.recipient, notice.language) == expected[case.customer_id]
        assert notice.is_result
        assert notice.due_at == notice.created_at + notices.RESULT_NOTICE_WITHIN
        # Email is sent by the desk (the sweep's own notice pass here); the others wait in their outbox.
        assert notice.status == (NoticeStatus.SENT if notice.channel == Channel.EMAIL else NoticeStatus.PENDING)
        with translation.override(notice.language):  # the one-case renderer gives the same text
            assert (notice.subject, notice.body) == notices.render("expired", case, {"reason": "expired"})
        assert case.number in notice.subject
        assert case.order.number in notice.body
        assert case.customer.name in notice.body
    assert "%(number)s Smith" in written[cases[0].pk].body
    assert "was closed" in written[cases[0].pk].body
    assert "已关闭" in written[cases[2].pk].subject
