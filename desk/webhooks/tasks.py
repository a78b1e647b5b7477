"""Huey jobs that send webhooks. They take ids and are idempotent: the claim decides who sends."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from desk.core.events import EventFacts
from desk.webhooks import services

log = logging.getLogger(__name__)


@db_task()
def deliver_webhook(delivery_id: int) -> None:
    services.deliver(delivery_id)


@db_periodic_task(crontab(minute="*"))
def retry_due_webhooks() -> int:
    """Every minute: enqueue deliveries whose backoff has elapsed (or whose worker died)."""
    ids = services.due_delivery_ids()
    for delivery_id in ids:
        deliver_webhook(delivery_id)
    return len(ids)


def schedule_deliveries(events: Sequence[EventFacts]) -> None:
    """The event-log writer (registered in WebhooksConfig.ready): rows now, the send jobs on commit."""
    ids = services.create_deliveries(events)
    if ids:
        transaction.on_commit(lambda: _send_all(ids))


@db_task()
def deliver_webhooks(delivery_ids: list[int]) -> None:
    """Many deliveries in one job (a mass SLA sweep writes 100,000s): one queue write per chunk."""
    for delivery_id in delivery_ids:
        services.deliver(delivery_id)


SEND_CHUNK = 50


def _send_all(ids: list[int]) -> None:
    if len(ids) <= SEND_CHUNK:  # the usual case: a job each, sent in parallel by the workers
        for delivery_id in ids:
            deliver_webhook(delivery_id)
        return
    for start in range(0, len(ids), SEND_CHUNK):
        deliver_webhooks(ids[start : start + SEND_CHUNK])
