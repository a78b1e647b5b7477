"""The return flow's writes after the speed work: the evidence chain told under the case's lock, refund rows known."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from desk.cases import services, sweep
from desk.cases.models import (
    AfterSalesCase,
    CaseType,
    Grade,
    LedgerKind,
    Reason,
    Refund,
    RefundStatus,
    SimulatedPayout,
)
from desk.cases.services_disputes import add_evidence
from desk.cases.tests.conftest import lines
from desk.core.models import Event
from desk.evidence.chain import verify_case
from desk.evidence.models import ChainLink, LinkKind


@pytest.fixture
def case(delivered_order: Any) -> Any:
    return services.open_case(
        by=None, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=lines(delivered_order, 1),
    )  # fmt: skip


def to_refund(case: Any, agent: Any, warehouse_clerk: Any, manager: Any) -> Refund:
    return services.start_refund(inspected(case, agent, warehouse_clerk), by=manager)


def inspected(case: Any, agent: Any, warehouse_clerk: Any) -> AfterSalesCase:
    case = services.approve_case(case, by=agent)
    case = services.send_return_instructions(case, by=agent, address="上海市仓库", contact="退货组", phone="021-5555")
    case = services.record_return_shipment(case, carrier="SF", tracking_number="SFR1")
    case = services.receive_return(case, by=warehouse_clerk)
    return services.inspect_return(
        case, by=warehouse_clerk, grade=Grade.A, complete=True, original=True, defect=False, human_damage=False
    )


def chain_reads(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith('SELECT DISTINCT "evidence_chainlink"')]


def test_a_case_without_a_chain_gets_no_links_and_no_chain_query(
    case: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    with CaptureQueriesContext(connection) as captured:
        refund = to_refund(case, agent, warehouse_clerk, manager)
    assert refund.status == RefundStatus.CONFIRMED
    assert chain_reads(captured) == []
    assert not ChainLink.objects.filter(case_id=case.pk).exists()


def test_a_chained_case_links_every_later_step_and_verifies(
    case: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    photo = SimpleUploadedFile("开箱.jpg", b"\xff\xd8\xff photo", content_type="image/jpeg")
    add_evidence(case, photo, by=agent)
    to_refund(AfterSalesCase.objects.get(pk=case.pk), agent, warehouse_clerk, manager)
    linked = ChainLink.objects.filter(case_id=case.pk, kind=LinkKind.EVENT).order_by("sequence")
    verbs = [Event.objects.get(pk=link.object_id).verb for link in linked]
    assert verbs == [
        "case.opened", "case.evidence_added", "case.approve", "case.send_instructions", "case.ship_return",
        "case.receive", "case.inspect", "case.start_refund", "case.confirm_refund",
    ]  # fmt: skip
    assert verify_case(case.pk).ok


def test_the_returned_refund_matches_its_row_and_its_ledger(
    case: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    refund = to_refund(case, agent, warehouse_clerk, manager)
    stored = Refund.objects.get(pk=refund.pk)
    fields = ("status", "attempts", "sent_at", "confirmed_at", "provider_reference", "amount", "refund_number")
    assert [getattr(refund, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert (refund.attempts, refund.provider_reference[:3]) == (1, "SIM")
    ledger = list(stored.entries.order_by("pk").values_list("kind", "amount", "note"))
    assert [kind for kind, _amount, _note in ledger] == [
        LedgerKind.REQUESTED, LedgerKind.APPROVED, LedgerKind.SENT, LedgerKind.CONFIRMED,
    ]  # fmt: skip
    assert {amount for _kind, amount, _note in ledger} == {refund.amount}
    assert ledger[-1][2] == refund.provider_reference


def case_updates(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith('UPDATE "cases_aftersalescase"')]


def names(update: str) -> list[str]:
    """The quoted column names an UPDATE sets."""
    return [part.split(" = ")[0].strip() for part in update.split(" SET ", 1)[1].split(" WHERE ")[0].split(", ")]


def test_a_step_writes_only_the_case_columns_it_changed(case: Any, agent: Any) -> None:
    with CaptureQueriesContext(connection) as captured:
        approved = services.approve_case(case, by=agent)
    (update,) = case_updates(captured)
    assert {'"state"', '"approved_by_id"', '"approved_at"', '"ship_due_at"'} <= set(names(update))
    assert not {'"reason_text"', '"decision"', '"refund_amount"'} & set(names(update))
    stored = AfterSalesCase.objects.get(pk=case.pk)
    fields = ("state", "approved_by_id", "approved_at", "answer_due_at", "ship_due_at", "updated_at", "decision")
    assert [getattr(stored, f) for f in fields] == [getattr(approved, f) for f in fields]


def test_a_json_column_changed_in_place_under_the_lock_is_saved(case: Any) -> None:
    with transaction.atomic():
        locked = services._lock(case)
        locked.decision["note"] = "改判"  # the same dict, changed in place
        locked.inspection = {"passed": True}
        services._save(locked)
    stored = AfterSalesCase.objects.get(pk=case.pk)
    assert (stored.decision["note"], stored.inspection) == ("改判", {"passed": True})
    assert stored.decision["outcome"] == case.decision["outcome"]


def test_a_case_not_read_by_the_lock_is_saved_whole(case: Any) -> None:
    case.reason_text = "外包装破损"
    with CaptureQueriesContext(connection) as captured:
        services._save(case)
    (update,) = case_updates(captured)
    assert {'"reason_text"', '"decision"', '"refund_amount"'} <= set(names(update))
    assert AfterSalesCase.objects.get(pk=case.pk).reason_text == "外包装破损"


def transactions(captured: CaptureQueriesContext) -> int:
    """Outermost `atomic` blocks run: inside the test's own transaction each one is a savepoint."""
    return sum(1 for q in captured.captured_queries if q["sql"].startswith("SAVEPOINT"))


def test_a_refund_is_written_claimed_and_paid_in_three_transactions(
    case: Any, agent: Any, warehouse_clerk: Any, manager: Any
) -> None:
    ready = inspected(case, agent, warehouse_clerk)
    with CaptureQueriesContext(connection) as captured:
        refund = services.start_refund(ready, by=manager)
    assert refund.status == RefundStatus.CONFIRMED
    assert transactions(captured) == 3  # the refund written as sent, the provider's books, the confirmation
    assert not [q for q in captured.captured_queries if q["sql"].startswith('UPDATE "cases_refund" SET "status"')][1:]


def test_a_crash_before_the_provider_is_called_leaves_a_sent_refund_the_sweep_finishes(
    case: Any, agent: Any, warehouse_clerk: Any, manager: Any, monkeypatch: Any, time_machine: Any
) -> None:
    ready = inspected(case, agent, warehouse_clerk)

    def worker_killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("worker killed after the refund was committed")

    with monkeypatch.context() as patched:
        patched.setattr(services, "_pay", worker_killed)
        with pytest.raises(SystemExit):
            services.start_refund(ready, by=manager)
    refund = Refund.objects.get(case=case)
    assert (refund.status, refund.attempts, refund.sent_at is not None) == (RefundStatus.SENT, 1, True)
    assert list(refund.entries.order_by("pk").values_list("kind", flat=True)) == [
        LedgerKind.REQUESTED, LedgerKind.APPROVED, LedgerKind.SENT,
    ]  # fmt: skip
    time_machine.shift(timedelta(minutes=11))
    assert sweep.run()["refunds_retried"] == 1  # a stale sent refund goes again with its number
    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == (RefundStatus.CONFIRMED, 2)
    assert SimulatedPayout.objects.filter(refund_number=refund.refund_number).count() == 1


def test_a_refund_left_approved_by_an_older_release_is_sent_by_a_retry(
    case: Any, agent: Any, warehouse_clerk: Any, manager: Any, monkeypatch: Any
) -> None:
    ready = inspected(case, agent, warehouse_clerk)
    with monkeypatch.context() as patched:
        patched.setattr(services, "_pay", lambda refund, by: refund)  # written, never sent
        refund = services.start_refund(ready, by=manager)
    # Before refunds were written claimed, a crash between the two commits left one approved.
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.APPROVED, sent_at=None, attempts=0)
    retried = services.retry_refund(Refund.objects.get(pk=refund.pk), by=manager)
    assert (retried.status, retried.attempts) == (RefundStatus.CONFIRMED, 1)
    assert AfterSalesCase.objects.get(pk=case.pk).state == "refunded"
    assert SimulatedPayout.objects.filter(refund_number=refund.refund_number).count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks the whole database, not rows")
def test_a_step_locks_its_case_but_not_the_policy_version_other_cases_share(case: Any) -> None:
    import psycopg

    version_id = case.policy_version_id  # the default policy, committed by its migration
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        with transaction.atomic():
            locked = services._lock(case)  # with its policy version
            assert locked.policy_version.pk == version_id
            other.execute("SET lock_timeout = '2s'")
            row = other.execute("SELECT id FROM cases_policyversion WHERE id = %s FOR UPDATE NOWAIT", [version_id])
            assert row.fetchone() == (version_id,)  # not held by this case's lock
    finally:
        other.close()
