"""Service levels as data: business calendars, policies, and one stored deadline per target."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from desk.customers.models import Channel, Tier
from desk.sla.calendar import CalendarUnusable, zone_named
from desk.tickets.models import Priority, RequestType, Ticket


class BusinessCalendar(models.Model):
    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=50, default="Asia/Shanghai")
    always_open = models.BooleanField(default=False, help_text=_("7×24: every minute counts."))

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A mistyped zone ("Asia/Shangai") is refused in the admin instead of failing every deadline.

        Opening hours are rows of their own (edited inline): the admin's hours formset requires at
        least one unless the calendar is 7×24 (`desk.sla.admin.BusinessHoursFormSet`).
        """
        try:
            zone_named(self.time_zone)
        except CalendarUnusable:
            raise ValidationError(
                {"time_zone": _("Unknown time zone %(zone)s: use an IANA name such as Asia/Shanghai.")
                 % {"zone": self.time_zone}}
            ) from None  # fmt: skip


class BusinessHours(models.Model):
    """One opening slot on a weekday (0 = Monday); a day may have several slots."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField()
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens"]


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Holiday (closed)")
    WORKDAY = "workday", _("Make-up working day (调休)")


class CalendarDay(models.Model):
    """An exception to the week: a public holiday, or a weekend day worked in exchange (调休)."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="days")
    date = models.DateField()
    kind = models.CharField(max_length=10, choices=DayKind.choices)
    name = models.CharField(max_length=100, blank=True)
    # A make-up working day keeps the hours of this weekday (Monday by default).
    hours_of_weekday = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="calendarday_unique")]
        ordering = ["date"]


class SlaPolicy(models.Model):
    """Chosen by request type, priority, channel and tier: the first matching policy by position."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    request_type = models.ForeignKey(RequestType, null=True, blank=True, on_delete=models.CASCADE)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, null=True, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    customer_tier = models.CharField(max_length=10, choices=Tier.choices, blank=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT)
    human_calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Calendar of the human-contact target (a complex problem gets a person within 4 h, 7×24: "
        "a bot or message-taking covers the night). Empty: the policy's calendar.",
    )
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True, default=60)
    accept_minutes = models.PositiveIntegerField(null=True, blank=True, default=120)
    human_minutes = models.PositiveIntegerField(null=True, blank=True, default=240)
    solution_minutes = models.PositiveIntegerField(null=True, blank=True, default=24 * 60)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    warn_at_percent = models.PositiveSmallIntegerField(default=80)
    escalate_notify_supervisor = models.BooleanField(default=True)
    escalate_raise_priority = models.BooleanField(default=True)
    escalate_reassign_up = models.BooleanField(default=False)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name


class Metric(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    ACCEPT = "accept", _("Confirmed (owner accepted)")
    HUMAN = "human", _("Human contact (complex)")
    SOLUTION = "solution", _("Solution proposed")
    RESOLUTION = "resolution", _("Resolution")


class TargetStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    MET = "met", _("Met")
    MISSED = "missed", _("Met late")
    CANCELLED = "cancelled", _("Cancelled")


class SlaTarget(models.Model):
    """One target of one ticket with its absolute deadline; the sweep claims rows by state.

    While paused `due_at` is cleared and `used_seconds` keeps the business time already spent,
    so resuming recomputes the deadline from the calendar.
    """

    # No index of its own: slatarget_unique (ticket, metric) serves lookups by ticket, and one index
    # fewer to write on every claim of a mass sweep.
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_targets", db_index=False)
    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT)
    metric = models.CharField(max_length=20, choices=Metric.choices)
    target_seconds = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=TargetStatus.choices, default=TargetStatus.RUNNING)
    started_at = models.DateTimeField()
    resumed_at = models.DateTimeField(null=True, blank=True)
    used_seconds = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "metric"], name="slatarget_unique")]
        indexes = [
            models.Index(fields=["warn_at"], name="slatarget_warn_idx", condition=Q(status="running", warned_at=None)),
            models.Index(fields=["due_at"], name="slatarget_due_idx", condition=Q(status="running", breached_at=None)),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.metric} {self.status}"
