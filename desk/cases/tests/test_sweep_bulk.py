"""The set-based sweep: batches claimed once, escalations notified, the inspection timeout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from desk.accounts.models import Notification
from desk.cases import services, sweep
from desk.cases.models import AfterSalesCase, CaseState, CaseType, Grade, PolicyVersion, Reason
from desk.cases.tests.conftest import at, deliver, lines
from desk.core.events import EVENT_FIELDS
from desk.core.models import Event
from desk.core.testing import make_order
from desk.orders.models import Order


def return_request(customer: Any) -> AfterSalesCase:
    order = deliver(make_order(customer, items=1))
    return services.open_case(
        by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON, items=lines(order, 1)
    )


def requests(customer: Any, time_machine: Any, count: int) -> list[AfterSalesCase]:
    time_machine.move_to(at(12), tick=False)
    return [return_request(customer) for _ in range(count)]


def verbs(verb: str) -> list[int]:
    return list(Event.objects.filter(verb=verb).order_by("subject_id").values_list("subject_id", flat=True))


def sent_back(case: AfterSalesCase, agent: Any) -> AfterSalesCase:
    case = services.approve_case(case, by=agent)
    case = services.send_return_instructions(case, by=agent, address="仓库", contact="退货组", phone="021-5555")
    return services.record_return_shipment(case, carrier="SF", tracking_number=f"SF{case.pk}")


def test_unanswered_requests_are_escalated_in_bulk_once_with_a_notification_each(
    customer: Any, supervisor: Any, agent: Any, time_machine: Any
) -> None:
    cases = requests(customer, time_machine, 5)
    time_machine.shift(timedelta(days=5))
    result = sweep.run()
    assert result["escalated"] == 5
    assert verbs("case.answer_overdue") == [c.pk for c in cases]
    assert AfterSalesCase.objects.filter(answer_due_at=None, state=CaseState.REQUESTED).count() == 5
    notes = Notification.objects.filter(verb="case.answer_overdue").order_by("id")
    assert [n.user_id for n in notes] == [supervisor.pk] * 5  # supervisors only, not agents
    assert [n.link for n in notes] == [f"/cases/{c.number}/" for c in cases]
    assert cases[0].number in notes[0].text
    events = dict(Event.objects.filter(verb="case.answer_overdue").values_list("subject_id", "pk"))
    assert [n.event_id for n in notes] == [events[c.pk] for c in cases]
    again = sweep.run()
    assert again["escalated"] == 0  # claimed: nothing fires twice
    assert Notification.objects.count() == 5


def test_a_big_batch_costs_the_same_statements_as_a_small_one(
    customer: Any, supervisor: Any, time_machine: Any
) -> None:
    requests(customer, time_machine, 3)
    time_machine.shift(timedelta(days=5))
    with CaptureQueriesContext(connection) as small:
        assert sweep.run()["escalated"] == 3
    requests(customer, time_machine, 12)
    time_machine.shift(timedelta(days=5))
    with CaptureQueriesContext(connection) as big:
        assert sweep.run()["escalated"] == 12
    assert len(big) <= len(small)  # set-based: no statement per case (12 cases, not 9 more statements)


def test_many_escalations_at_once_give_each_supervisor_one_summary(
    customer: Any, supervisor: Any, time_machine: Any
) -> None:
    requests(customer, time_machine, sweep.DIGEST_AFTER + 1)
    time_machine.shift(timedelta(days=5))
    assert sweep.run()["escalated"] == sweep.DIGEST_AFTER + 1
    note = Notification.objects.get(verb="case.answer_overdue")
    assert (note.user_id, note.link) == (supervisor.pk, "/cases/")
    assert str(sweep.DIGEST_AFTER + 1) in note.text
    assert Event.objects.filter(verb="case.answer_overdue").count() == sweep.DIGEST_AFTER + 1


def test_a_claimed_or_answered_case_is_not_claimed_again(customer: Any, agent: Any, time_machine: Any) -> None:
    first, second = requests(customer, time_machine, 2)
    time_machine.shift(timedelta(days=5))
    services.approve_case(second, by=agent)  # answered just in time: no longer due
    now = timezone.now()
    ids = [first.pk, second.pk]
    claimed = sweep._claim(ids, [CaseState.REQUESTED], "answer_due_at", now)
    assert [row[0] for row in claimed] == [first.pk]
    assert sweep._claim(ids, [CaseState.REQUESTED], "answer_due_at", now) == []  # another worker finds nothing


def test_a_received_return_not_inspected_in_48_hours_is_escalated_once(
    customer: Any, agent: Any, warehouse_clerk: Any, supervisor: Any, time_machine: Any
) -> None:
    (case,) = requests(customer, time_machine, 1)
    case = services.receive_return(sent_back(case, agent), by=warehouse_clerk)
    assert case.inspect_due_at == case.received_at + timedelta(hours=48)
    time_machine.shift(timedelta(hours=47, minutes=59))
    assert sweep.run()["inspections_overdue"] == 0
    time_machine.shift(timedelta(minutes=1))
    assert sweep.run()["inspections_overdue"] == 1
    event = Event.objects.get(verb="case.inspection_overdue")
    assert (event.subject_id, event.data["escalated"]) == (case.pk, True)
    note = Notification.objects.get(verb="case.inspection_overdue")
    assert (note.user_id, note.event_id) == (supervisor.pk, event.pk)
    assert AfterSalesCase.objects.get(pk=case.pk).state == CaseState.RECEIVED  # a person decides
    assert sweep.run()["inspections_overdue"] == 0


def test_an_inspection_in_time_stops_the_clock_and_the_policy_sets_the_hours(
    customer: Any, agent: Any, warehouse_clerk: Any, time_machine: Any
) -> None:
    PolicyVersion.objects.update(inspect_within_hours=12)
    first, second = requests(customer, time_machine, 2)
    first = services.receive_return(sent_back(first, agent), by=warehouse_clerk)
    second = services.receive_return(sent_back(second, agent), by=warehouse_clerk)
    inspected = services.inspect_return(
        first, by=warehouse_clerk, grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
    )
    assert inspected.inspect_due_at is None
    time_machine.shift(timedelta(hours=12))
    assert sweep.run()["inspections_overdue"] == 1
    assert verbs("case.inspection_overdue") == [second.pk]


def test_unshipped_returns_close_in_bulk_with_notices_and_free_their_units(
    customer: Any, agent: Any, time_machine: Any
) -> None:
    cases = requests(customer, time_machine, 3)
    for case in cases:
        services.approve_case(case, by=agent)
    time_machine.shift(timedelta(days=7))
    assert sweep.run()["expired"] == 3
    for case in cases:
        closed = AfterSalesCase.objects.get(pk=case.pk)
        assert (closed.state, closed.close_reason, closed.ship_due_at) == (CaseState.CLOSED, "expired", None)
        assert closed.closed_at is not None
        history = Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk).order_by("id")
        assert list(history.values_list("verb", flat=True))[-2:] == ["case.expire", "case.notice"]
        expire = history.get(verb="case.expire")
        assert (expire.before, expire.after) == ({"state": "approved"}, {"state": "closed"})
        notice = history.get(verb="case.notice")
        assert case.number in notice.data["message"]
        assert notice.data["channel"] == customer.preferred_channel
        order = Order.objects.get(pk=case.order_id)
        assert order.auto_confirm_paused_at is None  # the clock runs again
        again = services.open_case(
            by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON, items=lines(order, 1)
        )
        assert again.pk  # the units are free again
    assert sweep.run()["expired"] == 0


def test_the_sweeps_event_rows_carry_every_field_an_event_has(db: Any) -> None:
    now = timezone.now()
    row = sweep._case_row("case.answer_overdue", (7, 8, None), now, {}, {}, {"escalated": True})
    plain = Event(
        created_at=now,
        actor_label="system",
        verb="case.answer_overdue",
        subject_type="aftersalescase",
        subject_id=7,
        customer_id=8,
        data={"escalated": True},
    )
    fields = [f.attname for f in Event._meta.concrete_fields if not f.primary_key]
    assert list(EVENT_FIELDS) == fields  # a new Event field must be in the rows too
    assert dict(zip(EVENT_FIELDS, row, strict=True)) == {name: getattr(plain, name) for name in fields}
