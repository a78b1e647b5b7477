"""Permission-scoped reads of webhook endpoints and their delivery log (webhook.manage only)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from desk.accounts.permissions import authorize
from desk.webhooks.errors import EndpointNotFound
from desk.webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoints_for(user: Any) -> QuerySet[WebhookEndpoint]:
    """Webhooks carry secrets, so even reading them needs webhook.manage (403 otherwise)."""
    authorize(user, "webhook.manage")
    return WebhookEndpoint.objects.order_by("id")


def get_endpoint_for(user: Any, endpoint_id: int) -> WebhookEndpoint:
    endpoint = endpoints_for(user).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise EndpointNotFound(f"No webhook {endpoint_id}.")
    return endpoint


def deliveries_of(endpoint: WebhookEndpoint, *, status: str | None = None) -> QuerySet[WebhookDelivery]:
    """The delivery log, newest first, with the event's verb fetched in the same query."""
    qs = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-id")
    return qs.filter(status=status) if status else qs


def get_delivery_of(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    delivery = deliveries_of(endpoint).filter(pk=delivery_id).first()
    if delivery is None:
        raise EndpointNotFound(f"No delivery {delivery_id}.", code="webhook.delivery_not_found")
    return delivery
