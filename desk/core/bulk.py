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
import weakref
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
SMALL_BATCH = 16  # up to this many rows (a new ticket's events, its SLA targets) are converted value by value
_EMPTY_JSON_OBJECT = "{}"
# One column of a PostgreSQL batch: the k-th array of the JSON document, in order, as the column's type.
_UNNEST_COLUMN = (
    "ARRAY(SELECT v FROM json_array_elements_text(doc -> {k}) WITH ORDINALITY AS e(v, n) ORDER BY n)::{t}[]"  # noqa: E501
)


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
    connection = connections[router.db_for_write(model)]
    plan = _statement(connection, model, tuple(fields))
    filler = [_fill(f) for f in plan.extra]
    convert = plan.converters(len(rows) > SMALL_BATCH)
    # A create's few rows (a case step's one notice): value by value into `VALUES`, on PostgreSQL too,
    # where the JSON-to-arrays statement below cost the server ~0.5 ms to plan and run for one row
    # (a plain VALUES insert ~0.07 ms).
    if len(rows) <= SMALL_BATCH:
        params: list[Any] = []
        for row in rows:
            if len(row) != plan.named:
                raise ValueError(f"each row must have {plan.named} values")
            values = [*row, *filler]
            params += [v if v is None or conv is None else conv(v) for v, conv in zip(values, convert, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(plan.values_sql(len(rows), _placeholder(connection)), params)
            return [r[0] for r in cursor.fetchall()]
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), plan.per_statement):
            batch = rows[start : start + plan.per_statement]
            values = _columns(batch, plan.named, filler, convert)
            if plan.postgres:
                try:
                    doc = json.dumps(values, default=_json_text, allow_nan=False)
                except (TypeError, ValueError):  # a value JSON cannot carry here (NaN, a type not below): arrays
                    cursor.execute(plan.from_arrays, values)
                else:
                    cursor.execute(plan.sql, [doc])
            else:
                params = [v for row in zip(*values, strict=True) for v in row]
                cursor.execute(plan.values_sql(len(batch), _placeholder(connection)), params)
            ids.extend(r[0] for r in cursor.fetchall())
    return ids


class _Statement:
    """What `insert_rows` works out once per connection, model and field list: the columns, the SQL
    around the values and each column's kind of conversion. A ticket's create makes four small
    inserts, and building this on each call (field lookups, quoting, converters) cost more Python
    than the rows themselves."""

    def __init__(self, connection: Any, model: type[models.Model], fields: tuple[str, ...]) -> None:
        meta = model._meta
        named = [cast("models.Field[Any, Any]", meta.get_field(name)) for name in fields]
        named_names = {f.name for f in named}
        self.extra = [f for f in meta.concrete_fields if not f.primary_key and f.name not in named_names]
        columns = [*named, *self.extra]
        self.named = len(named)
        self._kinds = [_converter(f, connection) for f in columns]
        self._adapt_datetime: Callable[[Any], Any] = connection.ops.adapt_datetimefield_value
        qn = connection.ops.quote_name
        names = ", ".join(qn(cast(str, c.column)) for c in columns)
        self.head = f"INSERT INTO {qn(meta.db_table)} ({names}) "  # noqa: S608  names are ours, values bound
        self.tail = f" RETURNING {qn(cast(str, meta.pk.column))}"
        self.width = width = len(columns)
        self.postgres = connection.vendor == "postgresql"
        self.sql = self.from_arrays = ""
        self._small: dict[tuple[int, str], str] = {}
        if self.postgres:
            # One array per column through UNNEST (as Django's own bulk insert does there), all of them sent
            # as one JSON text that the server unpacks: psycopg quotes an array parameter element by element
            # in Python (two regexes each: 3 s of a sweep's 120,000 events), a text in one call.
            types = [cast(str, c.db_type(connection)).split("(")[0] for c in columns]
            unpacked = ", ".join(_UNNEST_COLUMN.format(k=k, t=t) for k, t in enumerate(types))
            self.sql = f"{self.head}SELECT u.* FROM (SELECT %s::json AS doc) AS j, UNNEST({unpacked}) AS u{self.tail}"  # noqa: S608
            arrays = ", ".join(f"(%s)::{t}[]" for t in types)  # for values JSON has no text for
            self.from_arrays = f"{self.head}SELECT * FROM UNNEST({arrays}){self.tail}"  # noqa: S608  types are ours
            self.per_statement = 5000
        else:
            self.per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, _max_params(connection) // width))

    def values_sql(self, count: int, placeholder: str) -> str:
        """`INSERT ... VALUES (...), ... RETURNING id` for `count` rows (the texts for small batches are kept)."""
        key = (count, placeholder)
        sql = self._small.get(key)
        if sql is None:
            one = "(" + ", ".join([placeholder] * self.width) + ")"
            sql = f"{self.head}VALUES {', '.join([one] * count)}{self.tail}"
            if count <= SMALL_BATCH:
                self._small[key] = sql
        return sql

    def converters(self, many: bool) -> list[Converter]:
        """This call's converters: datetimes through one cache for the call when there are many rows
        (a batch shares most timestamps), JSON through a `_JsonTexts` of its own (it keys by identity)."""
        memo: Converter = None
        done: list[Converter] = []
        for kind in self._kinds:
            if kind is _DATETIME:
                if memo is None:
                    adapt = self._adapt_datetime
                    memo = functools.lru_cache(maxsize=4096)(adapt) if many else adapt
                done.append(memo)
            elif isinstance(kind, _JsonDumps):
                done.append(_JsonTexts(kind.dumps))
            else:
                done.append(kind)
        return done


_statements: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], _Statement]] = weakref.WeakKeyDictionary()


def _statement(connection: Any, model: type[models.Model], fields: tuple[str, ...]) -> _Statement:
    known = _statements.get(connection)
    if known is None:
        known = _statements.setdefault(connection, {})
    plan = known.get((model, fields))
    if plan is None:
        plan = known[(model, fields)] = _Statement(connection, model, fields)
    return plan


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


_DATETIME = object()  # a column kind: converted by the connection's datetime adapter


class _JsonDumps:
    """A column kind: JSON text through `dumps` (each call gets its own `_JsonTexts` around it)."""

    def __init__(self, dumps: Callable[[Any], str]) -> None:
        self.dumps = dumps


def _converter(field: models.Field[Any, Any], connection: Any) -> Any:
    if isinstance(field, models.DateTimeField):
        return _DATETIME
    if isinstance(field, models.JSONField):
        return _JsonDumps(_json_dumps(field, connection))
    if isinstance(field, _PLAIN):
        return None
    prepare = field.get_db_prep_save
    return lambda value: None if value is None else prepare(value, connection)


def _json_dumps(field: models.JSONField, connection: Any) -> Callable[[Any], str]:
    encoder = field.encoder
    if connection.vendor == "postgresql":
        return json.dumps if encoder is None else functools.partial(json.dumps, cls=encoder)
    return functools.partial(connection.ops.adapt_json_value, encoder=encoder)


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
