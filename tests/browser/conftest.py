"""Playwright driving Debian's chromium against Django's live server (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Debian's chromium is not installed (apt-get install -y chromium fonts-noto-cjk)")
        pytest.skip("chromium is not installed here (apt-get install -y chromium fonts-noto-cjk); CI runs these")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = _chromium()
    # Playwright's sync API runs its own event loop; Django must allow ORM calls from this thread.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def seeded(transactional_db: Any) -> None:
    """Put back the rows the data migrations seed (request types, grants, return policy, compensation kinds).

    The live server needs committed rows, so these tests are transactional and each one ends by
    flushing the database, seeded rows included.
    """
    from django.apps import apps as django_apps
    from django.core.cache import cache

    from desk.accounts.models import RoleGrant
    from desk.accounts.permissions import DEFAULT_GRANTS
    from desk.core.held import drop_held_lists
    from desk.tickets.models import RequestType

    types = importlib.import_module("desk.tickets.migrations.0002_default_request_types").TYPES
    for position, (code, zh, en, is_complex) in enumerate(types):
        RequestType.objects.get_or_create(
            code=code, defaults={"name_zh": zh, "name_en": en, "is_complex": is_complex, "sort_order": position * 10}
        )
    for role, grants in DEFAULT_GRANTS.items():
        for action, limit in grants:
            RoleGrant.objects.get_or_create(role=str(role), action=action, defaults={"limit_amount": limit})
    for migration in ("0002_default_return_policy", "0004_compensation_kinds"):  # the default policy, the catalogue
        importlib.import_module(f"desk.cases.migrations.{migration}").seed(django_apps, None)
    cache.clear()
    drop_held_lists()


@pytest.fixture
def screenshot() -> Any:
    SCREENSHOTS.mkdir(exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
