"""Configuration held per process under a shared stamp: read once, dropped everywhere by `forget`."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from desk.core import held
from desk.core.held import Held
from desk.tickets.models import RequestType

pytestmark = pytest.mark.django_db


def test_held_list_is_read_once_per_stamp_and_forgotten_everywhere(django_assert_num_queries, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(held, "monotonic", lambda: clock[0])

    def load():
        return list(RequestType.objects.order_by("code").values_list("code", flat=True))

    here, other = Held("desk:test:held:v1", load, 60), Held("desk:test:held:v1", load, 60)  # two processes
    with django_assert_num_queries(1):
        first = here()
    with django_assert_num_queries(0):
        assert here() is first  # the same list while the stamp stands
    with django_assert_num_queries(1):
        assert other() == first  # another process reads once under the stamp it finds
    RequestType.objects.create(code="zz_new", name_zh="新", name_en="New")
    with django_assert_num_queries(0):
        assert "zz_new" not in here()  # no signal here: held until the stamp changes or expires
    other.forget()  # a save in the other process drops the shared stamp...
    with django_assert_num_queries(0):
        assert "zz_new" not in here()  # ...which this one looks at once a second (held.CHECK_EVERY)
    clock[0] += held.CHECK_EVERY
    with django_assert_num_queries(1):
        assert "zz_new" in here()  # ...and then it reads again
    with django_assert_num_queries(0):
        assert "zz_new" in here()
    cache.delete("desk:test:held:v1")  # the stamp expired
    clock[0] += held.CHECK_EVERY
    with django_assert_num_queries(1):
        assert "zz_new" in here()
