"""Evidence files: photos, videos and PDFs from the customer or staff, hashed when added, locked by a dispute."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from desk.cases import services
from desk.cases.errors import BadEvidence, EvidenceLocked
from desk.cases.models import CaseType, Reason
from desk.cases.services_disputes import add_evidence, open_dispute, resolve_dispute, withdraw_evidence
from desk.cases.tests.conftest import lines
from desk.core.errors import Forbidden
from desk.core.models import Event
from desk.evidence.models import ChainLink, EvidenceSource, LinkKind

PHOTO = b"\xff\xd8\xff\xe0 a photo of a cracked earbud case"


def photo(name: str = "破损.jpg", content: bytes = PHOTO, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture(autouse=True)
def _in_english() -> Iterator[None]:
    """Messages are checked in English; the shop's default language is zh-hans."""
    with translation.override("en"):
        yield


@pytest.fixture
def case(delivered_order: Any, agent: Any) -> Any:
    return services.open_case(
        by=agent, order=delivered_order, case_type=CaseType.RETURN_REFUND, reason=Reason.DAMAGED,
        items=lines(delivered_order, 1),
    )  # fmt: skip


def test_customer_and_staff_evidence_is_stored_under_media_root_with_its_hash(
    case: Any, warehouse_clerk: Any, settings: Any
) -> None:
    mine = add_evidence(case, photo(), description="收到时外盒破损")
    theirs = add_evidence(case, photo("inspection.pdf", b"%PDF-1.7 report", "application/pdf"), by=warehouse_clerk)
    assert (mine.source, mine.uploaded_by, mine.uploaded_by_label) == (
        EvidenceSource.CUSTOMER, None, f"customer:{case.customer_id}",
    )  # fmt: skip
    assert (theirs.source, theirs.uploaded_by, theirs.content_type) == (
        EvidenceSource.STAFF, warehouse_clerk, "application/pdf",
    )  # fmt: skip
    assert mine.sha256 == hashlib.sha256(PHOTO).hexdigest()
    stored = Path(mine.file.path)
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT) / "evidence")
    assert stored.read_bytes() == PHOTO
    assert (mine.size, mine.original_name) == (len(PHOTO), "破损.jpg")
    added = Event.objects.filter(verb="case.evidence_added").earliest("pk")
    assert added.data == {"evidence": mine.pk, "name": "破损.jpg", "sha256": mine.sha256, "after_lock": False}


def test_the_first_file_starts_the_chain_with_the_events_so_far(case: Any, agent: Any) -> None:
    evidence = add_evidence(case, photo(), by=agent)
    links = list(ChainLink.objects.filter(case=case).order_by("sequence"))
    opened = Event.objects.get(verb="case.opened")
    added = Event.objects.get(verb="case.evidence_added")
    assert [(k.sequence, k.kind, k.object_id) for k in links] == [
        (1, LinkKind.EVENT, opened.pk), (2, LinkKind.FILE, evidence.pk), (3, LinkKind.EVENT, added.pk),
    ]  # fmt: skip
    assert links[1].previous_hash == links[0].link_hash
    assert f'"sha256":"{evidence.sha256}"' in links[1].content


@pytest.mark.parametrize(
    ("upload", "words"),
    [
        (photo("setup.exe", b"MZ...", "application/x-msdownload"), "setup.exe is not a photo, video or PDF"),
        (photo("note.txt", b"hello", "text/plain"), "(got text/plain)"),
        (photo("empty.jpg", b""), "empty.jpg is empty or larger than"),
    ],
)
def test_wrong_type_or_empty_file_is_refused_with_a_clear_error(case: Any, upload: Any, words: str) -> None:
    with pytest.raises(BadEvidence) as caught:
        add_evidence(case, upload)
    assert (caught.value.code, caught.value.field) == ("case.bad_evidence", "file")
    assert words in caught.value.message
    assert not case.evidence.exists()
    assert not ChainLink.objects.exists()


def test_a_file_over_the_size_limit_is_refused(case: Any, settings: Any) -> None:
    settings.DESK_ATTACHMENT_MAX_BYTES = 2 * 1024 * 1024
    with pytest.raises(BadEvidence) as caught:
        add_evidence(case, photo("video.mp4", b"0" * (2 * 1024 * 1024 + 1), "video/mp4"))
    assert caught.value.message == "video.mp4 is empty or larger than 2 MB."
    mp4 = b"\x00\x00\x00\x20ftypisom" + b"0" * 1024
    assert add_evidence(case, photo("video.mp4", mp4, "video/mp4; codecs=avc1")).content_type == "video/mp4"
    with pytest.raises(BadEvidence) as disguised:
        add_evidence(case, photo("setup.jpg", b"MZ\x90\x00 a program", "image/jpeg"))
    assert "not really image/jpeg" in disguised.value.message


def test_staff_without_a_case_role_cannot_add_evidence(case: Any, analyst: Any) -> None:
    with pytest.raises(Forbidden):
        add_evidence(case, photo(), by=analyst)
    assert Event.objects.get(verb="permission.denied").data["action"] == "case.handle"
    assert not case.evidence.exists()


def test_evidence_can_be_withdrawn_until_a_dispute_locks_it(case: Any, agent: Any, senior_agent: Any) -> None:
    wrong = add_evidence(case, photo("wrong.jpg"))
    withdrawn = withdraw_evidence(wrong, by=agent, reason="客户传错了图片")
    assert withdrawn.withdrawn_reason == "客户传错了图片"
    assert withdrawn.file.storage.exists(withdrawn.file.name)  # kept: the chain still covers it
    kept = add_evidence(case, photo("right.jpg"))
    dispute = open_dispute(case, by=senior_agent, tier="minor", summary="客户不认可质检结论")
    with pytest.raises(EvidenceLocked) as caught:
        withdraw_evidence(kept, by=agent, reason="不需要了")
    assert caught.value.code == "case.evidence_locked"
    kept.refresh_from_db()
    assert kept.withdrawn_at is None
    later = add_evidence(case, photo("more.jpg"), by=agent)  # arbitrators ask for more: appended after the lock
    assert Event.objects.filter(verb="case.evidence_added").latest("pk").data["after_lock"] is True
    assert ChainLink.objects.filter(case=case, kind=LinkKind.FILE).count() == 3
    resolve_dispute(dispute, by=senior_agent, outcome="补偿 20 元，客户接受")
    with pytest.raises(EvidenceLocked):
        add_evidence(case, photo("too_late.jpg"))
    assert list(case.evidence.values_list("pk", flat=True)) == [wrong.pk, kept.pk, later.pk]
