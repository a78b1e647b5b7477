"""The per-case hash chain (存证): linking events and files, and verifying that nothing changed since.

A case's chain starts when its first evidence file is added or a dispute is opened (`start_chain`):
the case's earlier `case.*` events are linked then, in order, and from that moment every new
`case.*` event of the case is linked in the event's own transaction (`link_case_events`, an
event-log writer), and every new evidence file when it is added (`link_file`).

Each link stores the canonical JSON of what it covers (sorted keys, no spaces, Decimal and
datetimes as strings, datetimes in UTC), its SHA-256, the previous link's hash and its own hash
over all of these. `verify_case` recomputes everything from the event rows and the files on disk.

Why not every case from its first event: most cases never carry evidence, and the case sweep writes
events for thousands of cases in one statement; linking them all would put a locked read and an
insert behind every case event. A case's events before its chain starts are hashed when the chain
starts, not when they were written.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.cases.models import AfterSalesCase
from desk.core.bulk import insert_rows
from desk.core.events import EventFacts
from desk.core.models import Event
from desk.evidence.models import ChainLink, Dispute, EvidenceFile, LinkKind

GENESIS = "0" * 64  # the "previous hash" of a chain's first link
CASE_SUBJECT = "aftersalescase"  # Event.subject_type of a case (its model name)
CASE_VERBS = "case."
_IN_BATCH = 500  # ids per IN (...) when many events come at once
_known = threading.local()  # case id → has a chain, told by a caller holding the case's lock (`known`)


# --- Canonical content and hashes ------------------------------------------------------------------
def canonical(value: Any) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 kept, Decimal and datetimes as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} has no canonical form")


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_content(event: Event) -> dict[str, Any]:
    """What an event link covers. The actor is its label: the user row may be deleted later (SET_NULL)."""
    return {
        "id": event.pk,
        "created_at": _utc(event.created_at),
        "actor": event.actor_label,
        "verb": event.verb,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "customer_id": event.customer_id,
        "ticket_id": event.ticket_id,
        "before": event.before,
        "after": event.after,
        "data": event.data,
    }


def file_content(evidence: EvidenceFile) -> dict[str, Any]:
    """What a file link covers: its metadata and the SHA-256 of its bytes (withdrawal is an event, not here)."""
    return {
        "id": evidence.pk,
        "case": evidence.case_id,
        "name": evidence.original_name,
        "content_type": evidence.content_type,
        "size": evidence.size,
        "sha256": evidence.sha256,
        "source": evidence.source,
        "uploaded_by": evidence.uploaded_by_label,
        "created_at": _utc(evidence.created_at),
    }


def file_sha256(evidence: EvidenceFile) -> str:
    """The SHA-256 of the stored file as it is on disk now (raises OSError if it is gone)."""
    digest = hashlib.sha256()
    with evidence.file.open("rb") as handle:
        for chunk in handle.chunks():
            digest.update(chunk)
    return digest.hexdigest()


def link_hash(link: ChainLink) -> str:
    return _link_hash(
        link.case_id, link.sequence, link.kind, link.object_id, link.content_hash, link.previous_hash, link.created_at
    )


def _link_hash(
    case_id: int, sequence: int, kind: str, object_id: int, content_hash: str, previous_hash: str, created_at: datetime
) -> str:
    return sha256_text(
        canonical(
            {
                "case": case_id,
                "sequence": sequence,
                "kind": kind,
                "object_id": object_id,
                "content_hash": content_hash,
                "previous_hash": previous_hash,
                "created_at": _utc(created_at),
            }
        )
    )


# --- Writing -------------------------------------------------------------------------------------------
def is_chained(case_id: int) -> bool:
    return ChainLink.objects.filter(case_id=case_id).exists()


def start_chain(case: AfterSalesCase) -> bool:
    """Start the case's chain with its events so far (the caller holds the case's lock). False if it had one."""
    if is_chained(case.pk):
        return False
    for event in _case_events(case.pk).order_by("pk"):
        _append(case.pk, LinkKind.EVENT, event.pk, event_content(event))
    return True


def link_file(evidence: EvidenceFile) -> ChainLink:
    """Link a newly added evidence file (the caller holds the case's lock and started the chain)."""
    return _append(evidence.case_id, LinkKind.FILE, evidence.pk, file_content(evidence))


@contextmanager
def known(case_id: int, *, chained: bool) -> Iterator[None]:
    """Within this block the event writer takes the caller's word on whether the case has a chain.

    For a caller that holds the case's lock (so no chain can start meanwhile) and read `chained`
    under it, or that just created the case: the writer then needs no query of its own.
    """
    previous: dict[int, bool] | None = getattr(_known, "cases", None)
    _known.cases = {**(previous or {}), case_id: chained}
    try:
        yield
    finally:
        _known.cases = previous


def link_case_events(events: Sequence[EventFacts]) -> None:
    """Event-log writer: link each new `case.*` event of a chained case, in the event's transaction.

    Set-based, as a sweep writes events for thousands of cases at once (some under evidence keeping):
    which cases have a chain in one query, then per chunk of those cases their rows locked in id
    order, the events read back, the chains' heads and the new links in one statement each.
    """
    new = [
        (e.subject_id, e.pk)
        for e in events
        if e.subject_type == CASE_SUBJECT and e.subject_id and e.verb.startswith(CASE_VERBS)
    ]
    if not new:
        return
    cases = {case_id for case_id, _pk in new}
    told: dict[int, bool] = getattr(_known, "cases", None) or {}
    chained = {case_id for case_id in cases if told.get(case_id)}
    chained |= _chained_among(case_id for case_id in cases if case_id not in told)
    if not chained:
        return
    by_case: dict[int, list[int]] = {}
    for case_id, pk in new:
        if case_id in chained:
            by_case.setdefault(case_id, []).append(pk)
    ordered = sorted(chained)  # lock order: cases in ascending id
    with transaction.atomic():
        for start in range(0, len(ordered), _IN_BATCH):
            _link_chunk({case_id: by_case[case_id] for case_id in ordered[start : start + _IN_BATCH]})


def _link_chunk(by_case: dict[int, list[int]]) -> None:
    """Lock these cases (no chain step can interleave), read their new events back (so the linked
    content is exactly what verification reads later) and append one link per event to each chain."""
    case_ids = list(by_case)
    locked = AfterSalesCase.objects.select_for_update().filter(pk__in=case_ids).order_by("pk")
    list(locked.values_list("pk", flat=True))
    stored = Event.objects.in_bulk([pk for pks in by_case.values() for pk in pks])
    last = ChainLink.objects.filter(case_id=OuterRef("case_id")).order_by("-sequence").values("sequence")[:1]
    heads = {
        case_id: (sequence, link_hash_)
        for case_id, sequence, link_hash_ in ChainLink.objects.filter(case_id__in=case_ids, sequence=Subquery(last))
        .order_by()
        .values_list("case_id", "sequence", "link_hash")
    }
    created_at = timezone.now()
    rows: list[tuple[Any, ...]] = []
    for case_id, pks in by_case.items():
        sequence, previous = heads.get(case_id, (0, GENESIS))
        for pk in sorted(pks):
            event = stored.get(pk)
            if event is None:
                continue
            sequence += 1
            text = canonical(event_content(event))
            content_hash = sha256_text(text)
            own = _link_hash(case_id, sequence, LinkKind.EVENT, pk, content_hash, previous, created_at)
            rows.append((case_id, sequence, LinkKind.EVENT.value, pk, text, content_hash, previous, own, created_at))
            previous = own
    insert_rows(ChainLink, LINK_FIELDS, rows)


LINK_FIELDS = [
    "case_id",
    "sequence",
    "kind",
    "object_id",
    "content",
    "content_hash",
    "previous_hash",
    "link_hash",
    "created_at",
]


def _chained_among(case_ids: Iterable[int]) -> set[int]:
    """Which of these cases have a chain: one indexed query (by id range when a sweep sends many)."""
    ids = set(case_ids)
    if not ids:
        return set()
    links = ChainLink.objects.all()
    if len(ids) <= _IN_BATCH:
        links = links.filter(case_id__in=ids)
    else:
        links = links.filter(case_id__gte=min(ids), case_id__lte=max(ids))
    return ids & set(links.order_by().values_list("case_id", flat=True).distinct())


def _append(case_id: int, kind: str, object_id: int, content: dict[str, Any]) -> ChainLink:
    head = ChainLink.objects.filter(case_id=case_id).order_by("-sequence").values_list("sequence", "link_hash").first()
    sequence, previous = head if head else (0, GENESIS)
    text = canonical(content)
    link = ChainLink(
        case_id=case_id,
        sequence=sequence + 1,
        kind=kind,
        object_id=object_id,
        content=text,
        content_hash=sha256_text(text),
        previous_hash=previous,
        created_at=timezone.now(),
    )
    link.link_hash = link_hash(link)
    link.save()
    return link


def _case_events(case_id: int) -> QuerySet[Event]:
    return Event.objects.filter(subject_type=CASE_SUBJECT, subject_id=case_id, verb__startswith=CASE_VERBS)


# --- Verifying -----------------------------------------------------------------------------------------
@dataclass
class Break:
    """One problem found in a chain: where (sequence, what it covers) and what is wrong."""

    sequence: int | None
    kind: str
    object_id: int | None
    problem: str
    changes: list[str] = field(default_factory=list)


@dataclass
class ChainReport:
    case_id: int
    number: str
    links: int = 0
    head: str = GENESIS
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def chained_case_ids() -> list[int]:
    """Cases with a chain, or with evidence or a dispute (whose chain must exist)."""
    ids = set(ChainLink.objects.order_by().values_list("case_id", flat=True).distinct())
    ids |= set(EvidenceFile.objects.order_by().values_list("case_id", flat=True).distinct())
    ids |= set(Dispute.objects.order_by().values_list("case_id", flat=True).distinct())
    return sorted(ids)


def verify_all(case_ids: Iterable[int] | None = None) -> Iterator[ChainReport]:
    for case_id in chained_case_ids() if case_ids is None else case_ids:
        yield verify_case(case_id)


def verify_case(case_id: int) -> ChainReport:
    """Recompute every link of the case's chain from the event rows and the files on disk."""
    report = ChainReport(case_id=case_id, number=AfterSalesCase(pk=case_id).number)
    links = list(ChainLink.objects.filter(case_id=case_id).order_by("sequence"))
    events = Event.objects.in_bulk([k.object_id for k in links if k.kind == LinkKind.EVENT])
    files = EvidenceFile.objects.in_bulk([k.object_id for k in links if k.kind == LinkKind.FILE])
    expected, previous = 1, GENESIS
    for link in links:
        _check_order(report, link, expected, previous)
        _check_link(report, link)
        if link.kind == LinkKind.EVENT:
            _check_event(report, link, events.get(link.object_id))
        else:
            _check_file(report, link, files.get(link.object_id))
        expected, previous = link.sequence + 1, link.link_hash
    if links:
        report.links, report.head = len(links), links[-1].link_hash
        _check_unlinked(report, {k.object_id for k in links if k.kind == LinkKind.EVENT})
    elif EvidenceFile.objects.filter(case_id=case_id).exists() or Dispute.objects.filter(case_id=case_id).exists():
        _break(report, None, _("the case has evidence or a dispute but its chain is gone (all links deleted)"))
    return report


def _break(report: ChainReport, link: ChainLink | None, problem: str, changes: list[str] | None = None) -> None:
    report.breaks.append(
        Break(
            sequence=link.sequence if link else None,
            kind=link.kind if link else LinkKind.EVENT,
            object_id=link.object_id if link else None,
            problem=problem,
            changes=changes or [],
        )
    )


def _check_order(report: ChainReport, link: ChainLink, expected: int, previous: str) -> None:
    if link.sequence != expected:
        missing = {"first": expected, "last": link.sequence - 1}
        _break(report, link, _("links %(first)s to %(last)s are missing (deleted)") % missing)
    elif link.previous_hash != previous:
        _break(report, link, _("its previous hash does not match the link before it (that link was replaced)"))


def _check_link(report: ChainReport, link: ChainLink) -> None:
    if sha256_text(link.content) != link.content_hash:
        _break(report, link, _("the content stored in the link was altered"))
    if link_hash(link) != link.link_hash:
        _break(report, link, _("the link row was altered (its hash does not match its fields)"))


def _check_event(report: ChainReport, link: ChainLink, event: Event | None) -> None:
    if event is None:
        _break(report, link, _("event %(id)s was deleted") % {"id": link.object_id})
        return
    now = event_content(event)
    if canonical(now) != link.content:
        changes = _diff(json.loads(link.content), json.loads(canonical(now)))
        _break(report, link, _("event %(id)s (%(verb)s) was changed") % {"id": event.pk, "verb": event.verb}, changes)


def _check_file(report: ChainReport, link: ChainLink, evidence: EvidenceFile | None) -> None:
    if evidence is None:
        _break(report, link, _("evidence file %(id)s was deleted") % {"id": link.object_id})
        return
    linked = json.loads(link.content)
    now = json.loads(canonical(file_content(evidence)))
    if now != linked:
        _break(
            report, link, _("the record of evidence file %(id)s was changed") % {"id": evidence.pk}, _diff(linked, now)
        )
    try:
        on_disk = file_sha256(evidence)
    except OSError:
        _break(report, link, _("evidence file %(name)s is missing from storage") % {"name": evidence.original_name})
        return
    if on_disk != linked.get("sha256"):
        facts = {"name": evidence.original_name, "now": on_disk[:16], "then": str(linked.get("sha256"))[:16]}
        _break(report, link, _("evidence file %(name)s changed on disk (SHA-256 %(now)s…, linked %(then)s…)") % facts)


def _check_unlinked(report: ChainReport, linked: set[int]) -> None:
    """Case events the chain never saw were written behind its back (e.g. inserted by hand)."""
    for event in _case_events(report.case_id).exclude(pk__in=linked).order_by("pk"):
        _break(report, None, _("event %(id)s (%(verb)s) is not in the chain") % {"id": event.pk, "verb": event.verb})


def _diff(then: Any, now: Any, path: str = "") -> list[str]:
    """Field by field: `data.reason: "old" → "new"`."""
    if isinstance(then, dict) and isinstance(now, dict):
        changes: list[str] = []
        for key in sorted(set(then) | set(now)):
            changes += _diff(then.get(key), now.get(key), f"{path}.{key}" if path else key)
        return changes
    if then == now:
        return []
    return [f"{path or '='}: {canonical(then)} → {canonical(now)}"]
