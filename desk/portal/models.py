"""The customer portal's own data: one-time login codes, portal sessions, and the simulated SMS outbox.

Only hashes are stored: a code's HMAC (the code itself leaves the process once, by email or SMS)
and a session token's SHA-256 (the raw token lives only in the customer's Django session).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from desk.customers.models import Customer
from desk.orders.models import Order


class CodeChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class LoginCode(models.Model):
    """One request for a login code, keyed by a hash of (order number, phone or email).

    A row is written for every request, matched or not (then `customer` is empty and the code is
    sent nowhere), so the answers, the resend throttle and the attempt limit look the same whether
    or not the order number exists.
    """

    lookup = models.CharField(max_length=64, db_index=True)  # sha256 of the normalised order number + contact
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=5, choices=CodeChannel.choices)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lookup", "-created_at"], name="portal_code_lookup_idx")]

    def __str__(self) -> str:
        return f"login code #{self.pk}"


class PortalSession(models.Model):
    """A customer's portal login: what the browser holds is a random token; this row holds its hash."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="portal_sessions")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"portal session #{self.pk}"


class SimulatedSms(models.Model):
    """The outbox of the simulated SMS gateway (no real gateway exists here): what would have been texted."""

    phone = models.CharField(max_length=32)
    body = models.CharField(max_length=500)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        verbose_name = "simulated SMS"
        verbose_name_plural = "simulated SMS"

    def __str__(self) -> str:
        return f"SMS to {self.phone}"
