"""Load the staff profile with the user: every page needs the role, so one query instead of two."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class StaffBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        User = get_user_model()
        user = User._default_manager.select_related("staff").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
