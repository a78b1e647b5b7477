"""Domain errors of the customers area that need a status of their own (others use desk.core.errors)."""

from __future__ import annotations

from desk.core.errors import DomainError


class RevealLimitReached(DomainError):
    """The user revealed as many customers' contact details this hour as the shop allows."""

    status = 429
    code = "customer.reveal_limit"
