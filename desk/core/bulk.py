"""Multi-row inserts for the mass paths (an SLA sweep after an outage writes 100,000s of rows).

`QuerySet.bulk_create` spends most of its time in per-value Python (pre_save, prepare, expression
checks on every field of every object). `insert_rows` takes plain tuples in the fields' Python types,
converts only the columns that need it (datetimes, JSON), each distinct value once, and writes
`INSERT ... VALUES (...), (...) RETURNING id` in batches the database accepts. It bypasses model
`save()` and signals, as bulk_create does.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from django.db import connections, models, router
from django.db.models.expressions import RawSQL
from django.utils import timezone

Converter = Callable[[Any], Any] | None
_PLAIN = (
    models.IntegerField,  # all integer fields, autos included
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.ForeignKey,
    models.FloatField,
)
MAX_ROWS_PER_STATEMENT = 1000
_EMPTY_JSON_OBJECT = "{}"


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[int]:
    """Insert `rows` (one tuple per row, values in the order of `fields`, foreign keys by `<name>_id`)
    and return the new primary keys in row order.

    Concrete fields not named get their default (evaluated once per call), `auto_now`/`auto_now_add`
    fields the current time, nullable ones NULL. A JSON value given as the same object in many rows
    (a sweep's shared `data`) is serialised once.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return []
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    named = [cast("models.Field[Any, Any]", meta.get_field(name)) for name in fields]
    extra = [f for f in meta.concrete_fields if not f.primary_key and f not in named]
    filler = [_fill(f) for f in extra]
    columns = [*named, *extra]
    convert = [_converter(f, connection) for f in columns]
    qn = connection.ops.quote_name
    names = ", ".join(qn(cast(str, c.column)) for c in columns)
    head = f"INSERT INTO {qn(meta.db_table)} ({names}) "  # noqa: S608  names are ours, values bound
    tail = f" RETURNING {qn(cast(str, meta.pk.column))}"
    width = len(columns)
    postgres = connection.vendor == "postgresql"
    sql = from_arrays = one = ""
    if postgres:
        # One array per column through UNNEST (as Django's own bulk insert does there), all of them sent
        # as one JSON text that the server unpacks: psycopg quotes an array parameter element by element
        # in Python (two regexes each: 3 s of a sweep's 120,000 events), a text in one call.
        types = [cast(str, c.db_type(connection)).split("(")[0] for c in columns]
        unpacked = ", ".join(
            f"ARRAY(SELECT v FROM json_array_elements_text(doc -> {k}) WITH ORDINALITY AS e(v, n) ORDER BY n)::{t}[]"  # noqa: S608
            for k, t in enumerate(types)
        )
        sql = f"{head}SELECT u.* FROM (SELECT %s::json AS doc) AS j, UNNEST({unpacked}) AS u{tail}"  # noqa: S608
        arrays = ", ".join(f"(%s)::{t}[]" for t in types)  # for values JSON has no text for
        from_arrays = f"{head}SELECT * FROM UNNEST({arrays}){tail}"  # noqa: S608  types are ours, values bound
        per_statement = 5000
    else:
        per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, _max_params(connection) // width))
        one = "(" + ", ".join([_placeholder(connection)] * width) + ")"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            values = _columns(batch, len(named), filler, convert)
            if postgres:
                try:
                    doc = json.dumps(values, default=_json_text, allow_nan=False)
                except (TypeError, ValueError):  # a value JSON cannot carry here (NaN, a type not below): arrays
                    cursor.execute(from_arrays, values)
                else:
                    cursor.execute(sql, [doc])
            else:
                params = [v for row in zip(*values, strict=True) for v in row]
                cursor.execute(f"{head}VALUES {', '.join([one] * len(batch))}{tail}", params)
            ids.extend(r[0] for r in cursor.fetchall())
    return ids


def id_list(ids: Iterable[int], using: str = "default") -> RawSQL | list[int]:
    """The ids as a one-parameter subquery for `filter(pk__in=...)`: Django prepares each value of a
    plain list in Python (~3 µs an id: 100,000 ids a mass sweep), and binds one parameter per id.

    SQLite reads them from a JSON array (`json_each`), PostgreSQL from an array (`unnest`).
    """
    values = [int(pk) for pk in ids]
    vendor = connections[using].vendor
    if vendor == "sqlite":
        return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(values),))  # noqa: S611  no input in the SQL
    if vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (values,))  # noqa: S611  no input in the SQL
    return values


def _columns(
    batch: Sequence[Sequence[Any]], named: int, filler: list[Any], convert: list[Converter]
) -> list[list[Any]]:
    """The batch column by column, in the database's types: converting a column at a time keeps the
    per-value work to one call of the column's converter, and PostgreSQL takes the columns as arrays."""
    given: list[Sequence[Any]] = list(zip(*batch, strict=True)) if named else []
    if len(given) != named:
        raise ValueError(f"each row must have {named} values")
    columns = [*given, *([value] * len(batch) for value in filler)]
    return [_convert(column, conv) for column, conv in zip(columns, convert, strict=True)]


def _convert(column: Sequence[Any], conv: Converter) -> list[Any]:
    if conv is None:
        return list(column)
    if isinstance(conv, _JsonTexts):
        return conv.column(column)
    return list(map(conv, column))


def _max_params(connection: Any) -> int:
    """SQLite's real bound-parameter limit (32,766 since 3.32), not Django's conservative 999: fewer,
    larger statements for the same rows."""
    limit = connection.features.max_query_params or 999
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)  # Python 3.11+
        if getlimit is not None:
            limit = max(limit, int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)))
    return int(limit)


def _json_text(value: Any) -> str:
    """The text PostgreSQL reads back into the column's type, for the values JSON has no type for."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no text for PostgreSQL here")


def _placeholder(connection: Any) -> str:
    """SQLite's own `?`, which Django's cursor passes through: its "%s" → "?" rewrite (a regex over a
    statement of up to 30,000 markers) cost more than SQLite's insert of the rows. When queries are
    logged (DEBUG, tests counting queries), "%s", as the log interpolates the values into it."""
    return "?" if connection.vendor == "sqlite" and not connection.queries_logged else "%s"


def _fill(field: models.Field[Any, Any]) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now()
    if field.has_default():
        return field.get_default()
    if field.null:
        return None
    return field.get_default()  # "" for text, as Django would


def _converter(field: models.Field[Any, Any], connection: Any) -> Converter:
    if isinstance(field, models.DateTimeField):
        # Rows of one batch share most timestamps (the sweep's `now`): convert each distinct one once.
        return functools.lru_cache(maxsize=4096)(connection.ops.adapt_datetimefield_value)  # type: ignore[no-any-return]
    if isinstance(field, models.JSONField):
        return _json_converter(field, connection)
    if isinstance(field, _PLAIN):
        return None
    prepare = field.get_db_prep_save
    return lambda value: None if value is None else prepare(value, connection)


def _json_converter(field: models.JSONField, connection: Any) -> _JsonTexts:
    encoder = field.encoder
    dumps: Callable[[Any], str]
    if connection.vendor == "postgresql":
        dumps = json.dumps if encoder is None else functools.partial(json.dumps, cls=encoder)
    else:
        dumps = functools.partial(connection.ops.adapt_json_value, encoder=encoder)
    return _JsonTexts(dumps)


class _JsonTexts:
    """JSON text for each value, serialised once per distinct object (by identity: the rows hold
    every value for the whole call, so an id is never reused meanwhile) and `{}` without a call.
    A column at a time, the values that repeat cost no Python call at all (120,000 events a sweep
    share a handful of before/after/data objects).

    PostgreSQL gets the text too (cast to jsonb by the statement), not psycopg's Jsonb wrapper,
    which would serialise every element of the array again.
    """

    def __init__(self, dumps: Callable[[Any], str]) -> None:
        self._dumps = dumps
        self._seen: dict[int, str | None] = {id(None): None}

    def __call__(self, value: Any) -> str | None:
        return self.column([value])[0]

    def column(self, values: Sequence[Any]) -> list[str | None]:
        keys = list(map(id, values))
        seen = self._seen
        for key, value in dict(zip(keys, values, strict=True)).items():  # each distinct object once
            if key not in seen:
                seen[key] = _EMPTY_JSON_OBJECT if type(value) is dict and not value else self._dumps(value)
        return list(map(seen.__getitem__, keys))
