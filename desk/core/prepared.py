"""Read queries compiled to SQL once per process, then run again with new values.

Django builds, clones and compiles a queryset on every call. On the ticket page (17 statements with
its customer-360 panel) that Python work cost more than the database's: SQLite answers an indexed
lookup in tens of microseconds, the ORM spends 0.3–0.5 ms preparing it. A `Prepared` query is
built once from a function of its arguments, compiled with stand-in values, and from then on only
the values change: the SQL text, the column converters and the way a row becomes a model instance
(with its `select_related` relations) are kept, so a call is one `execute` and the row conversion.

What can be prepared: a queryset whose *shape* does not depend on the argument values (the values
may be ints or strings, each used as a whole parameter, of the same type on every call), returning
model instances or plain `values_list` tuples; no `prefetch_related`, no related-manager querysets
(`ticket.messages`).
Anything else is refused when the query is first compiled, not silently run wrong. Use it for the
few hot reads of the busiest pages; the rest of the code keeps the ORM.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple

from django.db import connections
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators
from typing_extensions import TypeVar

T = TypeVar("T", default=Any)  # typing_extensions: an unannotated Prepared(...) gives list[Any]
# Near the top of a 32-bit integer column's range: no real id or constant, yet inside every integer
# field's range (Django turns a lookup outside it into EmptyResultSet on PostgreSQL before any SQL).
_STAND_IN_INT = 2_147_480_000


class NotPreparable(TypeError):
    """The queryset cannot be replayed from its SQL (see the module's docstring)."""


@dataclass
class _Plan:
    sql: str
    params: list[Any]
    slots: list[tuple[int, int]]  # (position in params, argument index)
    compiler: Any
    tuples: bool
    init_list: list[str] = field(default_factory=list)
    fields_slice: slice = field(default_factory=lambda: slice(0))
    populators: list[Any] = field(default_factory=list)
    annotations: dict[str, int] = field(default_factory=dict)
    col_count: int | None = None
    sqlite_sql: str | None = None  # the SQL with sqlite3's placeholders, for the direct path
    converters: list[tuple[int, Any]] | None = None  # the columns' converters, found once (None: Django's path)


class Read(NamedTuple):
    """One prepared read with its arguments, to be run ahead (`reads_ahead`)."""

    prepared: Prepared[Any]
    args: tuple[int | str, ...]
    variant: Hashable = None


# Results of reads run ahead, by (prepared, args, variant, database alias), for the code inside the block.
_AHEAD: ContextVar[dict[tuple[Any, ...], list[Any]] | None] = ContextVar("prepared_reads_ahead", default=None)


class Prepared(Generic[T]):
    """`Prepared(lambda ticket_id: Model.objects.filter(ticket_id=ticket_id).order_by("id"))(42)` → a list.

    `variant` (a hashable) picks among shapes the builder makes for the same arguments, e.g. a
    user's scope: `prepared(42, variant=("team", 3))` calls `build(stand_in, variant=("team", 3))`.
    """

    def __init__(self, build: Callable[..., QuerySet[Any]]) -> None:
        self._build = build
        self._plans: weakref.WeakKeyDictionary[Any, dict[Hashable, _Plan]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, *args: int | str, variant: Hashable = None, using: str = "default") -> list[T]:
        ahead = _AHEAD.get()
        if ahead and (found := ahead.pop((self, args, variant, using), None)) is not None:
            return found
        connection = connections[using]
        plan, params = self._bound(connection, args, variant, using)
        direct = not connection.queries_logged and not connection.execute_wrappers
        if direct and plan.sqlite_sql is not None:
            rows = _sqlite_rows(connection, plan.sqlite_sql, params)
        else:
            with connection.cursor() as cursor:
                cursor.execute(plan.sql, params)
                rows = cursor.fetchall()
        return _rows_to_results(plan, rows, using)

    rows = __call__  # for values_list queries: reads as what it returns

    def ahead(self, *args: int | str, variant: Hashable = None) -> Read:
        """This read with these arguments, for `reads_ahead`."""
        return Read(self, args, variant)

    def _bound(
        self, connection: Any, args: Sequence[int | str], variant: Hashable, using: str
    ) -> tuple[_Plan, list[Any]]:
        """The plan for `variant` (compiled on first use) and its parameters with `args` in their slots."""
        plans = self._plans.get(connection)
        plan = plans.get(variant) if plans is not None else None
        if plan is None:
            plan = self._plan(connection, args, variant, using)
        params = list(plan.params)
        for position, index in plan.slots:
            params[position] = args[index]
        return plan, params

    def get(self, *args: int | str, variant: Hashable = None, using: str = "default") -> T:
        """The one result, as `QuerySet.get`: the model's DoesNotExist when there is none."""
        found = self(*args, variant=variant, using=using)
        if not found:
            plan = self._plans[connections[using]][variant]
            raise plan.compiler.query.model.DoesNotExist(f"{plan.compiler.query.model.__name__} {args} not found")
        return found[0]

    def _plan(self, connection: Any, args: Sequence[int | str], variant: Hashable, using: str) -> _Plan:
        stand_ins = [f"\x00stand-in {i}\x00" if isinstance(a, str) else _STAND_IN_INT - i for i, a in enumerate(args)]
        queryset = self._build(*stand_ins) if variant is None else self._build(*stand_ins, variant=variant)
        plan = _compile(queryset.using(using), stand_ins)
        with self._lock:
            self._plans.setdefault(connection, {})[variant] = plan
        return plan


@contextmanager
def reads_ahead(reads: Iterable[Read], using: str = "default") -> Iterator[None]:
    """Run `reads` now, and hand each result to the code in the block that makes the same read.

    On PostgreSQL independent reads go out together in one pipeline: one round trip instead of one per
    read. Each statement cost the two cores ~0.06 ms in psycopg and ~0.04 ms in the server beyond its
    own work, and the ticket page makes nine after it has found its ticket. A read made twice, or
    with other arguments than announced, simply runs again; one announced but never made is dropped.
    Elsewhere (SQLite, or while queries are logged) the reads run one after another, as they would have.
    """
    outer = _AHEAD.get()
    wanted = [read for read in dict.fromkeys(reads) if outer is None or _key(read, using) not in outer]
    results = _read_together(wanted, using)
    if outer is not None:  # inside another block: one memo, so a result is handed out once
        outer.update(results)
        yield
        return
    token = _AHEAD.set(results)
    try:
        yield
    finally:
        _AHEAD.reset(token)


def _key(read: Read, using: str) -> tuple[Any, ...]:
    return (read.prepared, read.args, read.variant, using)


def _read_together(reads: list[Read], using: str) -> dict[tuple[Any, ...], list[Any]]:
    connection = connections[using]
    direct = not connection.queries_logged and not connection.execute_wrappers
    if connection.vendor == "postgresql" and direct and len(reads) > 1:
        return _pipelined(connection, reads, using)
    return {_key(read, using): read.prepared(*read.args, variant=read.variant, using=using) for read in reads}


def _pipelined(connection: Any, reads: list[Read], using: str) -> dict[tuple[Any, ...], list[Any]]:
    """The reads in one psycopg pipeline (sent together, one sync), each through its own cursor."""
    bound = [read.prepared._bound(connection, read.args, read.variant, using) for read in reads]
    connection.validate_no_broken_transaction()
    connection.ensure_connection()
    raw = connection.connection
    cursors: list[Any] = []
    with connection.wrap_database_errors:
        try:
            with raw.pipeline():
                for plan, params in bound:
                    cursors.append(cursor := raw.cursor())
                    cursor.execute(plan.sql, params)
            rows = [cursor.fetchall() for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()
    return {
        _key(read, using): _rows_to_results(plan, found, using)
        for read, (plan, _params), found in zip(reads, bound, rows, strict=True)
    }


def _sqlite_rows(connection: Any, sql: str, params: list[Any]) -> list[Any]:
    """Run on the sqlite3 connection itself: Django's cursor wrappers rewrite the placeholders with a
    regex and wrap every call, ~0.03 ms a statement, a tenth of a prepared read. What they guard is
    kept: a broken transaction refuses, database errors become Django's. Not taken while queries are
    logged (DEBUG, `CaptureQueriesContext`) or an execute wrapper is installed."""
    connection.validate_no_broken_transaction()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection.connection.execute(sql, params).fetchall()  # type: ignore[no-any-return]


def _compile(queryset: QuerySet[Any], stand_ins: Sequence[int | str]) -> _Plan:
    if queryset._prefetch_related_lookups or queryset._known_related_objects:  # type: ignore[attr-defined]
        raise NotPreparable("prefetch_related and related-manager querysets cannot be prepared")
    iterable = queryset._iterable_class
    if iterable not in (ModelIterable, ValuesListIterable):
        raise NotPreparable(f"{iterable.__name__} results cannot be prepared")
    query = queryset.query
    compiler = query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    slots = [(pos, stand_ins.index(value)) for pos, value in enumerate(params) if value in stand_ins]
    if sorted({index for _pos, index in slots}) != list(range(len(stand_ins))):
        raise NotPreparable("every argument must appear as a whole parameter of the SQL")
    plan = _Plan(
        sql=sql,
        params=list(params),
        slots=slots,
        compiler=compiler,
        tuples=iterable is ValuesListIterable,
        col_count=compiler.col_count if compiler.has_extra_select else None,
    )
    if compiler.connection.vendor == "sqlite":
        plan.sqlite_sql = FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")
    columns = [column[0] for column in compiler.select[0 : compiler.col_count]]
    if not compiler.has_composite_fields(columns):  # `results_iter` looks the converters up on every call
        plan.converters = list(compiler.get_converters(columns).items())
    if plan.tuples:
        fields = queryset._fields  # type: ignore[attr-defined]
        if fields and list(fields) != [*query.values_select, *query.annotation_select]:
            raise NotPreparable("values_list() with reordered annotations cannot be prepared")
        return plan
    select, klass_info = compiler.select, compiler.klass_info
    first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    plan.init_list = [column[0].target.attname for column in select[first:last]]
    plan.fields_slice = slice(first, last)
    plan.populators = get_related_populators(klass_info, select, queryset.db)  # type: ignore[call-arg]  # 5.2's
    plan.annotations = dict(compiler.annotation_col_map or {})
    return plan


def _rows_to_results(plan: _Plan, rows: list[Any], using: str) -> list[Any]:
    if plan.col_count is not None:
        rows = [row[: plan.col_count] for row in rows]
    if plan.converters is None:
        converted = plan.compiler.results_iter(results=[rows], tuple_expected=plan.tuples)
    else:
        converted = _converted(plan, rows)
    if plan.tuples:
        return list(converted)
    model = plan.compiler.klass_info["model"]
    made = []
    for row in converted:
        obj = model.from_db(using, plan.init_list, row[plan.fields_slice])
        for populator in plan.populators:
            populator.populate(row, obj)
        for name, position in plan.annotations.items():
            setattr(obj, name, row[position])
        made.append(obj)
    return made


def _converted(plan: _Plan, rows: list[Any]) -> list[Any]:
    """The rows through their columns' converters, as `SQLCompiler.apply_converters` does."""
    connection = plan.compiler.connection
    if not plan.converters:
        return [tuple(row) for row in rows] if plan.tuples else rows
    done = []
    for row in rows:
        values = list(row)
        for position, (converters, expression) in plan.converters:
            value = values[position]
            for converter in converters:
                value = converter(value, expression, connection)
            values[position] = value
        done.append(tuple(values) if plan.tuples else values)
    return done


def prefetched_or_read(obj: Any, relation: str, read: Prepared[T]) -> list[T]:
    """`obj.<relation>.all()` from the caller's prefetch when it made one, else `read(obj.pk)`: the
    relation's rows through a query compiled once (a related manager's queryset cannot be prepared)."""
    if relation in getattr(obj, "_prefetched_objects_cache", {}):
        return list(getattr(obj, relation).all())
    return read(obj.pk)
