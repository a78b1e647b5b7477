"""Domain exceptions with stable codes; the API and pages turn them into 4xx answers."""

from __future__ import annotations

from django.utils.functional import Promise


class DomainError(Exception):
    """A business rule said no. `code` is stable and documented; `message` is translatable."""

    status = 400
    code = "invalid"

    def __init__(self, message: str | Promise, *, code: str | None = None, field: str | None = None):
        super().__init__(str(message))
        self.message = str(message)
        if code:
            self.code = code
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class ValidationFailed(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"
