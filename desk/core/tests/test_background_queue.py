"""The job queue the deployment uses (Redis when REDIS_URL is set, SQLite otherwise) really round-trips."""

from __future__ import annotations

import uuid

from django.conf import settings
from huey import RedisHuey, SqliteHuey


def _queue(tmp_path):
    name = f"desk-test-{uuid.uuid4().hex[:8]}"
    if settings.REDIS_URL:
        return RedisHuey(name=name, url=settings.REDIS_URL)
    return SqliteHuey(name=name, filename=str(tmp_path / "huey.sqlite3"))


def test_enqueued_task_survives_in_storage_and_runs_once(tmp_path):
    huey = _queue(tmp_path)
    calls = []

    @huey.task()
    def add(a, b):
        calls.append((a, b))
        return a + b

    result = add(2, 3)
    assert calls == []  # stored, not run: a worker picks it up
    assert huey.pending_count() == 1
    task = huey.dequeue()
    huey.execute(task)
    assert calls == [(2, 3)]
    assert result.get() == 5
    assert huey.pending_count() == 0
    huey.storage.flush_all()
