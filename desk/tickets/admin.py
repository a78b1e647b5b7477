from django.contrib import admin

from desk.accounts.admin_site import ConfigAdmin
from desk.tickets.models import CannedReply, RequestType, RoutingRule, Ticket, TicketTag


@admin.register(RequestType)
class RequestTypeAdmin(ConfigAdmin):
    list_display = ("code", "name_zh", "name_en", "is_complex", "required_skill", "active", "sort_order")
    list_editable = ("is_complex", "active", "sort_order")


@admin.register(RoutingRule)
class RoutingRuleAdmin(ConfigAdmin):
    list_display = ("position", "name", "request_type", "channel", "customer_tier", "keywords", "team", "active")
    list_display_links = ("name",)
    list_editable = ("position", "active")


@admin.register(CannedReply)
class CannedReplyAdmin(ConfigAdmin):
    list_display = ("title", "language", "request_type", "active")
    list_filter = ("language", "active")


@admin.register(TicketTag)
class TicketTagAdmin(ConfigAdmin):
    search_fields = ("name",)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only: tickets change through the console and API so every change is an event."""

    list_display = ("id", "subject", "status", "priority", "team", "assignee", "sla_state", "created_at")
    list_filter = ("status", "priority", "sla_state", "channel")
    search_fields = ("subject",)
    raw_id_fields = ("customer", "order", "assignee", "merged_into", "created_by")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
