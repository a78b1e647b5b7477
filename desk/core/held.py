"""Configuration read on every request and changed rarely, kept in each process under a shared stamp.

Request types, routing rules and SLA policies were cached as pickled lists of model instances:
every new ticket unpickled three of them (more Python than the ticket's own INSERT). Now the
shared cache holds only a stamp per list. Each process keeps the list it last read with the stamp
it read it under, and returns that list while the stamp in the cache is the same; saving or
deleting a row anywhere drops the stamp (`forget`, from the models' signals), and the stamp
expires after `seconds`, so every process reads the database again on its next call. With the
per-process cache (no Redis) other processes see a change within `seconds`, as before.

A process asks the shared cache for the stamp at most once every `CHECK_EVERY` seconds: a Redis read
cost ~0.2 ms of CPU, and a ticket page asked three times. So another process sees a change within a
second; the process that saved it sees it at once.

The list and its objects are shared by every caller in the process: read them, never change them.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Callable
from time import monotonic
from typing import Any, Generic, TypeVar

from django.core.cache import cache

T = TypeVar("T")
CHECK_EVERY = 1.0  # seconds between two looks at the shared stamp, per process and list
_ALL: weakref.WeakSet[Held[Any]] = weakref.WeakSet()


class Held(Generic[T]):
    """`Held("desk:x:v1", lambda: list(X.objects.all()), 60)()` → the list, read once per stamp."""

    def __init__(self, key: str, load: Callable[[], list[T]], seconds: int) -> None:
        self.key = key
        self._load = load
        self.seconds = seconds
        self._held: tuple[str, list[T]] | None = None
        self._checked_at = float("-inf")  # when the shared stamp last matched the held list
        self._lock = threading.Lock()
        _ALL.add(self)

    def __call__(self) -> list[T]:
        held = self._held
        now = monotonic()
        if held is not None and now - self._checked_at < CHECK_EVERY:
            return held[1]
        stamp = cache.get(self.key)
        if held is not None and stamp is not None and held[0] == stamp:
            self._checked_at = now
            return held[1]
        if stamp is None:
            # The stamp goes in before the read: a change saved meanwhile drops it again, so the next
            # call reads once more instead of keeping what was read before the change for `seconds`.
            cache.add(self.key, uuid.uuid4().hex, self.seconds)
            stamp = cache.get(self.key)
        value = self._load()
        if stamp is not None:
            with self._lock:
                self._held, self._checked_at = (str(stamp), value), now
        return value

    def forget(self, *args: Any, **kwargs: Any) -> None:
        """Drop the stamp everywhere and this process's list (usable as a signal receiver)."""
        with self._lock:
            self._held, self._checked_at = None, float("-inf")
        cache.delete(self.key)


def drop_held_lists() -> None:
    """Every list this process holds, read again on its next call (tests: each starts with a new cache)."""
    for one in list(_ALL):
        with one._lock:
            one._held, one._checked_at = None, float("-inf")
