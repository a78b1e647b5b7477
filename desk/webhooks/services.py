"""Webhook endpoints (managed with webhook.manage) and the delivery of events to them.

Every committed event becomes one WebhookDelivery row per active endpoint that wants its verb;
a Huey task sends it. The row is the source of truth: a worker claims it with a conditional
UPDATE (one row updated = this worker owns it), so two workers never send the same delivery,
and a worker that died mid-send leaves a claim that expires and is picked up again.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.core.bulk import insert_rows
from desk.core.events import EventFacts, diff, record_event
from desk.core.models import Event
from desk.webhooks.errors import BadEndpoint
from desk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from desk.webhooks.signing import sign

log = logging.getLogger(__name__)

BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 6 * 3600
CLAIM_MARGIN_SECONDS = 30
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?$")
_EDITABLE = ("name", "url", "event_types", "active")


# --- Endpoints -----------------------------------------------------------------------------------
def create_endpoint(
    *, by: Any, name: str, url: str, event_types: Iterable[str] = (), secret: str | None = None, active: bool = True
) -> WebhookEndpoint:
    """Subscribe a URL to events; without a secret, a strong one is generated (shown to the caller)."""
    authorize(by, "webhook.manage")
    fields = {"name": _clean_name(name), "url": _clean_url(url), "event_types": _clean_types(event_types)}
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(**fields, secret=_clean_secret(secret), active=active, created_by=by)
        record_event("webhook.endpoint_created", actor=by, subject=endpoint, after=fields | {"active": active})
    return endpoint


def update_endpoint(endpoint: WebhookEndpoint, *, by: Any, **changes: Any) -> WebhookEndpoint:
    """Change name, url, event types, active, or rotate the secret (`secret=`)."""
    authorize(by, "webhook.manage", subject=endpoint)
    cleaners: dict[str, Callable[[Any], Any]] = {
        "name": _clean_name,
        "url": _clean_url,
        "event_types": _clean_types,
        "active": bool,
    }
    clean = {k: cleaners[k](v) for k, v in changes.items() if k in cleaners and v is not None}
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = {k: getattr(endpoint, k) for k in _EDITABLE}
        for key, value in clean.items():
            setattr(endpoint, key, value)
        rotated = changes.get("secret") is not None
        if rotated:
            endpoint.secret = _clean_secret(changes["secret"])
        endpoint.save()
        b, a = diff(before, {k: getattr(endpoint, k) for k in _EDITABLE})
        record_event("webhook.endpoint_updated", actor=by, subject=endpoint, before=b, after=a,
                     data={"secret_rotated": rotated})  # fmt: skip
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint, *, by: Any) -> None:
    """Remove the endpoint and its delivery log."""
    authorize(by, "webhook.manage", subject=endpoint)
    with transaction.atomic():
        record_event("webhook.endpoint_deleted", actor=by, subject=endpoint,
                     before={"name": endpoint.name, "url": endpoint.url})  # fmt: skip
        endpoint.delete()


def redeliver(delivery: WebhookDelivery, *, by: Any) -> WebhookDelivery:
    """Send a delivery again now (e.g. a dead one after the receiver was fixed), with fresh attempts."""
    authorize(by, "webhook.manage", subject=delivery.endpoint)
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).exclude(status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, claimed_until=None
    )
    record_event("webhook.redelivered", actor=by, subject=delivery.endpoint, data={"delivery": delivery.pk})
    delivery.refresh_from_db()
    return delivery


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise BadEndpoint(_("Give the endpoint a name."), field="name")
    return name[:100]


def _clean_url(url: str) -> str:
    """http(s) only; private and loopback hosts only where settings allow them (not in production)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname or "", parts.port  # .port raises ValueError when out of range
    except ValueError:
        raise BadEndpoint(_("That is not a valid URL."), field="url") from None
    if parts.scheme not in ("http", "https") or not host or len(url) > 500:
        raise BadEndpoint(_("The URL must start with http:// or https:// and name a host."), field="url")
    if not settings.DESK_WEBHOOK_ALLOW_PRIVATE and _is_private(host):
        raise BadEndpoint(_("Webhooks may not point at private or local addresses."), field="url")
    return url


def _is_private(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local or address.is_reserved


def _clean_types(event_types: Iterable[str]) -> list[str]:
    """Exact verbs (ticket.created) or a family (ticket.*); empty means every event."""
    clean = sorted({t.strip() for t in event_types if t and t.strip()})
    bad = [t for t in clean if len(t) > 64 or not _EVENT_TYPE.match(t)]
    if bad or len(clean) > 50:
        raise BadEndpoint(
            _("Event types look like 'ticket.created' or 'ticket.*' (at most 50): %(bad)s") % {"bad": bad[:3]},
            field="event_types",
        )
    return clean


def check_endpoint_field(field: str, value: Any) -> Any:
    """The check create_endpoint/update_endpoint make on one field (name, url, event_types), for forms
    that show each field's error beside it (the admin) before the service is called."""
    cleaners: dict[str, Callable[[Any], Any]] = {"name": _clean_name, "url": _clean_url, "event_types": _clean_types}
    return cleaners[field](value)


def generate_secret() -> str:
    """A strong signing secret, for a new endpoint or a rotation."""
    return secrets.token_urlsafe(32)


def _clean_secret(secret: str | None) -> str:
    if secret is None:
        return generate_secret()
    if not 16 <= len(secret) <= 100:
        raise BadEndpoint(_("A secret must be 16 to 100 characters long."), field="secret")
    return secret


# --- Deliveries ----------------------------------------------------------------------------------
# Changes to the webhooks themselves stay in the audit trail: sending them would loop.
_NOT_SENT = "webhook."
_ENDPOINTS_KEY = "desk:webhooks:active:v1"
_ENDPOINTS_SECONDS = 30


def active_endpoints() -> list[WebhookEndpoint]:
    """Read on every event, changed rarely: cached, and dropped when an endpoint is saved."""
    endpoints = cache.get(_ENDPOINTS_KEY)
    if endpoints is None:
        endpoints = list(WebhookEndpoint.objects.filter(active=True))
        cache.set(_ENDPOINTS_KEY, endpoints, _ENDPOINTS_SECONDS)
    return endpoints


@receiver([post_save, post_delete], sender=WebhookEndpoint)
def _forget_endpoints(**kwargs: Any) -> None:
    cache.delete(_ENDPOINTS_KEY)


def create_deliveries(events: Sequence[EventFacts]) -> list[int]:
    """One pending delivery per active endpoint that wants the verb, in the event's transaction.

    Written beside the event (an outbox), so a crash after commit loses nothing: the periodic
    retry job finds pending rows whose send job never ran.
    """
    events = [e for e in events if not e.verb.startswith(_NOT_SENT)]
    endpoints = active_endpoints() if events else []
    if not endpoints:
        return []
    now = timezone.now()
    wanted: dict[str, list[int]] = {}  # the endpoints per verb, worked out once (a sweep writes 100,000s of one verb)
    rows = []
    for event in events:
        endpoint_ids = wanted.get(event.verb)
        if endpoint_ids is None:
            endpoint_ids = wanted[event.verb] = [e.pk for e in endpoints if e.wants(event.verb)]
        rows += [(pk, event.pk, now) for pk in endpoint_ids]
    return insert_rows(WebhookDelivery, ["endpoint_id", "event_id", "next_attempt_at"], rows)


# Areas add facts about an event's subject to the body (e.g. "case" for after-sales cases), keyed by subject type.
SubjectDescriber = Callable[[Event], dict[str, Any]]
_describers: dict[str, SubjectDescriber] = {}


def describe_subject(subject_type: str, describer: SubjectDescriber) -> None:
    """Register what integrators get about subjects of this type (called from an app's ready())."""
    _describers[subject_type] = describer


def payload_for(event: Event) -> dict[str, Any]:
    """The JSON body receivers get; documented in docs/webhooks.md."""
    describer = _describers.get(event.subject_type)
    extra = describer(event) if describer is not None and event.subject_id is not None else {}
    return extra | {
        "id": event.pk,
        "verb": event.verb,
        "created_at": event.created_at.isoformat(),
        "actor": {"id": event.actor_id, "label": event.actor_label},
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "ticket_id": event.ticket_id,
        "customer_id": event.customer_id,
        "before": event.before,
        "after": event.after,
        "data": event.data,
    }


def deliver(delivery_id: int) -> WebhookDelivery | None:
    """Claim, send and record one delivery; None when another worker owns it or it is not due."""
    claim = claim_delivery(delivery_id)
    if claim is None:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    _record(delivery, claim, *_send(delivery))
    delivery.refresh_from_db()
    return delivery


def due_delivery_ids(limit: int = 200) -> list[int]:
    """Deliveries whose retry time has come (or whose worker died), oldest due first."""
    now = timezone.now()
    return list(
        WebhookDelivery.objects.filter(_claimable(now)).order_by("next_attempt_at").values_list("id", flat=True)[:limit]
    )


def _claimable(now: datetime) -> Q:
    waiting = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED], next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    abandoned = Q(status=DeliveryStatus.SENDING, claimed_until__lt=now)
    return (waiting | abandoned) & Q(endpoint__active=True)


def claim_delivery(delivery_id: int) -> datetime | None:
    """The conditional UPDATE: exactly one worker sees 1 row updated, and gets the claim's expiry.

    The expiry doubles as the claim's identity: a worker whose claim lapsed and was taken over
    cannot overwrite the newer attempt's result.
    """
    now = timezone.now()
    until = now + timedelta(seconds=settings.DESK_WEBHOOK_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS)
    claimed = WebhookDelivery.objects.filter(_claimable(now), pk=delivery_id).update(
        status=DeliveryStatus.SENDING, claimed_until=until, attempts=F("attempts") + 1
    )
    return until if claimed == 1 else None


def _send(delivery: WebhookDelivery) -> tuple[int | None, str, str]:
    """POST the signed body; returns (status code, response excerpt, error)."""
    body = json.dumps(payload_for(delivery.event), ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "desk-webhooks/1",
        "X-Desk-Event": delivery.event.verb,
        "X-Desk-Delivery": str(delivery.pk),
        "X-Desk-Timestamp": timestamp,
        "X-Desk-Signature": sign(delivery.endpoint.secret, timestamp, body),
    }
    try:
        url, headers["Host"], extensions = pinned_target(delivery.endpoint.url, settings.DESK_WEBHOOK_ALLOW_PRIVATE)
    except BadEndpoint as refused:
        return None, "", refused.message[:500]
    try:
        with httpx.Client(timeout=settings.DESK_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        return None, "", f"{type(exc).__name__}: {exc}"[:500]
    return response.status_code, response.text[:500], ""


def pinned_target(url: str, allow_private: bool) -> tuple[str, str, dict[str, Any]]:
    """Resolve the endpoint's host now and connect to that address (refusing private ones unless allowed).

    A name that passed the check when the endpoint was saved may later resolve to an internal
    address (a changed DNS record, or rebinding between a check and the connect). So the desk
    resolves once per attempt, refuses if any address is private, and sends to the checked address
    itself: the URL carries the IP, the Host header and the TLS name (SNI, certificate check) the name.
    Returns (url to connect to, Host header, httpx request extensions).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise BadEndpoint(_("The endpoint's host %(host)s could not be resolved.") % {"host": host}) from None
    addresses = [str(info[4][0]).split("%", 1)[0] for info in found]
    private = [] if allow_private else [a for a in addresses if _is_private(a)]
    if not addresses or private:
        raise BadEndpoint(
            _("The endpoint's host %(host)s resolves to a private or local address (%(address)s); not sent.")
            % {"host": host, "address": (private or ["-"])[0]}
        )
    address = addresses[0]
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return pinned, host_header, extensions


def _record(delivery: WebhookDelivery, claim: datetime, status_code: int | None, excerpt: str, error: str) -> None:
    """Succeeded on 2xx; otherwise retry later with backoff, or give up after the last attempt."""
    now = timezone.now()
    ok = status_code is not None and 200 <= status_code < 300
    fields: dict[str, Any] = {
        "claimed_until": None, "last_status_code": status_code, "response_excerpt": excerpt,
        "last_error": "" if ok else (error or f"HTTP {status_code}"),
    }  # fmt: skip
    if ok:
        fields |= {"status": DeliveryStatus.SUCCEEDED, "delivered_at": now}
    elif delivery.attempts >= settings.DESK_WEBHOOK_MAX_ATTEMPTS:
        fields |= {"status": DeliveryStatus.DEAD}
        log.warning("webhook delivery %s gave up after %s attempts", delivery.pk, delivery.attempts)
    else:
        fields |= {"status": DeliveryStatus.FAILED, "next_attempt_at": now + backoff(delivery.attempts)}
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING, claimed_until=claim).update(**fields)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at 6 h, each ±20% so failed receivers are not hit in bursts."""
    base = min(BASE_DELAY_SECONDS * 2 ** max(attempts - 1, 0), MAX_DELAY_SECONDS)
    jitter = 0.8 + secrets.randbelow(401) / 1000  # 0.8 .. 1.2
    return timedelta(seconds=base * jitter)
