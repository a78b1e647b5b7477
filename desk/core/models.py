"""The one event log: every business action is a row here, written in the action's transaction."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Event(models.Model):
    """Who did what to which subject, when, with the state before and after.

    It feeds the ticket history, the customer timeline, the audit trail, notifications and
    webhooks. Subjects are referred to by (type, id) so `core` depends on no area app.

    Every index is written for every event (a mass sweep writes 120,000 at once), so there is one
    per read that needs it: the subject's history, the customer's timeline, the ticket's history,
    a verb's newest events (the audit filter, the overview's breaches), the actor's events when a
    user is deleted (SET_NULL). Pages go by id, which grows with time: no index on `created_at`.
    The ticket and actor indexes leave out the rows without one (system events, case events).
    """

    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # event_actor_idx, partial
    )
    actor_label = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=64)
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
            models.Index(fields=["ticket_id", "id"], name="event_ticket_idx", condition=Q(ticket_id__isnull=False)),
            models.Index(fields=["verb", "id"], name="event_verb_idx"),
            models.Index(fields=["actor"], name="event_actor_idx", condition=Q(actor__isnull=False)),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.verb} {self.subject_type}:{self.subject_id}"
