"""The customer-notice outbox over the API: how a channel integration (WeChat, app push, SMS, web chat)
delivers the notices the desk cannot send itself.

Mounted under /api/notices; every operation needs `notice.deliver` (the integration role and
admins). A poller claims due notices of its channel (`POST /claim`), delivers each and reports it
(`POST /{id}/delivered`, `POST /{id}/failed`); `GET` pages through a channel's outbox by key. Email
notices are sent by the desk: they are listed, never claimed or reported on (409).
"""

from __future__ import annotations

from typing import Any

from ninja import Query, Router

from desk.cases import notices, queries
from desk.cases.models import CASE_PREFIX
from desk.cases.schemas import (
    NoticeClaimIn,
    NoticeClaimOut,
    NoticeDeliveredIn,
    NoticeFailedIn,
    NoticeFilters,
    NoticeOut,
    NoticePage,
)
from desk.core.api import ERRORS, AuthedRequest, Id

router = Router(tags=["notices"])


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"case_number": f"{CASE_PREFIX}{row['case_id']:07d}", "recipient": row["address"]}


def _one(request: AuthedRequest, notice_id: int) -> dict[str, Any]:
    [row] = queries.notices_by_id(request.auth, [notice_id])
    return _out(row)


@router.get("", response={200: NoticePage, **ERRORS})
def list_notices(request: AuthedRequest, filters: Query[NoticeFilters]) -> Any:
    """A channel's notices, oldest first, `limit` after id `after`; `next_after` is null on the last page."""
    rows = queries.notice_outbox(
        request.auth, filters.channel, status=filters.status, after=filters.after, limit=filters.limit + 1
    )
    more = len(rows) > filters.limit
    items = [_out(row) for row in rows[: filters.limit]]
    return {"items": items, "next_after": items[-1]["id"] if more else None}


@router.post("/claim", response={200: NoticeClaimOut, **ERRORS})
def claim(request: AuthedRequest, payload: NoticeClaimIn) -> Any:
    """Claim up to `limit` due notices of the channel for this poller (until `claimed_until`); no other
    poller gets them meanwhile. Report each one; an unreported claim runs out and the notice comes back."""
    ids = notices.claim_notices(payload.channel, by=request.auth, limit=payload.limit)
    return {"items": [_out(row) for row in queries.notices_by_id(request.auth, ids)]}


@router.post("/{notice_id}/delivered", response={200: NoticeOut, **ERRORS})
def delivered(request: AuthedRequest, notice_id: Id, payload: NoticeDeliveredIn | None = None) -> Any:
    """The notice reached the customer. Repeating the report answers the same notice (200), never an error."""
    provider_message_id = payload.provider_message_id if payload is not None else ""
    notices.record_notice_delivered(notice_id, by=request.auth, provider_message_id=provider_message_id)
    return _one(request, notice_id)


@router.post("/{notice_id}/failed", response={200: NoticeOut, **ERRORS})
def failed(request: AuthedRequest, notice_id: Id, payload: NoticeFailedIn) -> Any:
    """The channel could not deliver: retried after a backoff (`next_attempt_at`), or given up on
    (`dead`) when `retry` is false or the attempts are used up."""
    notices.record_notice_failed(notice_id, by=request.auth, error=payload.error, retry=payload.retry)
    return _one(request, notice_id)
