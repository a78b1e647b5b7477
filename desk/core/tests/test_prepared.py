"""Prepared queries give what the ORM gives, with new values each call, and refuse what they cannot replay."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, OuterRef, Window

from desk.core.aggregates import PAIR, joined, pair, split_joined
from desk.core.prepared import NotPreparable, Prepared, reads_ahead
from desk.core.testing import make_customer, make_order
from desk.customers.models import Customer, CustomerIdentity
from desk.orders.models import Order, OrderItem

pytestmark = pytest.mark.django_db


def _orders(customer_id: int) -> object:
    return (
        Order.objects.filter(customer_id=customer_id)
        .select_related("customer", "storefront")
        .annotate(listed=Window(Count("id")))
        .order_by("-id")
    )


def _facts(order: Order) -> tuple[object, ...]:
    return (order.pk, order.number, order.total_amount, order.placed_at, order.customer.name, order.listed)


def test_model_rows_with_relations_and_annotations_match_the_orm_for_each_value():
    first, second = make_customer("张三"), make_customer("李四")
    for _ in range(3):
        make_order(first, unit_price="99.50")
    make_order(second)
    prepared = Prepared(_orders)

    for customer in (first, second, first):
        got = prepared(customer.pk)
        assert [_facts(o) for o in got] == [_facts(o) for o in _orders(customer.pk)]
    assert [o.listed for o in prepared(first.pk)] == [3, 3, 3]
    assert isinstance(prepared(first.pk)[0].total_amount, Decimal)  # converters ran (SQLite keeps text)
    assert prepared(second.pk + first.pk + 1000) == []


def test_tuples_and_variants():
    customer = make_customer()
    order = make_order(customer, items=2)

    def items(order_id: int, variant: str) -> object:
        return OrderItem.objects.filter(order_id=order_id).order_by(variant).values_list("sku", "quantity")

    prepared = Prepared(items)
    assert prepared.rows(order.pk, variant="id") == list(items(order.pk, "id"))
    assert prepared.rows(order.pk, variant="-id") == list(items(order.pk, "-id"))
    assert prepared.rows(order.pk, variant="id") != prepared.rows(order.pk, variant="-id")


def test_get_raises_does_not_exist():
    customer = make_customer("王五")
    one = Prepared(lambda pk: Customer.objects.filter(pk=pk))
    assert one.get(customer.pk).name == "王五"
    with pytest.raises(Customer.DoesNotExist):
        one.get(customer.pk + 1000)


def test_what_cannot_be_replayed_is_refused():
    customer = make_customer()
    with pytest.raises(NotPreparable):
        Prepared(lambda pk: Customer.objects.filter(pk=pk).prefetch_related("tags"))(customer.pk)
    with pytest.raises(NotPreparable):  # the value is transformed, not passed whole
        Prepared(lambda name: Customer.objects.filter(name__contains=name))("王")
    with pytest.raises(NotPreparable):
        Prepared(lambda pk: Customer.objects.filter(pk=pk).values("name"))(customer.pk)


def test_joined_values_come_back_apart():
    customer = make_customer()
    CustomerIdentity.objects.create(customer=customer, channel="phone", value="13800138000")
    CustomerIdentity.objects.create(customer=customer, channel="wechat", value="wx-openid-1")
    pairs = joined(CustomerIdentity.objects.filter(customer_id=OuterRef("pk")), "customer_id", pair("channel", "value"))
    row = Customer.objects.annotate(pairs=pairs).get(pk=customer.pk)
    assert sorted(one.partition(PAIR)[::2] for one in split_joined(row.pairs)) == [
        ("phone", "13800138000"),
        ("wechat", "wx-openid-1"),
    ]
    assert Customer.objects.annotate(pairs=pairs).get(pk=make_customer("无").pk).pairs is None


def test_string_values_are_replayed_too():
    first, second = make_customer("张三"), make_customer("李四")
    by_name = Prepared(lambda name: Customer.objects.filter(name=name).values_list("pk"))
    assert by_name.rows("张三") == [(first.pk,)]
    assert by_name.rows("李四") == [(second.pk,)]
    assert by_name.rows("nobody") == []


def test_the_direct_sqlite_path_gives_what_the_logged_path_gives_and_guards_transactions():
    from django.db import transaction
    from django.db.transaction import TransactionManagementError
    from django.test.utils import CaptureQueriesContext

    customer = make_customer("赵六")
    make_order(customer, unit_price="12.30")
    prepared = Prepared(_orders)
    direct = [_facts(o) for o in prepared(customer.pk)]  # queries not logged: the direct path on SQLite
    with CaptureQueriesContext(connection) as logged:
        through_django = [_facts(o) for o in prepared(customer.pk)]
    assert direct == through_django
    assert len(logged.captured_queries) == 1  # logging still sees it

    with transaction.atomic():
        connection.needs_rollback = True  # as after a failed statement inside the block
        with pytest.raises(TransactionManagementError):  # refused, as Django's cursor refuses
            prepared(customer.pk)
        connection.needs_rollback = False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
def test_on_postgresql_a_hot_read_becomes_a_prepared_statement_of_the_connection():
    customer = make_customer("孙七")
    make_order(customer)
    prepared = Prepared(_orders)
    expected = [_facts(o) for o in _orders(customer.pk)]
    for _ in range(6):  # psycopg prepares a statement on its 5th run on a connection (settings: prepare_threshold)
        assert [_facts(o) for o in prepared(customer.pk)] == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ['%"orders_order"%'])
        statements = [row[0] for row in cursor.fetchall()]
    assert len(statements) == 1, statements  # planned once, then reused with new values
    assert "$1" in statements[0]  # the values travel apart from the SQL (server-side binding)


def test_reads_run_ahead_are_handed_out_once_each_with_the_results_of_a_plain_read():
    from django.test.utils import CaptureQueriesContext

    first, second = make_customer("周八"), make_customer("吴九")
    make_order(first, unit_price="8.80")
    make_order(second, items=2)
    orders = Prepared(_orders)
    items = Prepared(lambda order_id: OrderItem.objects.filter(order__customer_id=order_id).values_list("sku"))
    expected = ([_facts(o) for o in _orders(first.pk)], [_facts(o) for o in _orders(second.pk)])
    expected_items = list(OrderItem.objects.filter(order__customer_id=second.pk).values_list("sku"))

    # Queries are not logged here: on PostgreSQL the three go out in one pipeline.
    with reads_ahead([orders.ahead(first.pk), orders.ahead(second.pk), items.ahead(second.pk)]):
        with CaptureQueriesContext(connection) as inside:
            got = ([_facts(o) for o in orders(first.pk)], [_facts(o) for o in orders(second.pk)])
            got_items = items.rows(second.pk)
        assert inside.captured_queries == []  # each came from the reads run ahead
        assert (got, got_items) == (expected, expected_items)
        with CaptureQueriesContext(connection) as again:
            assert [_facts(o) for o in orders(first.pk)] == expected[0]  # a second read runs again
            assert orders(first.pk + second.pk + 1000) == []  # as does one not announced
        assert len(again.captured_queries) == 2
    with CaptureQueriesContext(connection) as after:
        orders(second.pk)
    assert len(after.captured_queries) == 1  # nothing is kept past the block


def test_a_block_inside_a_block_reads_only_what_the_outer_one_did_not():
    from django.test.utils import CaptureQueriesContext

    customer = make_customer("郑十")
    make_order(customer)
    orders = Prepared(_orders)
    expected = [o.pk for o in _orders(customer.pk)]
    with reads_ahead([orders.ahead(customer.pk)]):
        with (
            CaptureQueriesContext(connection) as inner,
            reads_ahead([orders.ahead(customer.pk), orders.ahead(customer.pk + 1)]),
        ):
            assert [o.pk for o in orders(customer.pk)] == expected
            assert orders(customer.pk + 1) == []
        assert len(inner.captured_queries) == 1  # only the read the outer block had not made


def test_reads_ahead_in_a_broken_transaction_are_refused():
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    customer = make_customer()
    orders = Prepared(_orders)
    with transaction.atomic():
        connection.needs_rollback = True
        with (
            pytest.raises(TransactionManagementError),
            reads_ahead([orders.ahead(customer.pk), orders.ahead(customer.pk + 1)]),
        ):
            pass
        connection.needs_rollback = False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner setting")
def test_postgresql_connections_price_index_reads_for_memory_not_spinning_disks():
    # settings.DB_RANDOM_PAGE_COST, sent with each pooled connection's start-up (no statement per request)
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert float(cursor.fetchone()[0]) == 1.1
