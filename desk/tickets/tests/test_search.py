from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from desk.core.testing import make_customer, request_type
from desk.tickets import search_index, services
from desk.tickets.models import RoutingRule, Status, Ticket
from desk.tickets.queries import keyword_page, tickets_visible_to
from desk.tickets.search_index import filter_by_keywords, fts_match, keyword_filter, search_ticket_ids


@pytest.fixture
def routed(support_team):
    RoutingRule.objects.create(name="默认", position=100, team=support_team)
    return support_team


@pytest.fixture
def tickets(routed, agent, customer):
    """Three tickets in Chinese, English and both, created as an agent would."""

    def make(subject, description=""):
        return services.create_ticket(
            by=agent, customer=customer, subject=subject, description=description, request_type=request_type()
        )

    return {
        "zh": make("耳机左耳没有声音", "收到的蓝牙耳机左耳没有声音，想退货退款"),
        "en": make("Refund for broken headphones", "The left earbud is silent. I want a refund."),
        "mixed": make("物流太慢 where is my parcel", "快递三天没动, tracking SF1234567"),
    }


def _found(q, qs=None):
    qs = Ticket.objects.all() if qs is None else qs
    return set(filter_by_keywords(qs, q).values_list("pk", flat=True))


def test_chinese_keyword_finds_the_chinese_ticket(tickets):
    assert _found("退货") == {tickets["zh"].pk}
    assert _found("耳机") == {tickets["zh"].pk}


def test_english_keywords_find_the_english_ticket_in_any_case(tickets):
    assert _found("refund") == {tickets["en"].pk}
    assert _found("HEADPHONES") == {tickets["en"].pk}
    assert _found("Refund Headphones") == {tickets["en"].pk}


def test_every_keyword_must_match(tickets):
    assert _found("耳机 refund") == set()
    assert _found("快递 parcel") == {tickets["mixed"].pk}
    assert _found("蓝牙耳机退款") == {tickets["zh"].pk}


def test_a_compound_chinese_query_is_cut_into_words(tickets):
    # jieba cuts 退货退款 into 退货, 退款 and 退货退款; the ticket holds all three.
    assert _found("退货退款") == {tickets["zh"].pk}


def test_unknown_word_finds_nothing(tickets):
    assert _found("发票") == set()
    assert search_ticket_ids("invoice") == []


def test_empty_or_punctuation_query_is_no_filter(tickets):
    assert keyword_filter("") is None
    assert keyword_filter("  ，。!? ") is None
    assert _found("，。") == {t.pk for t in tickets.values()}


def test_query_syntax_cannot_be_injected(tickets):
    for q in ['refund" OR "退货', "NOT refund", "refund*", "(refund", "^refund", 'a"b', "col:refund", "-refund"]:
        assert _found(q) <= {tickets["en"].pk}, q
    assert fts_match('refund" OR "x') == '"refund" AND "or" AND "x"'


def test_ticket_is_found_by_words_added_later(tickets):
    ticket = tickets["en"]
    assert _found("invoice") == set()
    services.add_customer_message(ticket, "Also I need an invoice, 需要开发票")
    assert _found("invoice") == {ticket.pk}
    assert _found("发票") == {ticket.pk}
    assert _found("refund invoice") == {ticket.pk}


def test_reply_words_are_searchable(tickets, agent):
    services.reply_to_ticket(tickets["zh"], "已为您安排换货，顺丰上门取件", by=agent)
    assert _found("换货") == {tickets["zh"].pk}


def test_deleted_ticket_leaves_the_index(tickets):
    gone = tickets["zh"].pk
    Ticket.objects.filter(pk=gone).delete()
    assert search_ticket_ids("退货") == []
    assert _found("耳机") == set()


def test_search_combines_with_status_and_visibility(tickets, agent, outsider):
    services.update_ticket(tickets["en"], status=Status.RESOLVED, by=agent)
    open_qs = Ticket.objects.filter(status__in=[Status.NEW, Status.OPEN])
    assert _found("refund", open_qs) == set()
    assert _found("退款", open_qs) == {tickets["zh"].pk}
    assert _found("退款", tickets_visible_to(agent)) == {tickets["zh"].pk}
    assert _found("退款", tickets_visible_to(outsider)) == set()
    page = filter_by_keywords(tickets_visible_to(agent), "耳机").order_by("-id")[:50]
    assert [t.subject for t in page] == ["耳机左耳没有声音"]


def test_common_words_give_the_same_answer_by_the_other_plan(tickets, monkeypatch):
    by_lookup = _found("耳机")
    monkeypatch.setattr(search_index, "RARE_MATCHES", 0)
    assert _found("耳机") == by_lookup == {tickets["zh"].pk}
    assert _found("refund", Ticket.objects.filter(status=Status.NEW)) == {tickets["en"].pk}


def test_newest_matches_come_first_and_limit_holds(routed, agent):
    customer = make_customer("张三")
    made = [
        services.create_ticket(
            by=agent, customer=customer, subject=f"退货申请 {n}", request_type=request_type("return_exchange")
        )
        for n in range(4)
    ]
    assert search_ticket_ids("退货申请", limit=3) == [t.pk for t in reversed(made)][:3]


def test_the_database_index_exists(db):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE name LIKE %s", ["ticket_fts%"])
            names = {row[0] for row in cursor.fetchall()}
            assert {"ticket_fts", "ticket_fts_ai", "ticket_fts_ad", "ticket_fts_au"} <= names
        else:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'ticket_search_vector_gin'")
            (definition,) = cursor.fetchone()
            assert "gin (search_vector)" in definition
            cursor.execute(
                "SELECT generation_expression FROM information_schema.columns "
                "WHERE table_name = 'tickets_ticket' AND column_name = 'search_vector'"
            )
            (expression,) = cursor.fetchone()
            assert "to_tsvector('simple'" in expression


def test_dropped_triggers_are_put_back_and_the_index_rebuilt(tickets):
    if connection.vendor != "sqlite":
        assert search_index.heal_sqlite_triggers(connection) is False
        return
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER ticket_fts_ai")
    missed = services.create_ticket(
        by=None, customer=tickets["zh"].customer, subject="发票抬头写错了", request_type=request_type("invoice")
    )
    assert search_index.heal_sqlite_triggers(connection) is True
    assert search_index.heal_sqlite_triggers(connection) is False
    assert _found("发票") == {missed.pk}
    assert _found("耳机") == {tickets["zh"].pk}


def test_a_word_common_by_the_statistics_gives_the_same_answer(routed, agent, customer, monkeypatch):
    made = {
        services.create_ticket(by=agent, customer=customer, subject=f"refund {n}", request_type=request_type()).pk
        for n in range(8)
    }
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    monkeypatch.setattr(search_index, "RARE_MATCHES", 3)
    if connection.vendor == "postgresql":
        assert search_index._postgres_all_words_common("refund") is True
        assert search_index._postgres_all_words_common("refund 5") is False
    assert _found("refund") == made
    assert len(_found("REFUND 5")) == 1
    assert _found("refund 9") == set()
    assert len(search_ticket_ids("refund", limit=3)) == 3


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the newest-first walk is SQLite's FTS5 path")
def test_newest_first_walk_pages_through_chunks_and_skips_filtered_rows(routed, agent, customer, monkeypatch):
    monkeypatch.setattr(search_index, "WALK_FIRST_CHUNK", 2)
    monkeypatch.setattr(search_index, "WALK_MAX_CHUNK", 3)
    made = [
        services.create_ticket(by=agent, customer=customer, subject=f"退货申请 {n}", request_type=request_type())
        for n in range(9)
    ]
    for ticket in made[4:]:  # the newest five are closed: the walk must reach past them
        services.update_ticket(ticket, by=agent, status=Status.CLOSED)
    open_qs = Ticket.objects.filter(status__in=[Status.NEW, Status.OPEN])

    ids = search_index.newest_matching_ids(open_qs, "退货", 3)

    assert ids == [made[3].pk, made[2].pk, made[1].pk]
    assert search_index.newest_matching_ids(open_qs, "退货", 10) == [t.pk for t in reversed(made[:4])]
    assert search_index.newest_matching_ids(open_qs, "不存在的词", 3) == []


def test_queue_search_finds_old_open_tickets_behind_newer_closed_ones(routed, agent, customer, client):
    old = services.create_ticket(by=agent, customer=customer, subject="退货 旧工单", request_type=request_type())
    for n in range(3):
        newer = services.create_ticket(by=agent, customer=customer, subject=f"退货 {n}", request_type=request_type())
        services.update_ticket(newer, by=agent, status=Status.CLOSED)
    client.force_login(agent)

    page = client.get("/", {"tab": "mine", "q": "退货"})

    assert page.status_code == 200
    assert old.number in page.content.decode()
    assert page.content.decode().count('data-testid="status"') == 1


def test_several_common_words_page_newest_first_by_either_plan(routed, agent, outsider, customer, monkeypatch):
    """Words that meet in one sentence (PostgreSQL's planner takes them for rare together) and words
    that never meet: the newest-first walk and the fallback after a short walk give the same page."""

    def make(subject, status=None):
        ticket = services.create_ticket(by=agent, customer=customer, subject=subject, request_type=request_type())
        if status is not None:
            services.update_ticket(ticket, by=agent, status=status)
        return ticket.pk

    together = [make(f"耳机 左耳 没有 声音 {n}") for n in range(5)]
    closed = make("耳机 左耳 没有 声音 已关闭", Status.CLOSED)  # the newest match: open pages skip it
    make("耳机 左耳")  # two of the three words only
    apart = [make(f"耳机 坏了 {n}") for n in range(3)] + [make(f"refund please {n}") for n in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    monkeypatch.setattr(search_index, "RARE_MATCHES", 2)
    open_qs = Ticket.objects.filter(status__in=[Status.NEW, Status.OPEN])
    newest_three = together[::-1][:3]
    if connection.vendor == "postgresql":
        assert search_index._postgres_all_words_common("耳机 左耳 声音 refund") is True

    with CaptureQueriesContext(connection) as walked:
        assert search_index.newest_matching_ids(open_qs, "耳机 左耳 声音", 3) == newest_three
    assert search_index.newest_matching_ids(open_qs, "声音 左耳 耳机", 10) == together[::-1]
    assert search_index.newest_matching_ids(open_qs, "耳机 refund", 3) == []
    visible = tickets_visible_to(agent)  # closed ones too
    assert search_index.newest_matching_ids(visible, "耳机 左耳 声音", 3) == [closed, *newest_three[:2]]
    assert search_index.newest_matching_ids(tickets_visible_to(outsider), "耳机 左耳 声音", 3) in ([], None)
    assert _found("耳机 左耳 声音", open_qs) == set(together)
    assert _found("耳机 坏了") == set(apart[:3])
    if connection.vendor == "postgresql":  # the page came from the walk alone: statistics, then one walk
        assert len(walked.captured_queries) == 2
        assert " w(id, sv) " in walked.captured_queries[1]["sql"]

    # A walk too short for the page (PostgreSQL) or chunks of two (SQLite): the same answers.
    monkeypatch.setattr(search_index, "POSTGRES_WALK_ROWS", 2)
    monkeypatch.setattr(search_index, "POSTGRES_WALK_ROWS_PER_ID", 1)
    monkeypatch.setattr(search_index, "WALK_FIRST_CHUNK", 2)
    monkeypatch.setattr(search_index, "WALK_MAX_CHUNK", 2)
    assert search_index.newest_matching_ids(open_qs, "耳机 左耳 声音", 3) == newest_three
    assert search_index.newest_matching_ids(open_qs, "耳机 refund", 3) == []
    page = keyword_page(open_qs, "耳机 左耳 没有 声音", offset=1, limit=2)
    assert page is not None
    assert [t.pk for t in page] == together[::-1][1:3]
