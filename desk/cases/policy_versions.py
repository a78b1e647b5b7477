"""Which return policy versions exist: read on every request for a case, changed rarely (the admin).

Each process keeps the active versions' selection facts (policy SKU, category, storefront, effective
date, version number: no policy content) and re-reads them when a policy or a version is saved or
deleted anywhere (a stamp in the shared cache changes), or after `HOLD_SECONDS` at most, for
writes that send no signal (`QuerySet.update`). The chosen version itself is read from the
database on each call, so its terms are always current.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db import transaction

from desk.cases.models import PolicyVersion

STAMP_KEY = "desk:cases:policy-versions:v1"
HOLD_SECONDS = 30.0


class Candidate(NamedTuple):
    version_id: int
    sku: str
    category: str
    storefront_id: int | None
    effective_from: datetime
    version: int

    @property
    def specificity(self) -> int:
        if self.sku:
            return 3
        if self.category:
            return 2
        return 1 if self.storefront_id else 0


_held: tuple[str, float, list[Candidate]] = ("", 0.0, [])


def active_versions() -> list[Candidate]:
    """The active policies' versions (any effective date), as this process last read them."""
    global _held
    stamp = _stamp()
    held_stamp, read_at, candidates = _held
    if held_stamp == stamp and time.monotonic() - read_at < HOLD_SECONDS:
        return candidates
    rows = PolicyVersion.objects.filter(policy__active=True).values_list(
        "pk", "policy__sku", "policy__category", "policy__storefront_id", "effective_from", "version"
    )
    candidates = [Candidate(*row) for row in rows]
    _held = (stamp, time.monotonic(), candidates)
    return candidates


def in_force(
    candidates: Iterable[Candidate], skus: set[str], categories: set[str], storefront_id: int | None, at: datetime
) -> Candidate | None:
    """The most specific version in force at `at` (SKU, category, storefront, default), latest first."""

    def applies(c: Candidate) -> bool:  # the SKU's policy, else its category's, else the storefront's or the default
        if c.sku in skus:
            return True
        if c.sku:
            return False
        if c.category in categories:
            return True
        return not c.category and (c.storefront_id is None or c.storefront_id == storefront_id)

    matching = [c for c in candidates if c.effective_from <= at and applies(c)]
    return max(matching, key=lambda c: (c.specificity, c.effective_from, c.version), default=None)


def forget(**kwargs: Any) -> None:
    """A policy or version changed: every process re-reads (now, and once the change commits)."""
    cache.delete(STAMP_KEY)
    transaction.on_commit(lambda: cache.delete(STAMP_KEY))


def _stamp() -> str:
    stamp = cache.get(STAMP_KEY)
    if stamp is None:
        cache.add(STAMP_KEY, uuid.uuid4().hex, None)
        stamp = cache.get(STAMP_KEY) or ""
    return str(stamp)
