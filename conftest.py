"""The shared cast: every test gets people in every role cheaply."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from desk.accounts.models import Role
from desk.core.testing import make_customer, make_order, make_staff, make_team


@pytest.fixture(autouse=True, scope="session")
def _huey_runs_tasks_inline() -> Any:
    """Tasks run inline in tests; desk/core/tests/test_background_queue.py checks the real queue."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    yield
    HUEY.immediate = False


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> None:
    """Each test gets its own empty in-process cache.

    Cached grants and endpoints must not outlive a test's rolled-back rows, and parallel workers
    (each with its own database) must not share them through Redis. The Redis cache backend
    itself is checked in desk/core/tests/test_redis_cache.py.
    """
    # Locmem caches of the same LOCATION share storage, so each test names its own.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    from desk.core.held import drop_held_lists

    drop_held_lists()  # what a process holds under the old cache's stamps is read again too


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AXES_ENABLED = False


@pytest.fixture
def support_team(db: Any) -> Any:
    return make_team("support", "售后客服组")


@pytest.fixture
def other_team(db: Any) -> Any:
    return make_team("logistics", "物流组")


@pytest.fixture
def agent(support_team: Any) -> Any:
    return make_staff("agent", Role.AGENT, team=support_team)


@pytest.fixture
def senior_agent(support_team: Any) -> Any:
    return make_staff("senior", Role.SENIOR_AGENT, team=support_team)


@pytest.fixture
def supervisor(support_team: Any) -> Any:
    user = make_staff("supervisor", Role.SUPERVISOR, team=support_team)
    support_team.lead = user
    support_team.save(update_fields=["lead"])
    return user


@pytest.fixture
def manager(db: Any) -> Any:
    return make_staff("manager", Role.MANAGER)


@pytest.fixture
def warehouse_clerk(db: Any) -> Any:
    return make_staff("warehouse", Role.WAREHOUSE, team=make_team("warehouse", "仓储组"))


@pytest.fixture
def outsider(other_team: Any) -> Any:
    """An agent of another team: sees none of the support team's tickets."""
    return make_staff("outsider", Role.AGENT, team=other_team)


@pytest.fixture
def analyst(db: Any) -> Any:
    return make_staff("analyst", Role.ANALYST)


@pytest.fixture
def customer(db: Any) -> Any:
    return make_customer("王小明")


@pytest.fixture
def order(customer: Any) -> Any:
    return make_order(customer, items=2)


@pytest.fixture
def smtp_server(settings: Any) -> Any:
    """A real SMTP server (aiosmtpd) on a free port, with Django's SMTP backend pointed at it.

    Yields the list of received messages (`email.message.EmailMessage`), filled as mail arrives.
    """
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
            received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.EMAIL_USE_TLS = False
    try:
        yield received
    finally:
        controller.stop()
