"""Read-only: proposals, evidence, disputes and chain links are written by the case services only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from desk.evidence.models import ChainLink, Dispute, EvidenceFile, SolutionProposal


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]  # shared by several models
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SolutionProposal)
class SolutionProposalAdmin(ReadOnly):
    list_display = ("case", "kind", "status", "fee_amount", "respond_by", "channel", "responded_at")
    list_filter = ("status", "kind", "channel")


@admin.register(EvidenceFile)
class EvidenceFileAdmin(ReadOnly):
    list_display = ("case", "original_name", "content_type", "size", "source", "created_at", "withdrawn_at")
    list_filter = ("source", "content_type")


@admin.register(Dispute)
class DisputeAdmin(ReadOnly):
    list_display = ("case", "tier", "status", "opened_at", "arbitration_body", "resolved_at")
    list_filter = ("tier", "status")


@admin.register(ChainLink)
class ChainLinkAdmin(ReadOnly):
    list_display = ("case", "sequence", "kind", "object_id", "link_hash", "created_at")
    list_filter = ("kind",)
