from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from desk.accounts.admin_site import ConfigAdmin
from desk.sla import services
from desk.sla.ical import BadCalendarFile, parse_days
from desk.sla.models import BusinessCalendar, BusinessHours, CalendarDay, SlaPolicy, SlaTarget


class BusinessHoursFormSet(BaseInlineFormSet):
    """At least one opening slot unless the calendar is 7×24: with none, no deadline can ever be computed."""

    def clean(self) -> None:
        super().clean()
        if self.instance.always_open:
            return
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not kept:
            raise ValidationError(
                _("A calendar that is not open 7×24 needs at least one opening slot (weekday, opens, closes).")
            )


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    formset = BusinessHoursFormSet
    extra = 1


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 1
    fields = ("date", "kind", "name", "hours_of_weekday")


class BusinessCalendarForm(forms.ModelForm):  # type: ignore[type-arg]
    """The calendar, and optionally an .ics file of holidays and 调休 days to import into it."""

    import_ics = forms.FileField(
        required=False, label=_("Import holidays (.ics)"),
        help_text=_("All-day events become holidays; those whose summary says 班 or workday become make-up "
                    "working days. Days already listed are replaced."),
    )  # fmt: skip

    class Meta:
        model = BusinessCalendar
        fields = ("name", "time_zone", "always_open")

    def clean_import_ics(self) -> list[Any]:
        upload = self.cleaned_data.get("import_ics")
        if not upload:
            return []
        if upload.size > MAX_ICS_BYTES:
            raise ValidationError(_("The file is larger than 2 MB."))
        try:
            days, _skipped = parse_days(upload.read())
        except BadCalendarFile as error:
            raise ValidationError(_("Not an iCalendar file: %(error)s") % {"error": error}) from error
        if not days:
            raise ValidationError(_("The file holds no all-day events."))
        return days


MAX_ICS_BYTES = 2 * 1024 * 1024


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ConfigAdmin):
    """Hours and days edit inline; saving drops the cached clock (signals in services). An .ics file
    given on the form is imported after the inlines are saved, as `manage.py import_holidays` does."""

    form = BusinessCalendarForm
    list_display = ("name", "time_zone", "always_open")
    inlines = (BusinessHoursInline, CalendarDayInline)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        days = form.cleaned_data.get("import_ics") or []
        if days:
            counts = services.set_calendar_days(form.instance, days, by=request.user)
            self.message_user(
                request, _("Imported %(n)s days (%(new)s new, %(updated)s updated).")
                % {"n": len(days), "new": counts["created"], "updated": counts["updated"]},
            )  # fmt: skip

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A new calendar starts in the shop's time zone (`SHOP_TIME_ZONE`), not the model's fixed default."""
        return {"time_zone": settings.TIME_ZONE, **super().get_changeform_initial_data(request)}


@admin.register(SlaPolicy)
class SlaPolicyAdmin(ConfigAdmin):
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
