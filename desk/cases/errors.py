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
