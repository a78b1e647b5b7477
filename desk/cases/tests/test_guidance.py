"""Technical guidance: instructions recorded, resolved, or converted into a repair or a return."""

from __future__ import annotations

from typing import Any

import pytest

from desk.cases import services, services_repair
from desk.cases.errors import IllegalTransition
from desk.cases.models import AfterSalesCase, CaseState, CaseType, GuidanceNote, Reason, ServiceMode
from desk.cases.tests.conftest import lines
from desk.core.errors import Forbidden, ValidationFailed
from desk.core.models import Event


def open_guidance(order: Any, qty: tuple[int, ...] = ()) -> AfterSalesCase:
    return services.open_case(
        by=None,
        order=order,
        case_type=CaseType.GUIDANCE,
        reason=Reason.OTHER,
        items=lines(order, *qty) if qty else [],
        reason_text="蓝牙连不上手机",
    )


def verbs(case: Any) -> list[str]:
    events = Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk).order_by("id")
    return list(events.values_list("verb", flat=True))


def test_guidance_that_works_resolves_the_case(delivered_order: Any, agent: Any) -> None:
    case = open_guidance(delivered_order)
    assert (case.state, case.items.count(), case.refund_amount) == (CaseState.REQUESTED, 0, 0)
    services_repair.give_guidance(case, by=agent, text="长按电源键 10 秒重置配对", article="KB-101")
    services_repair.give_guidance(case, by=agent, text="在手机蓝牙设置里删除旧设备后重新搜索")
    case = services_repair.resolve_guidance(case, note="客户确认已连上")
    assert (case.state, case.close_reason) == (CaseState.RESOLVED, "resolved")
    assert list(GuidanceNote.objects.filter(case=case).values_list("article", flat=True)) == ["KB-101", ""]
    assert verbs(case) == ["case.opened", "case.give_guidance", "case.give_guidance", "case.resolve"]
    given = Event.objects.filter(verb="case.give_guidance", subject_id=case.pk).order_by("id").first()
    assert given is not None
    assert given.data["text"] == "长按电源键 10 秒重置配对"


def test_guidance_that_does_not_help_becomes_a_repair(delivered_order: Any, agent: Any) -> None:
    case = open_guidance(delivered_order)
    services_repair.give_guidance(case, by=agent, text="请更新固件到 2.1")
    repair = services_repair.convert_guidance(
        case,
        by=agent,
        to=CaseType.REPAIR,
        reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
        serial_number="SN-778899",
        service_mode=ServiceMode.MAIL_IN,
    )
    case.refresh_from_db()
    assert (case.state, case.close_reason) == (CaseState.CLOSED, "converted")
    assert (repair.case_type, repair.state, repair.repair.serial_number) == (
        CaseType.REPAIR,
        CaseState.REQUESTED,
        "SN-778899",
    )
    assert repair.reason_text == "蓝牙连不上手机"
    convert = Event.objects.get(verb="case.convert", subject_id=case.pk)
    assert convert.data["into"] == repair.number
    assert convert.before == {"state": CaseState.GUIDED}


def test_a_guidance_case_hands_its_items_to_the_return_it_becomes(delivered_order: Any, agent: Any) -> None:
    case = open_guidance(delivered_order, qty=(2,))
    with pytest.raises(ValidationFailed):  # while the guidance case is open, its units are taken
        services.open_case(
            by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.QUALITY,
            items=lines(delivered_order, 1),
        )  # fmt: skip
    ret = services_repair.convert_guidance(case, by=agent, to=CaseType.RETURN_REFUND, reason=Reason.QUALITY)
    assert [(ci.order_item_id, ci.quantity) for ci in ret.items.all()] == [
        (ci.order_item_id, ci.quantity) for ci in case.items.all()
    ]
    assert ret.refund_amount == 285  # both units of the first line: 300 less its share of the order discount


def test_a_failed_conversion_leaves_the_guidance_case_open(delivered_order: Any, agent: Any) -> None:
    case = open_guidance(delivered_order)
    services_repair.give_guidance(case, by=agent, text="请充电 2 小时")
    with pytest.raises(ValidationFailed) as no_serial:
        services_repair.convert_guidance(
            case, by=agent, to=CaseType.REPAIR, reason=Reason.QUALITY, items=lines(delivered_order, 1)
        )
    assert no_serial.value.code == "repair.no_serial"
    with pytest.raises(ValidationFailed) as bad:
        services_repair.convert_guidance(case, by=agent, to=CaseType.COMPENSATION, reason=Reason.QUALITY)
    assert bad.value.code == "guidance.bad_target"
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.GUIDED
    assert AfterSalesCase.objects.count() == 1


def test_guidance_steps_out_of_order_are_illegal(delivered_order: Any, agent: Any) -> None:
    case = open_guidance(delivered_order)
    with pytest.raises(IllegalTransition):
        services_repair.resolve_guidance(case)  # nothing was suggested yet
    with pytest.raises(ValidationFailed) as empty:
        services_repair.give_guidance(case, by=agent, text="  ")
    assert empty.value.code == "guidance.empty"
    services_repair.give_guidance(case, by=agent, text="重启设备")
    case = services_repair.resolve_guidance(case, by=agent)
    with pytest.raises(IllegalTransition):
        services_repair.give_guidance(case, by=agent, text="再试一次")
    with pytest.raises(IllegalTransition):
        services.withdraw_case(case)
    assert GuidanceNote.objects.count() == 1


def test_outsiders_to_the_case_desk_cannot_guide(delivered_order: Any, analyst: Any) -> None:
    case = open_guidance(delivered_order)
    with pytest.raises(Forbidden):
        services_repair.give_guidance(case, by=analyst, text="重启")
    assert not GuidanceNote.objects.exists()
