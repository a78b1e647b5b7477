"""The warehouse's stock page: who sees it, goods arriving, grade A returns back on sale, errors as 4xx."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from desk.cases.models import Stock, StockMovement
from desk.core.models import Event


def test_the_warehouse_sees_stock_and_adds_goods_that_arrived(client: Any, warehouse_clerk: Any) -> None:
    Stock.objects.create(sku="BT-100-BLK", name="蓝牙耳机", model="BT-100", spec="black", on_hand=3, reserved=1)
    client.force_login(warehouse_clerk)
    page = client.get(reverse("cases:stock"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-sku="BT-100-BLK"' in html
    assert "蓝牙耳机" in html
    body = {
        "sku": "BT-100-WHT",
        "quantity": "5",
        "name": "蓝牙耳机",
        "model": "BT-100",
        "spec": "white",
        "note": "到货",
    }
    done = client.post(reverse("cases:stock_action", args=["restock"]), body)
    assert done.status_code == 302
    row = Stock.objects.get(sku="BT-100-WHT")
    assert (row.on_hand, row.model, row.spec) == (5, "BT-100", "white")
    event = Event.objects.get(verb="stock.restock")
    assert event.actor_id == warehouse_clerk.pk
    assert event.data["quantity"] == 5
    assert StockMovement.objects.filter(stock=row).count() == 1
    listed = client.get(reverse("cases:stock"), {"q": "WHT"}).content.decode()
    assert 'data-sku="BT-100-WHT"' in listed
    assert 'data-sku="BT-100-BLK"' not in listed


def test_grade_a_returns_go_back_on_sale(client: Any, warehouse_clerk: Any) -> None:
    Stock.objects.create(sku="BT-100-BLK", model="BT-100", on_hand=3, returned_a=2)
    client.force_login(warehouse_clerk)
    assert 'data-testid="form-resell"' in client.get(reverse("cases:stock")).content.decode()
    done = client.post(reverse("cases:stock_action", args=["resell"]), {"sku": "BT-100-BLK", "quantity": "2"})
    assert done.status_code == 302
    row = Stock.objects.get(sku="BT-100-BLK")
    assert (row.on_hand, row.returned_a) == (5, 0)
    assert Event.objects.filter(verb="stock.resell").count() == 1


def test_reselling_more_than_came_back_is_refused_with_a_message(client: Any, warehouse_clerk: Any) -> None:
    Stock.objects.create(sku="BT-100-BLK", model="BT-100", on_hand=3, returned_a=1)
    client.force_login(warehouse_clerk)
    refused = client.post(reverse("cases:stock_action", args=["resell"]), {"sku": "BT-100-BLK", "quantity": "4"})
    assert 400 <= refused.status_code < 500
    assert 'data-testid="stock-error"' in refused.content.decode()
    assert Stock.objects.get(sku="BT-100-BLK").on_hand == 3
    invalid = client.post(reverse("cases:stock_action", args=["restock"]), {"sku": "X-1", "quantity": "0"})
    assert invalid.status_code == 422
    assert not Stock.objects.filter(sku="X-1").exists()


def test_an_agent_may_not_see_or_change_stock(client: Any, agent: Any) -> None:
    client.force_login(agent)
    assert client.get(reverse("cases:stock")).status_code == 403
    assert (
        client.post(reverse("cases:stock_action", args=["restock"]), {"sku": "X", "quantity": "1"}).status_code == 403
    )
    assert not Stock.objects.exists()
