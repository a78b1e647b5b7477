"""Webhook endpoints and their delivery log over the API (webhook.manage)."""

from __future__ import annotations

from typing import Any

from ninja import Query, Router, Status

from desk.core.api import ERRORS, AuthedRequest, Id, PageParams, paginate
from desk.webhooks import queries, services
from desk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from desk.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    EndpointIn,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    EndpointWithSecretOut,
)

router = Router(tags=["webhooks"])


def _endpoint_out(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {f: getattr(endpoint, f) for f in ("id", "name", "url", "event_types", "active", "created_at")}


def _delivery_out(d: WebhookDelivery) -> dict[str, Any]:
    fields = ("id", "event_id", "status", "attempts", "next_attempt_at", "last_status_code", "last_error",
              "response_excerpt", "created_at", "delivered_at")  # fmt: skip
    return {f: getattr(d, f) for f in fields} | {"verb": d.event.verb}


@router.get("/webhooks", response={200: EndpointPage, **ERRORS})
def list_endpoints(request: AuthedRequest, page: Query[PageParams]) -> Any:
    """The endpoints, oldest first, a page at a time like every list (no secrets)."""
    result = paginate(queries.endpoints_for(request.auth), page)
    return result | {"items": [_endpoint_out(e) for e in result["items"]]}


@router.post("/webhooks", response={201: EndpointWithSecretOut, **ERRORS})
def create_endpoint(request: AuthedRequest, payload: EndpointIn) -> Any:
    """Subscribe a URL; the answer holds the signing secret (keep it to verify X-Desk-Signature)."""
    endpoint = services.create_endpoint(by=request.auth, **payload.dict())
    return Status(201, _endpoint_out(endpoint) | {"secret": endpoint.secret})


@router.get("/webhooks/{endpoint_id}", response={200: EndpointOut, **ERRORS})
def get_endpoint(request: AuthedRequest, endpoint_id: Id) -> Any:
    return _endpoint_out(queries.get_endpoint_for(request.auth, endpoint_id))


@router.patch("/webhooks/{endpoint_id}", response={200: EndpointOut, **ERRORS})
def update_endpoint(request: AuthedRequest, endpoint_id: Id, payload: EndpointPatch) -> Any:
    endpoint = queries.get_endpoint_for(request.auth, endpoint_id)
    return _endpoint_out(services.update_endpoint(endpoint, by=request.auth, **payload.dict()))


@router.delete("/webhooks/{endpoint_id}", response={204: None, **ERRORS})
def delete_endpoint(request: AuthedRequest, endpoint_id: Id) -> Any:
    services.delete_endpoint(queries.get_endpoint_for(request.auth, endpoint_id), by=request.auth)
    return Status(204, None)


@router.get("/webhooks/{endpoint_id}/deliveries", response={200: DeliveryPage, **ERRORS})
def list_deliveries(
    request: AuthedRequest, endpoint_id: Id, page: Query[PageParams], status: DeliveryStatus | None = None
) -> Any:
    """The delivery log, newest first: attempts, last status code, error and response excerpt."""
    endpoint = queries.get_endpoint_for(request.auth, endpoint_id)
    result = paginate(queries.deliveries_of(endpoint, status=status), page)
    return result | {"items": [_delivery_out(d) for d in result["items"]]}


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver", response={200: DeliveryOut, **ERRORS})
def redeliver(request: AuthedRequest, endpoint_id: Id, delivery_id: Id) -> Any:
    """Send again now with fresh attempts, e.g. a dead delivery after the receiver was fixed."""
    from desk.webhooks.tasks import deliver_webhook  # the API schedules; tasks import services

    endpoint = queries.get_endpoint_for(request.auth, endpoint_id)
    delivery = services.redeliver(queries.get_delivery_of(endpoint, delivery_id), by=request.auth)
    deliver_webhook(delivery.pk)
    delivery.refresh_from_db()
    return _delivery_out(delivery)
