"""Tickets (工单): numbers, types, status, owner, messages, notes, attachments, routing data."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from desk.accounts.models import Skill, Team
from desk.customers.models import Channel, Customer, Tier
from desk.orders.models import Order, OrderItem

TICKET_PREFIX = "TK"


class RequestType(models.Model):
    """诉求类型: extendable by admins; `is_complex` problems get the 4-hour human target."""

    code = models.SlugField(max_length=40, unique=True)
    name_zh = models.CharField(max_length=60)
    name_en = models.CharField(max_length=60)
    is_complex = models.BooleanField(default=False)
    required_skill = models.ForeignKey(Skill, null=True, blank=True, on_delete=models.SET_NULL)
    active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.name_en

    def label(self, language: str | None) -> str:
        return self.name_en if (language or "").startswith("en") else self.name_zh


class Priority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING_CUSTOMER = "pending_customer", _("Pending customer")
    PENDING_INTERNAL = "pending_internal", _("Pending internal")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING_CUSTOMER, Status.PENDING_INTERNAL)


class SlaState(models.TextChoices):
    NONE = "none", _("No target")
    OK = "ok", _("On track")
    WARNING = "warning", _("Breaching soon")
    BREACHED = "breached", _("Breached")
    PAUSED = "paused", _("Paused")
    MET = "met", _("All met")


class TicketTag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    request_type = models.ForeignKey(RequestType, on_delete=models.PROTECT, related_name="tickets")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    # customer has no single-column index: ticket_customer_idx (customer, -id) starts with it, and every
    # ticket update that moves it writes one index less. team and assignee keep theirs (see tickets/0005).
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="tickets", db_index=False)
    customer_tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.REGULAR)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets")
    order_items = models.ManyToManyField(OrderItem, blank=True, related_name="tickets")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_tickets"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.ManyToManyField(TicketTag, blank=True, related_name="tickets")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged")
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    first_responded_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    human_contacted_at = models.DateTimeField(null=True, blank=True)
    solution_proposed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The earliest running SLA deadline and the worst state, kept in step by the SLA service.
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_state = models.CharField(max_length=10, choices=SlaState.choices, default=SlaState.NONE)
    # jieba tokens of subject, description and messages, lower-cased and space separated.
    search_text = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["status", "-id"], name="ticket_status_idx"),
            models.Index(fields=["assignee", "status", "-id"], name="ticket_assignee_idx"),
            models.Index(fields=["team", "status", "-id"], name="ticket_team_idx"),
            # A team's queue narrowed to one priority ("our urgent tickets"), newest first: without
            # it the walk over the team's tickets reads every newer ticket of other priorities.
            models.Index(fields=["team", "priority", "-id"], name="ticket_team_priority_idx"),
            models.Index(fields=["customer", "-id"], name="ticket_customer_idx"),
            models.Index(fields=["sla_state", "sla_due_at"], name="ticket_sla_idx"),
            # The overview groups open tickets by these; status first keeps closed ones out of the scan.
            models.Index(fields=["status", "team", "sla_state"], name="ticket_open_team_sla_idx"),
            models.Index(fields=["resolved_at"], name="ticket_resolved_idx"),
            models.Index(fields=["closed_at"], name="ticket_closed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def number(self) -> str:
        """Human-readable and unique without a second write: derived from the primary key."""
        return f"{TICKET_PREFIX}{self.pk:07d}" if self.pk else ""

    @staticmethod
    def pk_from_number(number: str) -> int | None:
        text = number.strip().upper().lstrip("#")
        if text.startswith(TICKET_PREFIX):
            text = text[len(TICKET_PREFIX) :]
        return int(text) if text.isdigit() else None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class MessageKind(models.TextChoices):
    CUSTOMER = "customer", _("From the customer")
    REPLY = "reply", _("Public reply")
    NOTE = "note", _("Internal note")


class TicketMessage(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    body = models.TextField()
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]


class Attachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        TicketMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to="attachments/%Y/%m/")
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)


class RoutingRule(models.Model):
    """Routing as data: the first active rule (lowest position) whose conditions all hold wins."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    request_type = models.ForeignKey(RequestType, null=True, blank=True, on_delete=models.CASCADE)
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    customer_tier = models.CharField(max_length=10, choices=Tier.choices, blank=True)
    keywords = models.CharField(
        max_length=300, blank=True, help_text=_("Comma separated; any one found in subject or description matches.")
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="routing_rules")
    set_priority = models.PositiveSmallIntegerField(choices=Priority.choices, null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


# What a canned reply's body may name in braces; the ticket page fills them in (`fill_placeholders`).
CANNED_PLACEHOLDERS = ("customer_name", "ticket_number", "order_number", "agent_name")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def unknown_placeholders(body: str) -> list[str]:
    """The `{…}` in the body that are not placeholders ({order.number}, {0}, {name!r}), in order, once each."""
    return list(dict.fromkeys(name for name in _PLACEHOLDER.findall(body) if name not in CANNED_PLACEHOLDERS))


def fill_placeholders(body: str, values: dict[str, str]) -> str:
    """Replace the known `{name}`s; anything else in braces stays as written.

    Not `str.format`: it would evaluate `{order.number}` or `{0}` and fail, and a canned reply is
    configuration typed in the admin, so one mistake must not break every ticket page.
    """
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]) if m[1] in CANNED_PLACEHOLDERS else m[0], body)


class CannedReply(models.Model):
    """快捷回复: body may use {customer_name}, {ticket_number}, {order_number}, {agent_name}."""

    title = models.CharField(max_length=100)
    body = models.TextField()
    language = models.CharField(max_length=10, default="zh-hans")
    request_type = models.ForeignKey(RequestType, null=True, blank=True, on_delete=models.SET_NULL)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        """The admin refuses a body naming a placeholder that does not exist, and says which do."""
        unknown = unknown_placeholders(self.body or "")
        if unknown:
            raise ValidationError(
                {
                    "body": _("Unknown placeholder %(unknown)s. Allowed: %(allowed)s.")
                    % {
                        "unknown": ", ".join("{" + name + "}" for name in unknown),
                        "allowed": ", ".join("{" + name + "}" for name in CANNED_PLACEHOLDERS),
                    }
                }
            )
