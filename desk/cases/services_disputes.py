"""Evidence files and disputes (纠纷) of after-sales cases, kept in a tamper-evident hash chain (存证).

- Evidence: photos, videos and PDFs from the customer (`by=None`, through the portal) or staff; the
  same types and size limit as ticket attachments. Each file's SHA-256 is linked into the case's
  chain when it is added. Files are never deleted, only withdrawn, and only before a dispute.
- Disputes: minor ones are mediated by senior agents (`case.dispute`), major ones handled by legal
  (`case.legal`); a minor dispute can be handed to legal. Opening a dispute locks the evidence:
  nothing can be withdrawn any more. New files may still be added while the dispute is live
  (arbitrators and inspectors ask for more; each is linked after the lock, so it is visibly later),
  and not after it is resolved.
- The chain of a case starts with its first evidence file or dispute (see `desk.evidence.chain`).

Lock order: the case, then its dispute.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

from desk.accounts.permissions import authorize, can
from desk.cases import services
from desk.cases.errors import BadEvidence, DisputeConflict, EvidenceLocked, IllegalTransition
from desk.cases.models import AfterSalesCase
from desk.core.errors import ValidationFailed
from desk.core.uploads import content_matches, disguised_message
from desk.evidence import chain
from desk.evidence.models import Dispute, DisputeStatus, DisputeTier, EvidenceFile, EvidenceSource
from desk.tickets.services import ATTACHMENT_TYPES

# Staff who may add evidence: case handlers, the warehouse (inspection photos), dispute handlers, legal.
_EVIDENCE_ACTIONS = ("case.handle", "case.inspect", "case.dispute", "case.legal")
_TIER_ACTION = {DisputeTier.MINOR: "case.dispute", DisputeTier.MAJOR: "case.legal"}


# --- Evidence ------------------------------------------------------------------------------------------
def add_evidence(
    case: AfterSalesCase, upload: UploadedFile[bytes], *, by: Any = None, description: str = ""
) -> EvidenceFile:
    """Store a photo, video or PDF for the case and link its SHA-256 into the case's chain."""
    if by is not None and not any(can(by, action) for action in _EVIDENCE_ACTIONS):
        authorize(by, "case.handle", subject=case)  # records the refusal and raises
    content_type = _check_upload(upload)
    digest = _sha256(upload)
    stored: list[EvidenceFile] = []
    try:
        with transaction.atomic():
            case = services._lock(case)
            disputes = list(case.disputes.values_list("status", flat=True))
            if disputes and all(status == DisputeStatus.RESOLVED for status in disputes):
                message = _("The dispute of case %(number)s is resolved; its evidence is closed.") % _n(case)
                raise EvidenceLocked(message)
            evidence = _store(case, upload, by, content_type, digest, description)
            stored.append(evidence)
            chain.start_chain(case)
            chain.link_file(evidence)
            data = {"evidence": evidence.pk, "name": evidence.original_name, "sha256": digest}
            services._event("case.evidence_added", case, by, data={**data, "after_lock": bool(disputes)})
    except BaseException:
        for orphan in stored:  # the row rolled back: do not leave its file behind
            if orphan.file.name:
                orphan.file.storage.delete(orphan.file.name)
        raise
    return evidence


def _store(
    case: AfterSalesCase, upload: UploadedFile[bytes], by: Any, content_type: str, digest: str, description: str
) -> EvidenceFile:
    return EvidenceFile.objects.create(
        case=case,
        file=upload,
        original_name=(upload.name or "file")[:200],
        content_type=content_type,
        size=upload.size or 0,
        sha256=digest,
        description=description.strip()[:300],
        source=EvidenceSource.CUSTOMER if by is None else EvidenceSource.STAFF,
        uploaded_by=by,
        uploaded_by_label=by.get_username() if by is not None else f"customer:{case.customer_id}",
        created_at=timezone.now(),
    )


def _check_upload(upload: UploadedFile[bytes]) -> str:
    """The ticket attachments' rule: photos, videos and PDFs (by their bytes too), not empty, within the limit."""
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    if content_type not in ATTACHMENT_TYPES:
        raise BadEvidence(
            _("%(name)s is not a photo, video or PDF (got %(type)s).")
            % {"name": upload.name, "type": content_type or "?"},
            field="file",
        )
    limit = settings.DESK_ATTACHMENT_MAX_BYTES
    if not upload.size or upload.size > limit:
        raise BadEvidence(
            _("%(name)s is empty or larger than %(mb)s MB.") % {"name": upload.name, "mb": limit // (1024 * 1024)},
            field="file",
        )
    if not content_matches(upload, content_type):
        raise BadEvidence(disguised_message(upload.name, content_type), field="file")
    return content_type


def _sha256(upload: UploadedFile[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def withdraw_evidence(evidence: EvidenceFile, *, by: Any, reason: str) -> EvidenceFile:
    """Mark a file as withdrawn (wrong upload); it stays stored and linked. Refused once a dispute is opened."""
    authorize(by, "case.handle", subject=evidence.case)
    if not reason.strip():
        raise ValidationFailed(_("Say why the file is withdrawn."), code="case.no_reason", field="reason")
    with transaction.atomic():
        case = services._lock(evidence.case)
        if case.disputes.exists():
            raise EvidenceLocked(
                _("Case %(number)s is under dispute: its evidence is locked and cannot be withdrawn.") % _n(case)
            )
        evidence = EvidenceFile.objects.select_for_update().get(pk=evidence.pk)
        if evidence.withdrawn_at is not None:
            raise ValidationFailed(_("This file was already withdrawn."), code="case.evidence_withdrawn")
        evidence.withdrawn_at, evidence.withdrawn_reason = timezone.now(), reason.strip()[:300]
        evidence.save(update_fields=["withdrawn_at", "withdrawn_reason"])
        data = {"evidence": evidence.pk, "reason": evidence.withdrawn_reason}
        services._event("case.evidence_withdrawn", case, by, data=data)
    return evidence


# --- Disputes ----------------------------------------------------------------------------------------------
class DisputeMachine(StateMachine):
    """open → mediating → arbitration → resolved (arbitration and resolution may come at any live step)."""

    opened = State(initial=True, value=DisputeStatus.OPEN.value)
    mediating = State(value=DisputeStatus.MEDIATING.value)
    arbitration = State(value=DisputeStatus.ARBITRATION.value)
    resolved = State(final=True, value=DisputeStatus.RESOLVED.value)

    mediate = opened.to(mediating)
    escalate = opened.to(opened) | mediating.to(mediating) | arbitration.to(arbitration)
    arbitrate = opened.to(arbitration) | mediating.to(arbitration) | arbitration.to(arbitration)
    resolve = opened.to(resolved) | mediating.to(resolved) | arbitration.to(resolved)


def open_dispute(case: AfterSalesCase, *, by: Any, tier: str, summary: str) -> Dispute:
    """Escalate the case to a dispute: minor (senior agents mediate) or major (legal). Locks the evidence."""
    if tier not in DisputeTier.values:
        raise ValidationFailed(_("Choose minor or major."), code="case.bad_dispute_tier", field="tier")
    _authorize_for(by, tier, case)
    if not summary.strip():
        raise ValidationFailed(_("Describe the dispute."), code="case.no_summary", field="summary")
    with transaction.atomic():
        case = services._lock(case)
        if case.disputes.exclude(status=DisputeStatus.RESOLVED).exists():
            raise DisputeConflict(_("Case %(number)s already has an open dispute.") % _n(case))
        dispute = Dispute.objects.create(
            case=case, tier=tier, summary=summary.strip(), opened_by=by, opened_at=timezone.now()
        )
        chain.start_chain(case)
        data = {"dispute": dispute.pk, "tier": tier, "summary": dispute.summary, "evidence_locked": True}
        services._event("case.dispute_opened", case, by, after={"dispute_status": dispute.status}, data=data)
    return dispute


def mediate_dispute(dispute: Dispute, *, by: Any, note: str = "") -> Dispute:
    """The mediator takes the dispute on (soothe first, then mediate remotely)."""
    _authorize_tier(by, dispute)

    def change(d: Dispute) -> dict[str, Any]:
        d.mediator = by
        return {"note": note.strip()}

    return _step(dispute, by, "mediate", "case.dispute_mediating", change)


def escalate_dispute(dispute: Dispute, *, by: Any, reason: str) -> Dispute:
    """Hand a minor dispute to legal: it becomes major, and only legal (or a manager) handles it from now on."""
    if not can(by, "case.legal"):
        authorize(by, "case.dispute", subject=dispute.case)
    if not reason.strip():
        raise ValidationFailed(_("Say why legal should take this over."), code="case.no_reason", field="reason")

    def change(d: Dispute) -> dict[str, Any]:
        if d.tier == DisputeTier.MAJOR:
            raise DisputeConflict(_("This dispute is already with legal."))
        d.tier, d.escalated_at = DisputeTier.MAJOR, timezone.now()
        return {"tier": {"before": DisputeTier.MINOR, "after": DisputeTier.MAJOR}, "reason": reason.strip()}

    return _step(dispute, by, "escalate", "case.dispute_escalated", change)


def record_arbitration(dispute: Dispute, *, by: Any, body: str, reference: str = "", outcome: str = "") -> Dispute:
    """Record a third-party arbitration or inspection: who (body), their reference and, once known, the outcome."""
    _authorize_tier(by, dispute)
    if not body.strip():
        raise ValidationFailed(
            _("Name the arbitration or inspection body."), code="case.no_arbitration_body", field="body"
        )

    def change(d: Dispute) -> dict[str, Any]:
        d.arbitration_body, d.arbitration_reference = body.strip()[:200], reference.strip()[:100]
        if outcome.strip():
            d.arbitration_outcome, d.arbitration_recorded_at = outcome.strip(), timezone.now()
        return {"body": d.arbitration_body, "reference": d.arbitration_reference, "outcome": outcome.strip()}

    return _step(dispute, by, "arbitrate", "case.arbitration_recorded", change)


def resolve_dispute(dispute: Dispute, *, by: Any, outcome: str) -> Dispute:
    """Close the dispute with its outcome (what was agreed or decided). The evidence stays locked."""
    _authorize_tier(by, dispute)
    if not outcome.strip():
        raise ValidationFailed(_("Record the outcome."), code="case.no_outcome", field="outcome")

    def change(d: Dispute) -> dict[str, Any]:
        d.outcome, d.resolved_by, d.resolved_at = outcome.strip(), by, timezone.now()
        return {"outcome": d.outcome}

    return _step(dispute, by, "resolve", "case.dispute_resolved", change)


def _authorize_tier(by: Any, dispute: Dispute) -> None:
    _authorize_for(by, dispute.tier, dispute.case)


def _authorize_for(by: Any, tier: str, case: AfterSalesCase) -> None:
    """Minor disputes: senior agents and up, or legal; major ones: legal (and managers)."""
    if tier == DisputeTier.MINOR and can(by, "case.legal"):
        return
    authorize(by, _TIER_ACTION[DisputeTier(tier)], subject=case)


def _step(dispute: Dispute, by: Any, event: str, verb: str, change: Any) -> Dispute:
    """Lock the case then the dispute, move the dispute's status, apply `change`, record one case event."""
    with transaction.atomic():
        case = services._lock(AfterSalesCase(pk=dispute.case_id))
        dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
        before = dispute.status
        try:
            DisputeMachine(model=dispute, state_field="status").send(event)
        except TransitionNotAllowed:
            facts = {"number": case.number, "state": before, "event": event}
            raise IllegalTransition(
                _("The dispute of case %(number)s is %(state)s; '%(event)s' is not a step from there.") % facts,
                code="case.dispute_illegal_transition",
            ) from None
        data = change(dispute)
        dispute.save()
        services._event(
            verb,
            case,
            by,
            before={"dispute_status": before},
            after={"dispute_status": dispute.status},
            data={"dispute": dispute.pk, **data},
        )
    return dispute


def _n(case: AfterSalesCase) -> dict[str, str]:
    return {"number": case.number}
