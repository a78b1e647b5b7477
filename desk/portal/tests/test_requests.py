"""The customer asks for after-sales service in the portal, sends the return back, or withdraws."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from desk.cases import services, services_repair
from desk.cases.models import AfterSalesCase, CaseState, CaseType, Reason, ServiceMode
from desk.core.models import Event
from desk.evidence.models import EvidenceFile, EvidenceSource

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 64 + b"\xff\xd9"


def items(order: Any) -> list[Any]:
    return list(order.items.order_by("pk"))


def request_return(portal: Any, order: Any, *, qty: int = 1, photos: list[Any] | None = None, **fields: Any) -> Any:
    first = items(order)[0]
    data = {
        "case_type": CaseType.RETURN_REFUND,
        "reason": Reason.NO_REASON,
        "description": "尺码不合适",
        f"qty_{first.pk}": qty,
        "photos": photos or [],
        **fields,
    }
    return portal.post(f"/portal/orders/{order.pk}/", data)


def approved_with_instructions(case: Any, agent: Any) -> Any:
    services.approve_case(case, by=agent)
    return services.send_return_instructions(
        case, by=agent, address="上海市青浦区华新镇退货仓1号", contact="退货组", phone="021-5555-0101",
        packing="请保留原包装", shipping_method="顺丰到付",
    )  # fmt: skip


def test_order_page_lists_the_items_and_what_is_left_to_claim(portal, delivered_order):
    page = portal.get(f"/portal/orders/{delivered_order.pk}/").content.decode()
    for item in items(delivered_order):
        assert item.name in page
        assert f'name="qty_{item.pk}"' in page


def test_policy_answer_is_shown_before_the_request_is_sent(portal, delivered_order):
    first = items(delivered_order)[0]
    response = portal.post(
        f"/portal/orders/{delivered_order.pk}/preview/",
        {"case_type": CaseType.RETURN_REFUND, "reason": Reason.NO_REASON, f"qty_{first.pk}": 1},
        HTTP_HX_REQUEST="true",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body  # the partial only
    assert "7-day no-reason return: delivered 2026-11-10, window ends 2026-11-17 23:59" in body
    assert "the customer" in body  # who pays the return shipping
    assert AfterSalesCase.objects.count() == 0


def test_customer_requests_a_return_with_a_photo(portal, delivered_order):
    photo = SimpleUploadedFile("裂痕.jpg", JPEG, content_type="image/jpeg")

    response = request_return(portal, delivered_order, qty=2, photos=[photo])

    case = AfterSalesCase.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/portal/cases/{case.pk}/"
    assert case.customer == delivered_order.customer
    assert case.case_type == CaseType.RETURN_REFUND
    assert case.state == CaseState.REQUESTED
    assert case.reason_text == "尺码不合适"
    assert case.created_by is None  # the customer
    assert [(i.order_item, i.quantity) for i in case.items.all()] == [(items(delivered_order)[0], 2)]
    opened = Event.objects.get(verb="case.opened", subject_id=case.pk)
    assert opened.actor is None
    assert opened.customer_id == delivered_order.customer_id
    evidence = EvidenceFile.objects.get(case=case)
    assert (evidence.original_name, evidence.source, evidence.uploaded_by) == (
        "裂痕.jpg",
        EvidenceSource.CUSTOMER,
        None,
    )
    assert evidence.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert "裂痕.jpg" in portal.get(f"/portal/cases/{case.pk}/").content.decode()


def test_customer_adds_photos_to_an_open_case(portal, delivered_order):
    request_return(portal, delivered_order)
    case = AfterSalesCase.objects.get()
    photos = [SimpleUploadedFile(f"p{n}.jpg", JPEG + bytes([n]), content_type="image/jpeg") for n in range(2)]

    response = portal.post(f"/portal/cases/{case.pk}/photos/", {"photos": photos})

    assert response.status_code == 302
    assert list(case.evidence.values_list("original_name", flat=True)) == ["p0.jpg", "p1.jpg"]
    assert Event.objects.filter(verb="case.evidence_added", subject_id=case.pk, actor=None).count() == 2


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_is_opened(portal, delivered_order):
    pdf = SimpleUploadedFile("invoice.pdf", b"%PDF-1.4", content_type="application/pdf")
    response = request_return(portal, delivered_order, photos=[pdf])
    assert response.status_code == 400
    assert "invoice.pdf" in response.content.decode()
    assert AfterSalesCase.objects.count() == 0


def test_a_program_named_like_a_photo_is_refused(portal, delivered_order):
    disguised = SimpleUploadedFile("照片.jpg", b"MZ\x90\x00\x03 a Windows program", content_type="image/jpeg")
    response = request_return(portal, delivered_order, photos=[disguised])
    assert response.status_code == 400
    page = response.content.decode()
    assert "照片.jpg" in page
    assert "image/jpeg" in page  # "照片.jpg is not really image/jpeg ..." in the page's language
    assert AfterSalesCase.objects.count() == 0


def test_request_without_items_is_refused_with_a_form_error(portal, delivered_order):
    response = request_return(portal, delivered_order, qty=0)
    assert response.status_code == 400
    assert AfterSalesCase.objects.count() == 0


def test_more_units_than_bought_are_refused(portal, delivered_order):
    response = request_return(portal, delivered_order, qty=3)
    assert response.status_code == 400
    assert AfterSalesCase.objects.count() == 0


def test_units_already_claimed_cannot_be_claimed_again(portal, delivered_order):
    request_return(portal, delivered_order, qty=2)
    response = request_return(portal, delivered_order, qty=1)
    assert response.status_code == 400
    assert AfterSalesCase.objects.count() == 1


def test_customer_sees_return_instructions_and_enters_the_tracking_number(portal, delivered_order, agent):
    request_return(portal, delivered_order)
    case = approved_with_instructions(AfterSalesCase.objects.get(), agent)

    page = portal.get(f"/portal/cases/{case.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "上海市青浦区华新镇退货仓1号" in page
    assert 'data-testid="ship-by"' in page
    assert "2026-11-19" in page  # 7 days to send it back

    response = portal.post(
        f"/portal/cases/{case.pk}/ship/", {"carrier": "顺丰速运", "tracking_number": " SF1234567890 "}
    )

    case.refresh_from_db()
    assert response.status_code == 302
    assert case.state == CaseState.RETURNING
    assert (case.return_carrier, case.return_tracking_number) == ("顺丰速运", "SF1234567890")
    shipped = Event.objects.get(verb="case.ship_return", subject_id=case.pk)
    assert shipped.actor is None
    assert "SF1234567890" in portal.get(f"/portal/cases/{case.pk}/").content.decode()


def test_tracking_number_cannot_be_entered_before_the_return_is_approved(portal, delivered_order):
    request_return(portal, delivered_order)
    case = AfterSalesCase.objects.get()
    response = portal.post(f"/portal/cases/{case.pk}/ship/", {"carrier": "顺丰速运", "tracking_number": "SF1"})
    case.refresh_from_db()
    assert response.status_code == 400
    assert case.state == CaseState.REQUESTED


def test_tracking_form_needs_both_fields(portal, delivered_order, agent):
    request_return(portal, delivered_order)
    case = approved_with_instructions(AfterSalesCase.objects.get(), agent)
    response = portal.post(f"/portal/cases/{case.pk}/ship/", {"carrier": "顺丰速运", "tracking_number": ""})
    case.refresh_from_db()
    assert response.status_code == 400
    assert case.state == CaseState.AWAITING_RETURN


def test_customer_withdraws_a_request(portal, delivered_order):
    request_return(portal, delivered_order)
    case = AfterSalesCase.objects.get()

    response = portal.post(f"/portal/cases/{case.pk}/withdraw/")

    case.refresh_from_db()
    assert response.status_code == 302
    assert (case.state, case.close_reason) == (CaseState.CLOSED, "withdrawn")
    assert Event.objects.get(verb="case.withdraw", subject_id=case.pk).actor is None
    assert 'data-testid="withdraw"' not in portal.get(f"/portal/cases/{case.pk}/").content.decode()


def test_a_shipped_return_can_no_longer_be_withdrawn(portal, delivered_order, agent):
    request_return(portal, delivered_order)
    case = approved_with_instructions(AfterSalesCase.objects.get(), agent)
    services.record_return_shipment(case, carrier="顺丰速运", tracking_number="SF1")

    portal.post(f"/portal/cases/{case.pk}/withdraw/")

    case.refresh_from_db()
    assert case.state == CaseState.RETURNING


def test_my_requests_lists_the_cases_with_their_status(portal, delivered_order):
    request_return(portal, delivered_order)
    case = AfterSalesCase.objects.get()
    page = portal.get("/portal/cases/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert case.number in page
    assert "Requested" in page


def test_customer_asks_for_an_exchange(portal, delivered_order):
    response = request_return(portal, delivered_order, case_type=CaseType.EXCHANGE, reason=Reason.QUALITY)
    case = AfterSalesCase.objects.get()
    assert response.status_code == 302
    assert (case.case_type, case.state) == (CaseType.EXCHANGE, CaseState.REQUESTED)


def test_a_repair_needs_the_serial_number(portal, delivered_order):
    fields = {"case_type": CaseType.REPAIR, "reason": Reason.QUALITY, "service_mode": ServiceMode.MAIL_IN}
    refused = request_return(portal, delivered_order, **fields)
    assert refused.status_code == 400
    assert AfterSalesCase.objects.count() == 0

    accepted = request_return(portal, delivered_order, serial_number="SN-2026-0001", **fields)
    case = AfterSalesCase.objects.get()
    assert accepted.status_code == 302
    assert case.case_type == CaseType.REPAIR
    assert case.repair.serial_number == "SN-2026-0001"


def test_a_mail_in_repair_customer_sees_the_address_and_enters_the_parcel(portal, delivered_order, agent):
    fields = {"case_type": CaseType.REPAIR, "reason": Reason.QUALITY, "service_mode": ServiceMode.MAIL_IN}
    request_return(portal, delivered_order, serial_number="SN-2026-0001", **fields)
    case = services.approve_case(AfterSalesCase.objects.get(), by=agent)
    early = portal.post(f"/portal/cases/{case.pk}/ship/", {"carrier": "顺丰速运", "tracking_number": "SF1"})
    assert early.status_code == 400  # no repair address yet: nowhere to send it
    assert 'data-testid="ship-form"' not in portal.get(f"/portal/cases/{case.pk}/").content.decode()

    services_repair.arrange_repair_service(case, by=agent, address="上海市闵行区维修中心 8 号")
    page = portal.get(f"/portal/cases/{case.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-testid="repair-address"' in page
    assert "上海市闵行区维修中心 8 号" in page
    assert 'data-testid="ship-form"' in page
    blank = portal.post(f"/portal/cases/{case.pk}/ship/", {"carrier": "顺丰速运", "tracking_number": " "})
    assert blank.status_code == 400

    response = portal.post(f"/portal/cases/{case.pk}/ship/", {"carrier": "顺丰速运", "tracking_number": " SF7788 "})

    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == CaseState.SCHEDULED  # waiting for the parcel to arrive at the repair centre
    assert (case.repair.inbound_carrier, case.repair.inbound_tracking_number) == ("顺丰速运", "SF7788")
    shipped = Event.objects.get(verb="case.ship_unit", subject_id=case.pk)
    assert shipped.actor is None  # the customer's own entry
    page = portal.get(f"/portal/cases/{case.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="repair-parcel"' in page
    assert "SF7788" in page
    assert "You sent the unit for repair" in page


def test_an_on_site_repair_has_no_parcel_to_enter(portal, delivered_order, agent, time_machine):
    fields = {"case_type": CaseType.REPAIR, "reason": Reason.QUALITY, "service_mode": ServiceMode.ON_SITE}
    request_return(portal, delivered_order, serial_number="SN-2026-0001", **fields)
    case = services.approve_case(AfterSalesCase.objects.get(), by=agent)
    visit = timezone.now() + timedelta(days=1)
    services_repair.arrange_repair_service(case, by=agent, address="客户家", appointment_at=visit)
    page = portal.get(f"/portal/cases/{case.pk}/").content.decode()
    assert 'data-testid="ship-form"' not in page
    response = portal.post(f"/portal/cases/{case.pk}/ship/", {"carrier": "顺丰速运", "tracking_number": "SF1"})
    assert response.status_code == 400
    assert not Event.objects.filter(verb="case.ship_unit").exists()
