"""Disputes (纠纷) by tier and role, and the tamper-evident hash chain (存证) with `manage.py verify_evidence`."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone, translation

from desk.accounts.models import Role
from desk.cases import services
from desk.cases.errors import DisputeConflict, IllegalTransition
from desk.cases.models import CaseType, Reason
from desk.cases.services_disputes import (
    add_evidence,
    escalate_dispute,
    mediate_dispute,
    open_dispute,
    record_arbitration,
    resolve_dispute,
)
from desk.cases.tests.conftest import deliver, lines
from desk.core.errors import Forbidden
from desk.core.events import record_event_rows, record_events
from desk.core.models import Event
from desk.core.testing import make_order, make_staff
from desk.evidence.chain import verify_case
from desk.evidence.models import AppendOnly, ChainLink, DisputeStatus, DisputeTier, LinkKind


@pytest.fixture(autouse=True)
def _in_english() -> Iterator[None]:
    """Messages are checked in English; the shop's default language is zh-hans."""
    with translation.override("en"):
        yield


@pytest.fixture
def legal(db: Any) -> Any:
    return make_staff("legal", Role.LEGAL)


@pytest.fixture
def case(delivered_order: Any, agent: Any) -> Any:
    return services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.QUALITY,
        items=lines(delivered_order, 1),
    )  # fmt: skip


def photo(name: str = "开箱.jpg", content: bytes = b"\xff\xd8\xff photo") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/jpeg")


def verify(*args: str) -> tuple[str, bool]:
    """Run the command as an operator would: its output, and whether it exited cleanly."""
    out = StringIO()
    returncode = 0
    try:
        call_command("verify_evidence", *args, stdout=out)
    except CommandError as failed:
        returncode = failed.returncode
    assert returncode in (0, 1)
    return out.getvalue(), returncode == 0


# --- Tiers and roles -------------------------------------------------------------------------------
def test_an_agent_cannot_open_a_dispute_minor_or_major(case: Any, agent: Any) -> None:
    for tier in (DisputeTier.MINOR, DisputeTier.MAJOR):
        with pytest.raises(Forbidden):
            open_dispute(case, by=agent, tier=tier, summary="客户投诉到平台")
    assert [e.data["action"] for e in Event.objects.filter(verb="permission.denied").order_by("pk")] == [
        "case.dispute", "case.legal",
    ]  # fmt: skip
    assert not case.disputes.exists()
    assert not ChainLink.objects.exists()


def test_a_senior_agent_mediates_a_minor_dispute_but_cannot_open_a_major_one(case: Any, senior_agent: Any) -> None:
    with pytest.raises(Forbidden):
        open_dispute(case, by=senior_agent, tier=DisputeTier.MAJOR, summary="要求三倍赔偿")
    dispute = open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="客户不认可质检结论")
    assert (dispute.status, dispute.opened_by) == (DisputeStatus.OPEN, senior_agent)
    dispute = mediate_dispute(dispute, by=senior_agent, note="已电话安抚，约定远程调解")
    assert (dispute.status, dispute.mediator) == (DisputeStatus.MEDIATING, senior_agent)
    dispute = resolve_dispute(dispute, by=senior_agent, outcome="补偿 20 元优惠券，客户接受")
    assert (dispute.status, dispute.resolved_by) == (DisputeStatus.RESOLVED, senior_agent)
    verbs = list(Event.objects.filter(verb__startswith="case.dispute").order_by("pk").values_list("verb", flat=True))
    assert verbs == ["case.dispute_opened", "case.dispute_mediating", "case.dispute_resolved"]
    resolved = Event.objects.get(verb="case.dispute_resolved")
    assert (resolved.before, resolved.after) == ({"dispute_status": "mediating"}, {"dispute_status": "resolved"})


def test_legal_records_arbitration_and_resolves_a_major_dispute(case: Any, legal: Any, supervisor: Any) -> None:
    dispute = open_dispute(case, by=legal, tier=DisputeTier.MAJOR, summary="客户向消费者协会投诉")
    dispute = record_arbitration(dispute, by=legal, body="上海市消费者权益保护委员会", reference="SH-2026-1188")
    assert (dispute.status, dispute.arbitration_outcome) == (DisputeStatus.ARBITRATION, "")
    dispute = record_arbitration(
        dispute, by=legal, body="上海市消费者权益保护委员会", reference="SH-2026-1188", outcome="支持退货退款"
    )
    assert dispute.arbitration_recorded_at is not None
    with pytest.raises(Forbidden):  # major disputes belong to legal
        resolve_dispute(dispute, by=supervisor, outcome="按裁决退款")
    dispute = resolve_dispute(dispute, by=legal, outcome="按裁决退货退款")
    assert (dispute.status, dispute.outcome, dispute.resolved_by) == (DisputeStatus.RESOLVED, "按裁决退货退款", legal)
    with pytest.raises(IllegalTransition) as caught:
        resolve_dispute(dispute, by=legal, outcome="again")
    assert caught.value.code == "case.dispute_illegal_transition"


def test_a_minor_dispute_handed_to_legal_is_out_of_the_seniors_hands(case: Any, senior_agent: Any, legal: Any) -> None:
    dispute = open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="调解不成")
    dispute = escalate_dispute(dispute, by=senior_agent, reason="客户要求法律途径")
    assert (dispute.tier, dispute.status) == (DisputeTier.MAJOR, DisputeStatus.OPEN)
    assert dispute.escalated_at is not None
    with pytest.raises(DisputeConflict):
        escalate_dispute(dispute, by=senior_agent, reason="again")
    with pytest.raises(Forbidden):
        resolve_dispute(dispute, by=senior_agent, outcome="和解")
    assert resolve_dispute(dispute, by=legal, outcome="和解").status == DisputeStatus.RESOLVED


def test_one_live_dispute_per_case(case: Any, senior_agent: Any) -> None:
    dispute = open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="第一次")
    with pytest.raises(DisputeConflict):
        open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="第二次")
    resolve_dispute(dispute, by=senior_agent, outcome="已解决")
    assert open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="又投诉了").pk != dispute.pk


# --- The chain ---------------------------------------------------------------------------------------
def test_cases_without_evidence_or_dispute_are_not_chained(case: Any, manager: Any) -> None:
    services.approve_case(case, by=manager)
    assert not ChainLink.objects.exists()
    assert verify() == ("No evidence chains yet.\n", True)


def test_events_before_the_dispute_are_linked_then_and_every_later_one_when_written(
    case: Any, manager: Any, senior_agent: Any
) -> None:
    services.approve_case(case, by=manager)
    dispute = open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="质量纠纷")
    services.send_return_instructions(case, by=manager, address="上海仓", contact="李四", phone="021-5555")
    mediate_dispute(dispute, by=senior_agent)
    linked = list(ChainLink.objects.filter(case=case).order_by("sequence").values_list("object_id", flat=True))
    events = list(Event.objects.filter(subject_id=case.pk, verb__startswith="case.").order_by("pk"))
    assert [e.verb for e in events] == [
        "case.opened", "case.approve", "case.dispute_opened", "case.send_instructions", "case.dispute_mediating",
    ]  # fmt: skip
    assert linked == [e.pk for e in events]
    # A sweep's bulk insert of events is linked too.
    [bulk] = record_events([Event(created_at=timezone.now(), verb="case.answer_overdue", subject_type="aftersalescase",
                                  subject_id=case.pk, actor_label="system", data={"escalated": True})])  # fmt: skip
    assert ChainLink.objects.filter(case=case).latest("sequence").object_id == bulk.pk
    assert verify_case(case.pk).ok


def test_a_sweeps_rows_for_many_cases_are_linked_only_where_a_chain_runs(
    case: Any, delivered_order: Any, agent: Any, senior_agent: Any
) -> None:
    def another() -> Any:
        order = deliver(make_order(delivered_order.customer, items=1))
        return services.open_case(
            by=agent, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.QUALITY, items=lines(order, 1)
        )

    other, plain = another(), another()
    open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="质量纠纷")
    open_dispute(other, by=senior_agent, tier=DisputeTier.MINOR, summary="未收到退款")
    heads = {c.pk: ChainLink.objects.filter(case=c).count() for c in (case, other)}
    now, data = timezone.now(), {"escalated": True, "auto_action_refused": None}
    rows = [
        (now, None, "system", verb, "aftersalescase", c.pk, c.customer_id, None, {}, {}, data)
        for c, verb in [(other, "case.answer_overdue"), (plain, "case.answer_overdue"), (case, "case.answer_overdue"),
                        (case, "case.notice"), (other, "ticket.noted")]
    ]  # fmt: skip
    written = record_event_rows(rows)
    linked = {
        c.pk: list(ChainLink.objects.filter(case=c, sequence__gt=heads[c.pk]).order_by("sequence"))
        for c in (case, other)
    }
    assert [k.object_id for k in linked[case.pk]] == [written[2].pk, written[3].pk]
    assert [k.object_id for k in linked[other.pk]] == [written[0].pk]  # a non-case verb is not linked
    assert not ChainLink.objects.filter(case=plain).exists()  # no chain: the sweep starts none
    assert verify_case(case.pk).ok
    assert verify_case(other.pk).ok


def test_the_chain_verifies_clean_then_shows_a_changed_event_row(case: Any, senior_agent: Any) -> None:
    open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="客户说从未收到")
    out, ok = verify()
    assert ok
    assert out.startswith(f"{case.number}: OK, 2 links, head ")
    opened = Event.objects.get(verb="case.dispute_opened")
    Event.objects.filter(pk=opened.pk).update(data={**opened.data, "summary": "客户已收到"})
    out, ok = verify("--case", case.number)
    assert not ok
    assert f"{case.number}: BROKEN, 2 links" in out
    assert f"link 2 (event {opened.pk}): event {opened.pk} (case.dispute_opened) was changed" in out
    assert 'data.summary: "客户说从未收到" → "客户已收到"' in out


def test_a_changed_file_on_disk_is_shown(case: Any, agent: Any) -> None:
    evidence = add_evidence(case, photo(), by=agent)
    assert verify()[1]
    Path(evidence.file.path).write_bytes(b"\xff\xd8\xff another photo")
    out, ok = verify(f"--case={case.pk}")
    assert not ok
    assert f"link 2 (file {evidence.pk}): evidence file 开箱.jpg changed on disk (SHA-256 " in out
    assert f"linked {evidence.sha256[:16]}…" in out


def test_a_changed_file_record_and_a_removed_file_are_shown(case: Any, agent: Any) -> None:
    evidence = add_evidence(case, photo(), by=agent)
    type(evidence).objects.filter(pk=evidence.pk).update(original_name="其他.jpg")
    Path(evidence.file.path).unlink()
    report = verify_case(case.pk)
    assert [b.problem for b in report.breaks] == [
        f"the record of evidence file {evidence.pk} was changed",
        "evidence file 其他.jpg is missing from storage",
    ]
    assert report.breaks[0].changes == ['name: "开箱.jpg" → "其他.jpg"']


def test_a_deleted_link_is_shown(case: Any, agent: Any, senior_agent: Any) -> None:
    add_evidence(case, photo(), by=agent)
    open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="纠纷")
    assert ChainLink.objects.filter(case=case).count() == 4
    ChainLink.objects.filter(case=case, sequence=2).delete()
    out, ok = verify()
    assert not ok
    assert "link 3 (event" in out
    assert "links 2 to 2 are missing (deleted)" in out


def test_deleting_the_last_link_leaves_its_event_outside_the_chain(case: Any, senior_agent: Any) -> None:
    open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="纠纷")
    last = ChainLink.objects.filter(case=case).latest("sequence")
    ChainLink.objects.filter(pk=last.pk).delete()
    out, ok = verify()
    assert not ok
    assert f"chain: event {last.object_id} (case.dispute_opened) is not in the chain" in out


def test_an_edited_link_row_breaks_it_and_the_next(case: Any, senior_agent: Any) -> None:
    open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="纠纷")
    mediate_dispute(case.disputes.get(), by=senior_agent)
    first = ChainLink.objects.get(case=case, sequence=1)
    ChainLink.objects.filter(pk=first.pk).update(content=first.content.replace("quality", "no_reason"))
    problems = [(b.sequence, b.problem) for b in verify_case(case.pk).breaks]
    opened = first.object_id
    assert problems == [
        (1, "the content stored in the link was altered"),
        (1, f"event {opened} (case.opened) was changed"),
    ]
    ChainLink.objects.filter(pk=first.pk).update(link_hash="0" * 64)
    problems = [(b.sequence, b.problem) for b in verify_case(case.pk).breaks]
    assert (1, "the link row was altered (its hash does not match its fields)") in problems
    assert (2, "its previous hash does not match the link before it (that link was replaced)") in problems


def test_links_are_append_only_through_the_orm(case: Any, senior_agent: Any) -> None:
    open_dispute(case, by=senior_agent, tier=DisputeTier.MINOR, summary="纠纷")
    link = ChainLink.objects.filter(case=case).first()
    link.content = "{}"
    with pytest.raises(AppendOnly):
        link.save()
    with pytest.raises(AppendOnly):
        link.delete()
    assert ChainLink.objects.filter(case=case, kind=LinkKind.EVENT).count() == 2


def test_verify_refuses_a_malformed_case_number(db: Any) -> None:
    with pytest.raises(CommandError, match="Not a case number: XYZ"):
        call_command("verify_evidence", "--case", "XYZ", stdout=StringIO())
