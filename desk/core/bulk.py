"""Multi-row inserts for the mass paths (an SLA sweep after an outage writes 100,000s of rows).

`QuerySet.bulk_create` spends most of its time in per-value Python (pre_save, prepare, expression
checks on every field of every object). `insert_rows` takes plain tuples in the fields' Python types,
converts only the values that need it (datetimes, JSON), and writes `INSERT ... VALUES (...), (...)
RETURNING id` in batches the database accepts. It bypasses model `save()` and signals, as
bulk_create does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from django.db import connections, models, router
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


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[int]:
    """Insert `rows` (one tuple per row, values in the order of `fields`, foreign keys by `<name>_id`)
    and return the new primary keys in row order.

    Concrete fields not named get their default (evaluated once per call), `auto_now`/`auto_now_add`
    fields the current time, nullable ones NULL.
    """
    rows = [tuple(row) for row in rows]
    if not rows:
        return []
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    named = [cast("models.Field[Any, Any]", meta.get_field(name)) for name in fields]
    extra = [f for f in meta.concrete_fields if not f.primary_key and f not in named]
    filler = tuple(_fill(f) for f in extra)
    columns = [*named, *extra]
    convert = [_converter(f, connection) for f in columns]
    pairs = [(i, c) for i, c in enumerate(convert) if c is not None]
    qn = connection.ops.quote_name
    names = ", ".join(qn(cast(str, c.column)) for c in columns)
    head = f"INSERT INTO {qn(meta.db_table)} ({names}) "  # noqa: S608  names are ours, values bound
    tail = f" RETURNING {qn(cast(str, meta.pk.column))}"
    width = len(columns)
    sql = one = ""
    if connection.vendor == "postgresql":
        # One array per column through UNNEST (as Django's own bulk insert does there): a handful of
        # parameters instead of rows x columns, which the driver would otherwise splice in one by one.
        types = [cast(str, c.db_type(connection)).split("(")[0] for c in columns]
        arrays = ", ".join(f"(%s)::{t}[]" for t in types)
        sql = f"{head}SELECT * FROM UNNEST({arrays}){tail}"  # noqa: S608  types are ours, values bound
        per_statement = 5000
    else:
        limit = connection.features.max_query_params or 999
        per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, limit // width))
        one = "(" + ", ".join(["%s"] * width) + ")"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            batch = [_prepared([*row, *filler], pairs) for row in rows[start : start + per_statement]]
            if connection.vendor == "postgresql":
                cursor.execute(sql, [list(column) for column in zip(*batch, strict=True)])
            else:
                values = ", ".join([one] * len(batch))
                cursor.execute(f"{head}VALUES {values}{tail}", [v for row in batch for v in row])
            ids.extend(r[0] for r in cursor.fetchall())
    return ids


def _prepared(values: list[Any], pairs: list[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    for i, conv in pairs:
        if values[i] is not None:
            values[i] = conv(values[i])
    return values


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
        adapt, encoder = connection.ops.adapt_json_value, field.encoder
        return lambda value: adapt(value, encoder)
    if isinstance(field, _PLAIN):
        return None
    return lambda value: field.get_db_prep_save(value, connection)
