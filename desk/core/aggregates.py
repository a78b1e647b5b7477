"""`Joined`: a column's values joined into one string, so a page reads a short list within its main row.

A ticket's tags or a customer's identities are a few short strings; a query of their own costs the
page more than the rows are worth. `joined(...)` gives them as one correlated subquery on the main
row (SQLite `group_concat`, PostgreSQL `string_agg`), split back with `split_joined`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Aggregate, CharField, Func, OuterRef, QuerySet, Subquery, TextField, Value

UNIT = "\x1f"  # ASCII unit separator: never typed into a name, a tag or a phone number
PAIR = "\x1e"  # record separator, between the parts of one value (see `pair`)


class Joined(Aggregate):
    function = "GROUP_CONCAT"
    template = "%(function)s(%(expressions)s)"
    output_field = TextField()

    def __init__(self, expression: Any, **extra: Any) -> None:
        super().__init__(expression, Value(UNIT), **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function="STRING_AGG", **extra)


def pair(first: str, second: str) -> Func:
    """Two columns as one value, `first` PAIR `second` (SQLite and PostgreSQL both know `||`)."""
    return Func(first, Value(PAIR), second, template="(%(expressions)s)", arg_joiner=" || ", output_field=CharField())


def joined(rows: QuerySet[Any], group: str, column: Any) -> Subquery:
    """The `column` values of `rows` whose `group` is the outer row, joined (NULL when there are none).

    `rows` is filtered by the caller on `group=OuterRef("pk")`.
    """
    return Subquery(
        rows.order_by().values(group).annotate(joined=Joined(column)).values("joined"), output_field=TextField()
    )


def split_joined(value: str | None) -> list[str]:
    return value.split(UNIT) if value else []


__all__ = ["PAIR", "Joined", "OuterRef", "joined", "pair", "split_joined"]
