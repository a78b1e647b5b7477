"""What was proposed to and agreed by the customer, the evidence of a case, its disputes, and the hash chain.

These belong to after-sales cases (`desk.cases`) but live in their own app so that the evidence
chain (存证) and its verification stand apart from the case workflows they watch.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from desk.cases.models import ZERO, AfterSalesCase, CaseType
from desk.customers.models import Channel


# --- Customer confirmation ------------------------------------------------------------------------
class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", _("Waiting for the customer")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired unanswered")
    SUPERSEDED = "superseded", _("Replaced by a newer proposal")


class ConfirmationChannel(models.TextChoices):
    """Where the customer answered: the self-service portal, or one of the customer's channels."""

    PORTAL = "portal", _("Self-service portal")
    WEB = Channel.WEB.value, Channel.WEB.label
    EMAIL = Channel.EMAIL.value, Channel.EMAIL.label
    PHONE = Channel.PHONE.value, Channel.PHONE.label
    WECHAT = Channel.WECHAT.value, Channel.WECHAT.label
    WEIBO = Channel.WEIBO.value, Channel.WEIBO.label
    APP = Channel.APP.value, Channel.APP.label
    API = Channel.API.value, Channel.API.label


# A spoken answer is not a written confirmation (needed when fees or process changes are involved).
UNWRITTEN_CHANNELS = {ConfirmationChannel.PHONE}


class SolutionProposal(models.Model):
    """A solution offered to the customer (what, why, amounts, deadlines), executed only once accepted."""

    case = models.ForeignKey(AfterSalesCase, on_delete=models.PROTECT, related_name="proposals")
    kind = models.CharField(_("solution"), max_length=20, choices=CaseType.choices)
    summary = models.TextField(_("what"))
    reason = models.TextField(_("why"))
    currency = models.CharField(max_length=3, default="CNY")
    refund_amount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    compensation_amount = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    fee_amount = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)  # the customer pays
    process_change = models.BooleanField(default=False)  # e.g. a different solution than requested
    execute_by = models.DateTimeField(null=True, blank=True)  # the shop's promise, shown to the customer
    respond_by = models.DateTimeField()  # the customer's deadline; unanswered → expired
    remind_at = models.DateTimeField(null=True, blank=True)  # cleared once the reminder is claimed
    status = models.CharField(max_length=12, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposed_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=10, choices=ConfirmationChannel.choices, blank=True)
    confirmation_text = models.CharField(max_length=200, blank=True)  # what the customer wrote
    response_note = models.TextField(blank=True)  # the customer's reason for rejecting
    recorded_by = models.ForeignKey(  # staff who entered an answer received on a channel; empty: the customer
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["status", "respond_by"], name="proposal_respond_idx"),
            models.Index(fields=["status", "remind_at"], name="proposal_remind_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["case"], condition=Q(status="proposed"), name="proposal_one_open_per_case")
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.case} {self.kind} ({self.status})"

    @property
    def needs_written_confirmation(self) -> bool:
        return self.fee_amount > 0 or self.process_change


# --- Evidence files ---------------------------------------------------------------------------------
class EvidenceSource(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    STAFF = "staff", _("Staff")


class EvidenceFile(models.Model):
    """A photo, video or PDF of a case. Its content hash is linked into the case's chain when added.

    Never deleted: withdrawing marks it (before a dispute locks the evidence), so the chain stays whole.
    """

    case = models.ForeignKey(AfterSalesCase, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to="evidence/%Y/%m/")
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=10, choices=EvidenceSource.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_by_label = models.CharField(max_length=150)  # kept as it was, even if the account goes
    created_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.original_name


# --- Disputes -----------------------------------------------------------------------------------------
class DisputeTier(models.TextChoices):
    MINOR = "minor", _("Minor: mediated by senior agents")
    MAJOR = "major", _("Major: handled by legal")


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("Open")
    MEDIATING = "mediating", _("Mediating")
    ARBITRATION = "arbitration", _("Third-party arbitration or inspection")
    RESOLVED = "resolved", _("Resolved")


class Dispute(models.Model):
    """A case escalated to a dispute (纠纷). Opening it locks the case's evidence."""

    case = models.ForeignKey(AfterSalesCase, on_delete=models.PROTECT, related_name="disputes")
    tier = models.CharField(max_length=10, choices=DisputeTier.choices)
    status = models.CharField(max_length=12, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    summary = models.TextField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField()
    mediator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    arbitration_body = models.CharField(max_length=200, blank=True)  # e.g. 消费者协会, a testing lab
    arbitration_reference = models.CharField(max_length=100, blank=True)
    arbitration_outcome = models.TextField(blank=True)
    arbitration_recorded_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case"], condition=~Q(status="resolved"), name="dispute_one_live_per_case")
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.case} {self.tier} ({self.status})"


# --- The hash chain (存证) -------------------------------------------------------------------------------
class LinkKind(models.TextChoices):
    EVENT = "event", _("Case event")
    FILE = "file", _("Evidence file")


class AppendOnly(Exception):
    """Chain links are written once; changing or deleting one is what `verify_evidence` exists to catch."""


class ChainLink(models.Model):
    """One link of a case's append-only hash chain.

    `content` is the canonical JSON of what was linked (an event row, or a file's metadata and
    SHA-256); `content_hash` its SHA-256; `link_hash` the SHA-256 of this link's own fields,
    including `previous_hash`, so changing any earlier link breaks every later one.
    """

    case = models.ForeignKey(AfterSalesCase, on_delete=models.PROTECT, related_name="chain")
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=5, choices=LinkKind.choices)
    object_id = models.BigIntegerField()
    content = models.TextField()
    content_hash = models.CharField(max_length=64)
    previous_hash = models.CharField(max_length=64)
    link_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "sequence"], name="chain_link_sequence_unique")]
        indexes = [models.Index(fields=["kind", "object_id"], name="chain_link_object_idx")]
        ordering = ["case", "sequence"]

    def __str__(self) -> str:
        return f"{self.case_id}#{self.sequence} {self.kind}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("chain links cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnly("chain links cannot be deleted")
