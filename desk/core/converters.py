"""Path converters for ids and references in page URLs, bounded so an oversized id is a 404.

`<int:pk>` takes any number of digits: a 25-digit id reached the database and failed there
(OverflowError on SQLite, "out of range" on PostgreSQL), a 500 for a typo. These converters
refuse such a value while the URL is matched, so the page answers 404 like any unknown id.
The bound is the API's (`desk.core.api.MAX_ID`): ids fit JavaScript numbers and 64-bit columns.
"""

from __future__ import annotations

import re

from django.urls import register_converter

from desk.core.api import MAX_ID

_DIGITS = re.compile(r"\d+")


class IdConverter:
    """`<id:pk>`: a positive id within MAX_ID."""

    regex = "[0-9]{1,16}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ID:
            raise ValueError(value)  # no match: 404
        return number

    def to_url(self, value: int | str) -> str:
        return str(value)


class RefConverter:
    """`<ref:ref>`: a reference by number or id (AS0000123, as123, 123) whose digits fit an id.

    The text stays a string for the view to parse; only a digit run too long for an id is refused.
    """

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        if any(len(run) > 16 or int(run) > MAX_ID for run in _DIGITS.findall(value)):
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return str(value)


def register() -> None:
    """Called once from CoreConfig.ready(), before any URLconf is read."""
    register_converter(IdConverter, "id")
    register_converter(RefConverter, "ref")
