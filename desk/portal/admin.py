"""Read-only views of the portal's rows; the simulated SMS outbox is where a demo reads its codes."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from desk.portal.models import LoginCode, PortalSession, SimulatedSms


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SimulatedSms)
class SimulatedSmsAdmin(ReadOnly):
    list_display = ("created_at", "phone", "body")
    search_fields = ("phone",)


@admin.register(LoginCode)
class LoginCodeAdmin(ReadOnly):
    list_display = ("created_at", "customer", "order", "channel", "attempts", "expires_at", "used_at")
    exclude = ("code_hash", "lookup")


@admin.register(PortalSession)
class PortalSessionAdmin(ReadOnly):
    list_display = ("created_at", "customer", "expires_at", "ended_at")
    exclude = ("token_hash",)
