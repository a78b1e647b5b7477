"""Writers for accounts (the only code that changes staff, tokens and notifications).

API tokens: only the sha256 of a key is stored; the key itself is shown once, when it is issued.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.models import ApiToken, Availability, Notification, StaffProfile
from desk.accounts.permissions import authorize, role_of
from desk.core.errors import Forbidden, NotFound, ValidationFailed
from desk.core.events import record_event

KEY_PREFIX = "dsk_"
# last_used_at is advisory: one write a minute per token keeps busy integrations cheap.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def issue_token(user: Any, name: str, *, by: Any) -> tuple[ApiToken, str]:
    """Create a token for `user` and return it with its key (the only time the key exists).

    Staff may issue tokens for themselves; issuing for someone else needs config.manage.
    `by=None` is the operator at the command line.
    """
    if by is not None and by.pk != user.pk:
        authorize(by, "config.manage", subject=user)
    if role_of(user) is None:
        raise ValidationFailed(_("Only active staff or integration users can hold tokens."), code="token.no_role")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Give the token a name."), code="token.no_name", field="name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name[:100], prefix=key[:12], key_hash=ApiToken.hash_key(key))
        record_event("token.issued", actor=by, subject=token, data={"user": user.pk, "name": token.name})
    return token, key


def revoke_token(token: ApiToken, *, by: Any) -> ApiToken:
    """Stop a token working at once; the row stays for the audit trail."""
    if by.pk != token.user_id:
        authorize(by, "config.manage", subject=token)
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event("token.revoked", actor=by, subject=token, data={"user": token.user_id})
    return token


def authenticate_key(key: str) -> Any | None:
    """The active user behind a bearer key, or None. Records use at most once a minute."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user", "user__staff")
        .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    _touch(token)
    return token.user


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)


def own_token(user: Any, token_id: int) -> ApiToken:
    """One of the user's own tokens, else NotFound (others' tokens are managed in the admin)."""
    token = ApiToken.objects.filter(pk=token_id, user_id=user.pk).first()
    if token is None:
        raise NotFound(_("No such token."), code="token.not_found")
    return token


# --- Availability and the notification inbox (agent console) ------------------------------------
def set_availability(user: Any, value: str, *, by: Any) -> StaffProfile:
    """Available agents receive new tickets from assignment; away agents are skipped.

    Staff set their own availability; setting someone else's needs ticket.assign (a supervisor).
    """
    if value not in Availability.values:
        raise ValidationFailed(_("Unknown availability %(v)s.") % {"v": value}, code="staff.bad_availability")
    if getattr(by, "pk", None) != user.pk:
        authorize(by, "ticket.assign", subject=user)
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().filter(user=user).first()
        if profile is None:
            raise Forbidden(_("Only staff members have an availability."), code="staff.not_staff")
        before = profile.availability
        if before != value:
            profile.availability = value
            profile.save(update_fields=["availability"])
            record_event(
                "staff.availability_changed", actor=by, subject=user, subject_type="user",
                before={"availability": before}, after={"availability": value},
            )  # fmt: skip
    return profile


def mark_notifications_read(user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's own unread notifications read (all of them when `ids` is None)."""
    unread = Notification.objects.filter(user=user, read_at=None)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())
