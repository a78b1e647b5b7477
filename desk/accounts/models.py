"""Staff, teams, skills, permission tiers as data, API tokens and in-app notifications."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    AGENT = "agent", _("Agent")
    SENIOR_AGENT = "senior_agent", _("Senior agent")
    SUPERVISOR = "supervisor", _("Supervisor")
    MANAGER = "manager", _("Manager")
    QUALITY = "quality", _("Quality inspection")
    WAREHOUSE = "warehouse", _("Warehouse")
    LOGISTICS = "logistics", _("Logistics")
    TECH_SUPPORT = "tech_support", _("Tech support")
    LEGAL = "legal", _("Legal")
    ANALYST = "analyst", _("Data analyst")
    ADMIN = "admin", _("Administrator")
    INTEGRATION = "integration", _("Integration")


# Higher tiers take over what lower ones cannot approve (escalation "up the tiers").
ROLE_TIER = {
    Role.AGENT: 1,
    Role.SENIOR_AGENT: 2,
    Role.SUPERVISOR: 3,
    Role.MANAGER: 4,
    Role.ADMIN: 5,
}


class Skill(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)

    def __str__(self) -> str:
        return self.name


class AssignmentStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_OPEN = "least_open", _("Least open tickets")
    SKILLS = "skills", _("Skills, then least open")
    MANUAL = "manual", _("Manual (leave unassigned)")


class Team(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="led_teams"
    )
    assignment_strategy = models.CharField(
        max_length=20, choices=AssignmentStrategy.choices, default=AssignmentStrategy.LEAST_OPEN
    )
    # Round-robin pointer: the member who got the last ticket.
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalation_team = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, help_text=_("Where breaches go up to.")
    )

    def __str__(self) -> str:
        return self.name


class Availability(models.TextChoices):
    AVAILABLE = "available", _("Available")
    AWAY = "away", _("Away")


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.AGENT)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    skills = models.ManyToManyField(Skill, blank=True, related_name="staff")
    availability = models.CharField(max_length=10, choices=Availability.choices, default=Availability.AVAILABLE)
    max_open_tickets = models.PositiveIntegerField(default=50)

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def tier(self) -> int:
        return ROLE_TIER.get(Role(self.role), 0)


class RoleGrant(models.Model):
    """One permission a role holds; `limit_amount` caps money actions (refunds, goodwill)."""

    role = models.CharField(max_length=20, choices=Role.choices)
    action = models.CharField(max_length=50)
    limit_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "action"], name="rolegrant_unique")]

    def __str__(self) -> str:
        return f"{self.role}: {self.action}"


class ApiToken(models.Model):
    """A bearer token for a staff user or an integration user; only its hash is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    verb = models.CharField(max_length=64)
    text = models.CharField(max_length=500)
    link = models.CharField(max_length=200, blank=True)
    event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "read_at", "-id"], name="notification_inbox_idx")]
        ordering = ["-id"]


class StaffSession(AbstractBaseSession):
    """A signed-in staff session (the embedded default's session store, `desk.accounts.sessions`).

    Django's session row keeps the user id inside its encoded data, so every page read the session
    and then the user in a second statement. Here the user is a column too: the page reads both, with
    the staff profile, in one. Deleting a user ends their sessions.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta(AbstractBaseSession.Meta):
        db_table = "accounts_staff_session"

    @classmethod
    def get_session_store_class(cls) -> type[Any]:
        from desk.accounts.sessions import SessionStore

        return SessionStore
