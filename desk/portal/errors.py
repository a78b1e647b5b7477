"""Domain errors of the customer portal, each with a stable code."""

from __future__ import annotations

from desk.core.errors import DomainError, ValidationFailed


class BadCode(ValidationFailed):
    """The code is wrong, expired, already used, or was never sent (one message for all: no hints)."""

    code = "portal.bad_code"


class TooManyAttempts(ValidationFailed):
    """Five wrong codes: this code is dead, ask for a new one."""

    code = "portal.too_many_attempts"


class Throttled(DomainError):
    """A new code was asked for too soon after the last one."""

    status = 429
    code = "portal.throttled"
