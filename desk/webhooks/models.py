"""Outbound webhooks: subscriptions per event type, signed deliveries, a delivery log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from desk.core.models import Event


class WebhookEndpoint(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, help_text=_("Signs each body with HMAC-SHA256."))
    event_types = models.JSONField(default=list, blank=True, help_text=_("Empty means every event."))
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def wants(self, verb: str) -> bool:
        if not self.event_types:
            return True
        prefix = verb.split(".", 1)[0] + ".*"
        return verb in self.event_types or prefix in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Gave up")


class WebhookDelivery(models.Model):
    # Keeps its own index although delivery_unique (endpoint, event) starts with it: the delivery log walks an
    # endpoint's deliveries newest first by id, which the single-column index gives in order.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_unique")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="delivery_due_idx", condition=Q(status__in=["pending", "failed"])
            )
        ]
        ordering = ["-id"]
