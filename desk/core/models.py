"""The one event log: every business action is a row here, written in the action's transaction."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Event(models.Model):
    """Who did what to which subject, when, with the state before and after.

    It feeds the ticket history, the customer timeline, the audit trail, notifications and
    webhooks. Subjects are referred to by (type, id) so `core` depends on no area app.
    """

    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=64, db_index=True)
    subject_type = models.CharField(max_length=32)
    subject_id = models.BigIntegerField(null=True, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    ticket_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "id"], name="event_subject_idx"),
            models.Index(fields=["customer_id", "id"], name="event_customer_idx"),
            models.Index(fields=["ticket_id", "id"], name="event_ticket_idx"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.verb} {self.subject_type}:{self.subject_id}"
