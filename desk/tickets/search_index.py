"""Keyword search over tickets through the database's own full-text index.

`Ticket.search_text` already holds jieba tokens separated by spaces (kept by the services), so the
index only has to split on spaces: SQLite indexes it with FTS5 (`ticket_fts`, external content,
kept in step by triggers), PostgreSQL with a GIN index on a stored generated column
`search_vector = to_tsvector('simple', search_text)`.
Both are created by migration 0003. Every query token must match (AND), in any order.

Use `keyword_filter(q)` inside any ticket queryset (it combines with status, visibility and
ordering filters), `filter_by_keywords(qs, q)` as a shortcut, or `search_ticket_ids(q, limit)`
for the newest matching ids alone.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from desk.tickets.models import Ticket
from desk.tickets.search import tokens

# The SQL here is constant; user text only ever travels as a query parameter.
FTS_TABLE = "ticket_fts"

# FTS5's unicode61 tokenizer splits on everything that is not a letter or digit ("3.5" → 3, 5);
# query terms are cut the same way so each one is a single indexed token.
_FTS_TERM = re.compile(r"[^\W_]+", re.UNICODE)

# Up to this many matches the page is fetched by id; above it the other filters and the ORDER BY
# index drive and each row is checked against the matches (see _sqlite_filter, _postgres_filter).
RARE_MATCHES = 2000


def query_terms(q: str) -> list[str]:
    """The tokens a query must all match: jieba tokens, lower-cased, as the index stores them."""
    return tokens(q or "")


def fts_match(q: str) -> str:
    """An FTS5 MATCH expression: every term quoted (no operator injection), ANDed; "" for none."""
    terms: dict[str, None] = {}
    for token in query_terms(q):
        for term in _FTS_TERM.findall(token):
            terms.setdefault(term, None)
    return " AND ".join(f'"{term}"' for term in terms)


def keyword_filter(q: str) -> Q | None:
    """A filter on Ticket rows whose text holds every keyword of `q`; None if `q` has no words.

    Callers treat None as "no keyword filter" (an empty or punctuation-only box). It runs one small
    query at once, through the index, to choose the plan for rare or common words.
    """
    if not query_terms(q):
        return None
    vendor = connection.vendor
    if vendor == "sqlite":
        return _sqlite_filter(q)
    if vendor == "postgresql":
        return _postgres_filter(q)
    return _fallback_filter(q)


def filter_by_keywords(qs: QuerySet[Ticket], q: str) -> QuerySet[Ticket]:
    """`qs` narrowed to tickets matching every keyword of `q`; unchanged for an empty query."""
    condition = keyword_filter(q)
    return qs if condition is None else qs.filter(condition)


# Chunks grow: a common word fills a page from its first few hundred matches, and binding
# thousands of ids into one statement costs more than the search itself.
WALK_FIRST_CHUNK = 200
WALK_MAX_CHUNK = 3200
WALK_MAX_CHUNKS = 40
SQLITE_NEWEST = "SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH %s AND rowid < %s ORDER BY rowid DESC LIMIT %s"


def newest_matching_ids(qs: QuerySet[Ticket], q: str, want: int) -> list[int] | None:
    """Ids of the newest `want` tickets of `qs` matching `q`, walking the index newest first.

    FTS5 hands out matches in descending rowid order cheaply, so a newest-first page of a common
    word costs a chunk or two of ids (about 2 ms at a million tickets) instead of the whole match
    list. PostgreSQL walks `qs`'s own rows newest first when two or more words are all common, and
    otherwise answers by `keyword_filter`'s plan (`_postgres_newest`). None where the walk does not
    apply (another database, one word or none on PostgreSQL, or the matches run out of chunks): use
    `keyword_filter` then.
    """
    if connection.vendor == "postgresql":
        return _postgres_newest(qs, q, want)
    match = fts_match(q) if connection.vendor == "sqlite" else ""
    if not match:
        return None
    found: list[int] = []
    below, size = 2**63 - 1, WALK_FIRST_CHUNK
    for _ in range(WALK_MAX_CHUNKS):
        with connection.cursor() as cursor:
            cursor.execute(SQLITE_NEWEST, [match, below, size])
            chunk = [row[0] for row in cursor.fetchall()]
        if chunk:
            hits = qs.filter(pk__in=chunk).order_by("-id").values_list("id", flat=True)
            found += list(hits[: want - len(found)])
        if len(found) >= want or len(chunk) < size:
            return found
        below, size = chunk[-1], min(size * 4, WALK_MAX_CHUNK)
    return None


def search_ticket_ids(q: str, limit: int = 50) -> list[int]:
    """Ids of the newest `limit` tickets matching every keyword of `q` (any status)."""
    condition = keyword_filter(q)
    if condition is None:
        return []
    return list(Ticket.objects.filter(condition).order_by("-id").values_list("id", flat=True)[:limit])


# --- The index itself (created by migration 0003, healed after every migrate) -------------------
SQLITE_TABLE = """
CREATE VIRTUAL TABLE IF NOT EXISTS ticket_fts USING fts5(
    search_text, content='tickets_ticket', content_rowid='id',
    detail='none', columnsize=0, tokenize='unicode61 remove_diacritics 0'
)"""
SQLITE_TRIGGERS = {
    "ticket_fts_ai": """
CREATE TRIGGER IF NOT EXISTS ticket_fts_ai AFTER INSERT ON tickets_ticket BEGIN
    INSERT INTO ticket_fts(rowid, search_text) VALUES (new.id, new.search_text);
END""",
    "ticket_fts_ad": """
CREATE TRIGGER IF NOT EXISTS ticket_fts_ad AFTER DELETE ON tickets_ticket BEGIN
    INSERT INTO ticket_fts(ticket_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END""",
    "ticket_fts_au": """
CREATE TRIGGER IF NOT EXISTS ticket_fts_au AFTER UPDATE OF search_text ON tickets_ticket
WHEN old.search_text IS NOT new.search_text BEGIN
    INSERT INTO ticket_fts(ticket_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO ticket_fts(rowid, search_text) VALUES (new.id, new.search_text);
END""",
}
SQLITE_REBUILD = "INSERT INTO ticket_fts(ticket_fts) VALUES ('rebuild')"
SQLITE_MATCHES = "SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH %s"
# A stored generated column: the words are parsed once per write, not once per row read, so a
# newest-first walk that tests hundreds of rows for a common word stays cheap.
POSTGRES_INDEX = (
    "ALTER TABLE tickets_ticket ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search_text)) STORED",
    "CREATE INDEX IF NOT EXISTS ticket_search_vector_gin ON tickets_ticket USING gin (search_vector)",
)
POSTGRES_IDS = "SELECT id FROM tickets_ticket WHERE search_vector @@ plainto_tsquery('simple'::regconfig, %s) LIMIT %s"
# ANALYZE's most common words of the column, the table's size, and the query's words.
POSTGRES_WORD_STATS = (
    "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples, "
    "tsvector_to_array(to_tsvector('simple'::regconfig, %s)) "
    "FROM pg_stats s JOIN pg_class c ON c.relname = 'tickets_ticket' "
    "WHERE s.tablename = 'tickets_ticket' AND s.attname = 'search_vector'"
)
POSTGRES_MATCHES = '"tickets_ticket"."search_vector" @@ plainto_tsquery(\'simple\'::regconfig, %s)'
# The newest rows of a ticket queryset (id, search_vector), walked newest first for common words.
POSTGRES_VECTOR = '"tickets_ticket"."search_vector"'
POSTGRES_WALK = (  # around the rows' SQL (joined, not str.format: that SQL is not ours to escape)
    "SELECT w.id FROM (",
    ") w(id, sv) WHERE w.sv @@ plainto_tsquery('simple'::regconfig, %s) ORDER BY w.id DESC LIMIT %s",
)
# Rows walked: 40 per id wanted (a page of 51 needs the words together in 1 row of 40; ~1 ms for 2,000
# rows), never so many that the walk costs more than intersecting the posting lists would.
POSTGRES_WALK_ROWS = 2000
POSTGRES_WALK_ROWS_PER_ID = 40
POSTGRES_WALK_MAX_ROWS = 20000


def install_index(conn: BaseDatabaseWrapper) -> None:
    """Create the vendor's index and index the rows already there (migration 0003)."""
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            cursor.execute(SQLITE_TABLE)
            for sql in SQLITE_TRIGGERS.values():
                cursor.execute(sql)
            cursor.execute(SQLITE_REBUILD)
        elif conn.vendor == "postgresql":
            for sql in POSTGRES_INDEX:
                cursor.execute(sql)


def uninstall_index(conn: BaseDatabaseWrapper) -> None:
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute("DROP TABLE IF EXISTS ticket_fts")
        elif conn.vendor == "postgresql":
            cursor.execute("DROP INDEX IF EXISTS ticket_search_vector_gin")
            cursor.execute("ALTER TABLE tickets_ticket DROP COLUMN IF EXISTS search_vector")


def heal_sqlite_triggers(conn: BaseDatabaseWrapper) -> bool:
    """Put back triggers a later migration dropped; True if the index had to be rebuilt.

    SQLite cannot alter most columns in place, so Django copies tickets_ticket to a new table and
    drops the old one, and its triggers go with it; ids survive, so a rebuild makes all good again.
    """
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE name LIKE %s", [f"{FTS_TABLE}%"])
        present = {row[0] for row in cursor.fetchall()}
        if FTS_TABLE not in present or set(SQLITE_TRIGGERS) <= present:
            return False
        for sql in SQLITE_TRIGGERS.values():
            cursor.execute(sql)
        cursor.execute(SQLITE_REBUILD)
    return True


def heal_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver (connected in TicketsConfig.ready)."""
    from django.db import connections

    heal_sqlite_triggers(connections[using])


# --- SQLite: FTS5 ------------------------------------------------------------------------------
def _sqlite_filter(q: str) -> Q:
    """Pick the plan by how common the words are, because FTS5 tells SQLite's planner nothing.

    Rare words: the ids themselves, so SQLite knows the list is short and fetches those rows by
    primary key (given only the subquery it may walk the whole table in ORDER BY order instead).
    Common words (say 退货 in 150,000 of a million tickets): `+id` hides the primary key from the
    planner, so the other filters and the ORDER BY index drive, and each row they yield is checked
    against the matches; a 50-row page then stops after a few hundred rows instead of sorting
    every match.
    """
    match = fts_match(q)
    if not match:
        return Q(pk__in=[])
    ids = _sqlite_ids_if_rare(match)
    if ids is not None:
        return Q(pk__in=ids)
    probe = '+"tickets_ticket"."id" IN (' + SQLITE_MATCHES + ")"
    return Q(RawSQL(probe, [match], output_field=BooleanField()))  # noqa: S611 - constant SQL, match a parameter


def _sqlite_ids_if_rare(match: str) -> list[int] | None:
    """The matching ids if there are at most RARE_MATCHES of them, else None."""
    with connection.cursor() as cursor:
        cursor.execute(SQLITE_MATCHES + " LIMIT %s", [match, RARE_MATCHES + 1])
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) <= RARE_MATCHES else None


# --- PostgreSQL: GIN on the stored tsvector of search_text ------------------------------------------
def _postgres_filter(q: str) -> Q:
    """The same two plans as on SQLite, for the same reason: the planner cannot tell rare from common.

    PostgreSQL estimates every `@@` at 0.5% of rows whatever the word, so with ORDER BY id LIMIT it
    walks the primary key backwards testing each row: fine for 退货, seconds for an order number.
    Rare words therefore become their ids, found through the GIN index. A query whose every word
    ANALYZE lists as common skips that step (fetching 2,000 rows to learn it is common costs more
    than the page).
    """
    text = " ".join(query_terms(q))
    return _postgres_condition(text, _postgres_all_words_common(text))


def _postgres_condition(text: str, common: bool) -> Q:
    """`_postgres_filter`'s condition once the statistics have said whether every word is common."""
    if not common:
        ids = _postgres_ids_if_rare(text)
        if ids is not None:
            return Q(pk__in=ids)
    return Q(RawSQL(POSTGRES_MATCHES, [text], output_field=BooleanField()))  # noqa: S611 - constant SQL


def _postgres_all_words_common(text: str) -> bool:
    """True when ANALYZE lists every word of the query as common: then fetching the matching ids
    first (a bitmap over long posting lists, ~30 ms for two common words) costs more than the page."""
    with connection.cursor() as cursor:
        cursor.execute(POSTGRES_WORD_STATS, [text])
        row = cursor.fetchone()
    if row is None or not row[0] or not row[3]:
        return False
    elements, frequencies, rows, lexemes = row
    frequency = dict(zip(elements, frequencies, strict=False))
    return all(frequency.get(lexeme, 0.0) * max(rows, 0) > RARE_MATCHES for lexeme in lexemes)


def _postgres_newest(qs: QuerySet[Ticket], q: str, want: int) -> list[int] | None:
    """Ids of the newest `want` rows of `qs` matching every word of `q` (None: fewer than two words).

    The planner rates `a & b` at the product of the words' frequencies, as if they were independent;
    two words of one sentence (耳机 左耳: 5% of tickets each, 5% together) are then rated at 0.25%,
    too rare for the walk, and it intersects both posting lists and sorts every match instead (~20 ms
    at a million tickets). So when every word is common the walk is spelt out: the newest rows of
    `qs` (its status and scope filters pick the id-ordered index), each row's stored tsvector
    tested, a page stopping after a few hundred rows. Only words that rarely meet find fewer than
    `want` in the rows walked; then, as for rare words, `keyword_filter`'s plan is the right one.
    The statistics are read once here: the fallback does not ask again.
    """
    terms = query_terms(q)
    if len(set(terms)) < 2:  # one word: the planner knows its frequency and picks the walk itself
        return None
    text = " ".join(terms)
    common = _postgres_all_words_common(text)
    if common:
        rows = min(max(POSTGRES_WALK_ROWS, want * POSTGRES_WALK_ROWS_PER_ID), POSTGRES_WALK_MAX_ROWS)
        newest = qs.order_by("-id").values_list("id", RawSQL(POSTGRES_VECTOR, ()))[:rows]  # noqa: S611 - constant
        try:
            sql, params = newest.query.sql_with_params()
        except EmptyResultSet:  # qs.none(): nothing in scope
            return []
        with connection.cursor() as cursor:
            cursor.execute(sql.join(POSTGRES_WALK), [*params, text, want])
            ids = [row[0] for row in cursor.fetchall()]
        if len(ids) >= want:
            return ids
    matching = qs.filter(_postgres_condition(text, common)).order_by("-id")
    return list(matching.values_list("id", flat=True)[:want])


def _postgres_ids_if_rare(text: str) -> list[int] | None:
    with connection.cursor() as cursor:
        cursor.execute(POSTGRES_IDS, [text, RARE_MATCHES + 1])
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) <= RARE_MATCHES else None


# --- Anything else: a correct but unindexed scan ----------------------------------------------------
def _fallback_filter(q: str) -> Q:
    condition = Q()
    for term in query_terms(q):
        condition &= Q(search_text__contains=term)
    return condition
