"""Writers for accounts (the only code that changes staff, tokens and notifications).

API tokens: only the sha256 of a key is stored; the key itself is shown once, when it is issued.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
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
    found = _token_owner(ApiToken.hash_key(key))
    if found is None:
        return None
    token_id, last_used_at, user = found
    if not user.is_active:
        return None
    _touch(token_id, last_used_at)
    return user


class _TokenQuery:
    """The token lookup as SQL written once per process: the token, its user and the staff profile.

    Every API request runs it first. Django's compiler spends several times the query's own cost
    building this three-table select on each call; here the statement is fixed, and the rows pass
    through the same converters and `Model.from_db` the ORM uses, so the user is the same object
    (`user.staff` included, or no profile) that `select_related("user", "user__staff")` gave.
    """

    def __init__(self, alias: str) -> None:
        connection = connections[alias]
        qn = connection.ops.quote_name
        user_model = get_user_model()
        self.alias = alias
        self.user_fields = list(user_model._meta.concrete_fields)
        self.staff_fields = list(StaffProfile._meta.concrete_fields)
        token_cols = [ApiToken._meta.get_field(name) for name in ("id", "last_used_at")]
        columns = [("t", f) for f in token_cols] + [("u", f) for f in self.user_fields]
        columns += [("s", f) for f in self.staff_fields]
        cols = [f.get_col(a) for a, f in columns]
        converters = [
            (i, col, [*connection.ops.get_db_converters(col), *col.output_field.get_db_converters(connection)])
            for i, col in enumerate(cols)
        ]
        self.converters = [(i, col, found) for i, col, found in converters if found]  # most columns need none
        select = ", ".join(f"{a}.{qn(f.column)}" for a, f in columns)
        user_pk = f"u.{qn(user_model._meta.pk.column)}"  # type: ignore[union-attr]
        self.sql = (
            f"SELECT {select} FROM {qn(ApiToken._meta.db_table)} t"  # noqa: S608  names are ours, values bound
            f" JOIN {qn(user_model._meta.db_table)} u ON {user_pk} = t.{qn('user_id')}"
            f" LEFT JOIN {qn(StaffProfile._meta.db_table)} s ON s.{qn('user_id')} = {user_pk}"
            f" WHERE t.{qn('key_hash')} = %s AND t.{qn('revoked_at')} IS NULL"
        )

    def run(self, key_hash: str) -> tuple[int, Any, Any] | None:
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [key_hash])
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for i, col, converters in self.converters:
            for convert in converters:
                values[i] = convert(values[i], col, connection)
        token_id, last_used_at = values[0], values[1]
        n_user = len(self.user_fields)
        user = get_user_model().from_db(self.alias, [f.attname for f in self.user_fields], values[2 : 2 + n_user])
        staff_values = values[2 + n_user :]
        staff = None
        if staff_values[0] is not None:  # the profile's id: NULL when the user has none
            staff = StaffProfile.from_db(self.alias, [f.attname for f in self.staff_fields], staff_values)
            StaffProfile._meta.get_field("user").set_cached_value(staff, user)  # type: ignore[union-attr]
        StaffProfile._meta.get_field("user").remote_field.set_cached_value(user, staff)  # type: ignore[union-attr]
        return token_id, last_used_at, user


@functools.cache
def _token_query(alias: str) -> _TokenQuery:
    return _TokenQuery(alias)


def _token_owner(key_hash: str) -> tuple[int, Any, Any] | None:
    """(token id, last_used_at, user with staff) for an unrevoked token, or None."""
    return _token_query(router.db_for_read(ApiToken)).run(key_hash)


def _touch(token_id: int, last_used_at: Any) -> None:
    now = timezone.now()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiToken.objects.filter(stale, pk=token_id).update(last_used_at=now)


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
