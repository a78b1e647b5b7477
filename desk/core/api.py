"""API plumbing shared by every router: one error body, request guards, pagination.

Every 4xx the API gives has the body `{"code", "message", "field"}`: `code` is stable and
documented, `message` is for people, `field` names the offending input when there is one.
Bad input never produces a 500: schema errors, malformed JSON, oversized bodies, unknown ids
and forbidden actions each have a handler here.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer

from desk.core.errors import DomainError

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# Ids and offsets are bounded so a huge number is a 400, not a database overflow.
MAX_ID = 2**53
MAX_OFFSET = 10_000_000

Id = Annotated[int, Field(ge=1, le=MAX_ID)]

_UNSAFE_JSON = (b"\\u0000", b"\x00")


class AuthedRequest(HttpRequest):
    """The request a handler receives: `auth` is the user the token or session resolved to."""

    auth: Any


class ErrorOut(Schema):
    """The one error body of the API."""

    code: str
    message: str
    field: str | None = None


def error_response(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "field": field}, status=status)


_RENDERER = JSONRenderer()  # the API's (config/api.py names no other)


def rendered(request: HttpRequest, data: Any, status: int) -> HttpResponse:
    """`data` as the API renders a response schema's dump, without validating it against the schema
    again: for a hot operation whose presenter builds exactly the schema's fields, in order, from
    values of the schema's types (a test holds the two answers byte for byte the same)."""
    content = _RENDERER.render(request, data, response_status=status)
    return HttpResponse(content, status=status, content_type=f"{_RENDERER.media_type}; charset={_RENDERER.charset}")


# --- Pagination -----------------------------------------------------------------------------------
class PageParams(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, description=f"Rows per page; more than {MAX_LIMIT} is capped.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class Page(Schema, Generic[T]):
    """A count-free page: `next_offset` is null on the last page (counting 1M rows is not cheap)."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


def paginate(rows: QuerySet[Any] | Sequence[Any], page: PageParams) -> dict[str, Any]:
    """Fetch one row more than asked to know whether another page follows."""
    limit = min(page.limit, MAX_LIMIT)
    window = list(rows[page.offset : page.offset + limit + 1])
    has_more = len(window) > limit
    return {
        "items": window[:limit],
        "limit": limit,
        "offset": page.offset,
        "next_offset": page.offset + limit if has_more else None,
    }


# --- Parsing and guards ---------------------------------------------------------------------------
class StrictJsonParser(Parser):
    """JSON bodies without NUL characters: PostgreSQL cannot store them, so they are bad input."""

    def parse_body(self, request: HttpRequest) -> Any:
        body = request.body
        if any(marker in body for marker in _UNSAFE_JSON):
            raise DomainError(_("Text may not contain NUL characters."), code="invalid_text")
        return json.loads(body)


def _body_limit(request: HttpRequest) -> int:
    """Uploads may be as large as an attachment; every other body has the API limit."""
    if (request.content_type or "").startswith("multipart/"):
        return int(settings.DESK_ATTACHMENT_MAX_BYTES) + 64 * 1024
    return int(settings.DESK_API_MAX_BODY_BYTES)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def guard_request(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse oversized bodies before they are read, and NUL characters in query strings."""

    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit = _body_limit(request)
        if _declared_length(request) > limit:
            return _too_large(limit)
        if any("\x00" in value for values in request.GET.lists() for value in values[1]):
            return error_response(400, "invalid_text", _("Text may not contain NUL characters."))
        return run(request, *args, **kwargs)

    return wrapper


def _too_large(limit: int) -> JsonResponse:
    return error_response(
        413, "payload_too_large", _("The request body is larger than %(n)s bytes.") % {"n": limit}, None
    )


# --- Exception handlers ---------------------------------------------------------------------------
def _field_of(error: dict[str, Any]) -> str | None:
    """`("body", "payload", "subject")` → "subject": the name the client sent."""
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "form", "file")]
    if len(loc) > 1 and loc[0] in ("payload", "data", "filters", "page"):
        loc = loc[1:]
    return ".".join(loc) or None


def _on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    field = _field_of(first)
    message = str(first.get("msg") or _("Invalid input."))
    return error_response(400, "invalid", f"{field}: {message}" if field else message, field)


def _on_domain(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.message, exc.field)


_HTTP_CODES = {
    400: "bad_request",
    401: "auth.required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "throttled",
}


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, DomainError):
        return _on_domain(request, cause)
    if exc.status_code == 400 and cause is not None:
        return error_response(400, "malformed_json", _("The request body is not valid JSON."))
    code = _HTTP_CODES.get(exc.status_code, "error")
    if exc.status_code == 403 and "CSRF" in str(exc):
        code = "csrf_failed"
    return error_response(exc.status_code, code, str(exc))


def _on_auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error_response(401, "auth.required", _("Send 'Authorization: Bearer <token>' or log in."))
    response["WWW-Authenticate"] = "Bearer"
    return response


def _on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(404, "not_found", _("Not found."))


def _on_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _too_large(_body_limit(request))


def _on_bad_request(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.info("bad request to %s: %s", request.path, exc)
    return error_response(400, "bad_request", _("The request could not be read."))


def _on_out_of_range(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.info("value out of range in %s: %s", request.path, exc)
    return error_response(400, "out_of_range", _("A value is out of range."))


def install(api: NinjaAPI) -> None:
    """Register the handlers and the request guard on the API (call once, before routers)."""
    handlers: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
        (DomainError, _on_domain),
        (ValidationError, _on_validation),
        (AuthenticationError, _on_auth),
        (HttpError, _on_http_error),
        (Http404, _on_not_found),
        (ObjectDoesNotExist, _on_not_found),
        (RequestDataTooBig, _on_too_big),
        (MultiPartParserError, _on_bad_request),
        (SuspiciousOperation, _on_bad_request),
        (OverflowError, _on_out_of_range),
        (DataError, _on_out_of_range),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
    api.add_decorator(guard_request, mode="view")


ERRORS: dict[int | str, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
}
