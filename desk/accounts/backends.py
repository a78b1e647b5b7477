"""Load the staff profile with the user: every page needs the role, so one query instead of two.

A page's user normally comes with its session (`desk.accounts.sessions`, one statement for both).
Otherwise, with a shared cache (settings.DESK_SHARED_CACHE, i.e. Redis), the user and profile are
read from the cache, keyed by user id, and dropped whenever either row is saved or deleted.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from desk.accounts.sessions import take_session_user
from desk.core.prepared import Prepared

USER_CACHE_KEY = "desk:user:v1:{pk}"
USER_CACHE_SECONDS = 300


class StaffBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        # Read with this request's session (desk.accounts.sessions), else from the shared cache or now.
        user = take_session_user(user_id)
        if user is None and getattr(settings, "DESK_SHARED_CACHE", False):
            key = USER_CACHE_KEY.format(pk=user_id)
            user = cache.get(key)
            if user is None:
                user = _load_user(user_id)
                if user is not None:
                    cache.set(key, user, USER_CACHE_SECONDS)
        elif user is None:
            user = _load_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def _load_user(user_id: Any) -> Any:
    """The user with the staff profile, by a prepared statement (`desk.core.prepared`): every page pays it."""
    pk = int(user_id) if str(user_id).isdigit() else None
    found = _USER(pk) if pk is not None else []
    return found[0] if found else None


_USER: Prepared[Any] = Prepared(
    lambda pk: get_user_model()._default_manager.select_related("staff").filter(pk=pk).order_by()[:1]
)


def forget_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Signal receiver for saved or deleted users and staff profiles (connected in AccountsConfig.ready)."""
    pk = getattr(instance, "user_id", None) if sender is not get_user_model() else instance.pk
    if pk is not None:
        cache.delete(USER_CACHE_KEY.format(pk=pk))
