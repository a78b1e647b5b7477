"""Page URLs with an oversized id answer 404, never 500 (the bounded `<id:…>` and `<ref:…>` converters)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

HUGE = "9" * 25  # past 64 bits: SQLite raised OverflowError, PostgreSQL "out of range"
JUST_PAST = str(2**53 + 1)

# The URLs the audit found answering 500, and their neighbours, written out so a reader sees them.
NAMED = [
    f"/tickets/{HUGE}/",
    f"/tickets/{HUGE}/live/",
    f"/tickets/{HUGE}/sla/",
    f"/tickets/{JUST_PAST}/",
    f"/tickets/1/attachments/{HUGE}/",
    f"/customers/{HUGE}/",
    f"/customers/{HUGE}/panel/",
    f"/imports/{HUGE}/",
    f"/imports/{HUGE}/progress/",
    f"/cases/{HUGE}/",
    f"/cases/AS{HUGE}/",
    f"/portal/orders/{HUGE}/",
    f"/portal/cases/{HUGE}/",
]
_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
NUMERIC = {"id", "int", "ref"}  # `int` too: a page that slips back to it shows up here as a 500


def _routes(patterns: list, prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route


def _page_routes_with_ids() -> list[str]:
    """Every page route (not the admin's, not the API's: it bounds ids itself) that takes a number."""
    return [
        route
        for route in _routes(get_resolver().url_patterns)
        if not route.startswith(("admin/", "api/"))
        and any((m["converter"] or "str") in NUMERIC for m in _PARAM.finditer(route))
    ]


def _with_huge_ids(route: str) -> str:
    return "/" + _PARAM.sub(lambda m: HUGE if (m["converter"] or "str") in NUMERIC else "x", route)


@pytest.fixture
def logged_in(client, manager):
    client.force_login(manager)  # may open every page, so nothing stops short of the id
    return client


@pytest.mark.parametrize("url", NAMED)
def test_named_pages_answer_404_for_oversized_ids(logged_in, url):
    assert logged_in.get(url).status_code == 404


def test_every_page_with_an_id_answers_404_for_an_oversized_one(logged_in):
    routes = _page_routes_with_ids()
    assert len(routes) > 20  # the walk found the desk's pages (tickets, customers, cases, portal ...)

    answers = {}
    for route in routes:
        url = _with_huge_ids(route)
        answers[url] = (logged_in.get(url).status_code, logged_in.post(url).status_code)

    assert {url: codes for url, codes in answers.items() if codes != (404, 404)} == {}


def test_page_routes_use_the_bounded_converters():
    unbounded = [route for route in _page_routes_with_ids() if "<int:" in route]
    assert unbounded == []


def test_ordinary_ids_still_reach_their_pages(logged_in, customer):
    assert logged_in.get(f"/customers/{customer.pk}/").status_code == 200
    assert logged_in.get(f"/customers/{customer.pk + 1000}/").status_code == 404
