"""Steps the browser tests share."""

from __future__ import annotations

import re
from typing import Any


def log_in(page: Any, live_server: Any, username: str) -> None:
    """Sign a seeded staff user in through the login page and wait for the queue."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "desk-pass-123")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/$"))
