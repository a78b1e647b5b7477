from django.contrib import admin

from desk.sla.models import BusinessCalendar, BusinessHours, CalendarDay, SlaPolicy, SlaTarget


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 1


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 1
    fields = ("date", "kind", "name", "hours_of_weekday")


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    """Hours and days edit inline; saving drops the cached clock (signals in services)."""

    list_display = ("name", "time_zone", "always_open")
    inlines = (BusinessHoursInline, CalendarDayInline)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "position", "name", "active", "request_type", "priority", "channel", "customer_tier", "calendar",
        "first_response_minutes", "accept_minutes", "human_minutes", "solution_minutes", "resolution_minutes",
    )  # fmt: skip
    list_display_links = ("name",)
    list_editable = ("position", "active")
    list_filter = ("active", "calendar")
    fieldsets = (
        (None, {"fields": ("name", "position", "active", "calendar", "human_calendar")}),
        ("Applies to", {"fields": ("request_type", "priority", "channel", "customer_tier")}),
        (
            "Targets (minutes of business time; empty = no target)",
            {
                "fields": (
                    "first_response_minutes",
                    "accept_minutes",
                    "human_minutes",
                    "solution_minutes",
                    "resolution_minutes",
                    "warn_at_percent",
                )  # fmt: skip
            },
        ),
        ("On breach", {"fields": ("escalate_notify_supervisor", "escalate_raise_priority", "escalate_reassign_up")}),
    )


@admin.register(SlaTarget)
class SlaTargetAdmin(admin.ModelAdmin):
    """Read-only: targets are written by the SLA clock and the sweep, never by hand."""

    list_display = ("ticket", "metric", "status", "due_at", "warned_at", "breached_at", "completed_at", "policy")
    list_filter = ("status", "metric", "policy")
    raw_id_fields = ("ticket",)
    list_select_related = ("policy", "ticket")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
