"""A customer logged in to the portal can never see or touch another customer's orders or cases."""

from __future__ import annotations

import pytest

from desk.cases import services
from desk.cases.models import AfterSalesCase, CaseState, CaseType, Reason
from desk.cases.tests.conftest import deliver
from desk.core.testing import make_customer, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def neighbour_case(db, agent):
    """Another customer's delivered order with an approved return awaiting the parcel."""
    neighbour = make_customer("李雷")
    order = deliver(make_order(neighbour, items=1, unit_price="99.00"))
    case = services.open_case(
        by=None, order=order, case_type=CaseType.RETURN_REFUND, reason=Reason.NO_REASON,
        items=[(order.items.get(), 1)],
    )  # fmt: skip
    services.approve_case(case, by=agent)
    return services.send_return_instructions(case, by=agent, address="退货仓", contact="退货组", phone="021-1")


def test_other_customers_orders_and_cases_are_not_listed(portal, neighbour_case):
    orders = portal.get("/portal/").content.decode()
    cases = portal.get("/portal/cases/").content.decode()
    assert neighbour_case.order.number not in orders
    assert neighbour_case.number not in cases


@pytest.mark.parametrize("path", ["/portal/orders/{order}/", "/portal/cases/{case}/"])
def test_other_customers_pages_are_not_found(portal, neighbour_case, path):
    response = portal.get(path.format(order=neighbour_case.order_id, case=neighbour_case.pk))
    assert response.status_code == 404
    assert neighbour_case.order.number not in response.content.decode()


def test_another_customers_order_cannot_be_claimed_or_previewed(portal, neighbour_case):
    order = neighbour_case.order
    item = order.items.get()
    data = {"case_type": CaseType.REFUND_ONLY, "reason": Reason.QUALITY, f"qty_{item.pk}": 1}
    assert portal.post(f"/portal/orders/{order.pk}/", data).status_code == 404
    assert portal.post(f"/portal/orders/{order.pk}/preview/", data).status_code == 404
    assert AfterSalesCase.objects.count() == 1


def test_another_customers_case_cannot_be_shipped_or_withdrawn(portal, neighbour_case):
    ship = portal.post(f"/portal/cases/{neighbour_case.pk}/ship/", {"carrier": "顺丰", "tracking_number": "SF9"})
    withdraw = portal.post(f"/portal/cases/{neighbour_case.pk}/withdraw/")

    neighbour_case.refresh_from_db()
    assert ship.status_code == withdraw.status_code == 404
    assert neighbour_case.state == CaseState.AWAITING_RETURN
    assert neighbour_case.return_tracking_number == ""


def test_items_of_another_order_cannot_be_slipped_into_a_request(portal, delivered_order, neighbour_case):
    foreign = neighbour_case.order.items.get()
    data = {"case_type": CaseType.REFUND_ONLY, "reason": Reason.QUALITY, f"qty_{foreign.pk}": 1}
    response = portal.post(f"/portal/orders/{delivered_order.pk}/", data)
    assert response.status_code == 400  # unknown field ignored: no item chosen
    assert AfterSalesCase.objects.count() == 1
