"""Domain errors of after-sales cases, each with a stable code."""

from __future__ import annotations

from desk.core.errors import Conflict, ValidationFailed


class IllegalTransition(Conflict):
    """The case's state machine has no such step from where the case stands."""

    code = "case.illegal_transition"


class NotReturnable(ValidationFailed):
    """The policy in force refuses the request (outside the window, excluded goods, ...)."""

    code = "case.not_returnable"


class BadItems(ValidationFailed):
    code = "case.bad_items"


class OverRefund(Conflict):
    """The refund would take the order above what was paid."""

    code = "refund.over_paid"


class RefundConflict(Conflict):
    code = "refund.conflict"


class InsufficientStock(Conflict):
    """Not enough sellable stock of a SKU for a replacement or reship (after existing reservations)."""

    code = "stock.insufficient"


class BadEvidence(ValidationFailed):
    """An evidence file of the wrong type or size."""

    code = "case.bad_evidence"


class EvidenceLocked(Conflict):
    """A dispute locked the case's evidence: nothing may be withdrawn or changed any more."""

    code = "case.evidence_locked"


class ConfirmationRequired(ValidationFailed):
    """A solution with fees or a process change needs the customer's written confirmation."""

    code = "case.confirmation_required"


class ProposalClosed(Conflict):
    """The proposal was already answered, replaced or expired."""

    code = "case.proposal_closed"


class DisputeConflict(Conflict):
    code = "case.dispute_conflict"


class NoticeConflict(Conflict):
    """The notice cannot take this report where it stands (the desk sends it itself, or it was delivered)."""

    code = "notice.conflict"
