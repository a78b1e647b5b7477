"""API authentication (bearer tokens, browser sessions) and the caller's own tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from desk.accounts import services
from desk.accounts.models import ApiToken
from desk.core.api import ERRORS, AuthedRequest, Id

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class TokenAuth(HttpBearer):
    """`Authorization: Bearer dsk_...` for integrations and scripts; revoked tokens are refused."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        return services.authenticate_key(token)


class BrowserSessionAuth(APIKeyCookie):
    """The logged-in page user; unsafe methods must carry the CSRF token like any form post."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, only once the user is known

    def authenticate(self, request: HttpRequest, key: str | None) -> Any | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in _SAFE_METHODS and check_csrf(request) is not None:
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header.")
        return user


api_auth = [TokenAuth(), BrowserSessionAuth()]

router = Router(tags=["tokens"])


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIn(Schema):
    name: str


class NewTokenOut(TokenOut):
    key: str


def _out(token: ApiToken) -> dict[str, Any]:
    return {f: getattr(token, f) for f in ("id", "name", "prefix", "created_at", "last_used_at", "revoked_at")}


@router.get("/tokens", response={200: list[TokenOut], **ERRORS})
def list_tokens(request: AuthedRequest) -> Any:
    """The caller's own tokens (keys are never shown again)."""
    return [_out(t) for t in ApiToken.objects.filter(user_id=request.auth.pk).order_by("-id")]


@router.post("/tokens", response={201: NewTokenOut, **ERRORS})
def create_token(request: AuthedRequest, payload: TokenIn) -> Any:
    """Issue a token for the caller; `key` is in this answer only."""
    token, key = services.issue_token(request.auth, payload.name, by=request.auth)
    return Status(201, _out(token) | {"key": key})


@router.delete("/tokens/{token_id}", response={200: TokenOut, **ERRORS})
def revoke_token(request: AuthedRequest, token_id: Id) -> Any:
    token = services.own_token(request.auth, token_id)
    return _out(services.revoke_token(token, by=request.auth))
