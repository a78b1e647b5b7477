"""What the case pages' speed-ups must not change: blank action forms rendered once still follow
their choices and language, and the list's ready-made rows show what the cases hold."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.urls import reverse
from django.utils import translation

from desk.cases import services
from desk.cases.forms import ProposeCompensationForm, ShipmentForm, action_fields
from desk.cases.models import CaseType, CompensationKind, Reason
from desk.cases.queries import KINDS_CACHE_KEY
from desk.cases.tests.conftest import lines
from desk.core.testing import make_customer, make_order


def test_a_blank_action_form_is_rendered_as_django_renders_it(db: Any) -> None:
    form = ShipmentForm()
    multipart, html = action_fields(ShipmentForm)
    assert not multipart
    for field in form:
        assert str(field.as_widget()) in html
        assert f'<label class="small">{field.label}' in html


def test_blank_forms_follow_their_choices_and_language(db: Any) -> None:
    CompensationKind.objects.create(code="coupon-x", name="Coupon X")
    cache.delete(KINDS_CACHE_KEY)
    _, before = action_fields(ProposeCompensationForm)
    CompensationKind.objects.create(code="points-y", name="Points Y")
    cache.delete(KINDS_CACHE_KEY)  # what saving a kind in the admin leads to within a minute
    _, after = action_fields(ProposeCompensationForm)
    assert "Points Y" not in before
    assert "Points Y" in after
    with translation.override("en"):
        _, english = action_fields(ProposeCompensationForm)
    with translation.override("zh-hans"):
        _, chinese = action_fields(ProposeCompensationForm)
    assert '<label class="small">Kind<select' in english
    assert '<label class="small">类型<select' in chinese


def test_posted_data_is_rendered_back_into_the_form(db: Any) -> None:
    _, html = action_fields(ShipmentForm, {"carrier": "SF", "tracking_number": "SF42"})
    assert 'value="SF42"' in html


def test_list_rows_show_type_state_customer_order_and_amount(client: Any, agent: Any) -> None:
    order = make_order(make_customer("王五"), items=1, number="ORD-7788")
    case = services.open_case(
        by=agent, order=order, case_type=CaseType.REFUND_ONLY, reason=Reason.QUALITY, items=lines(order, 1)
    )
    client.force_login(agent)
    html = client.get(reverse("cases:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = html.split('data-testid="case-row"')[1].split("</tr>")[0]
    assert f'href="{reverse("cases:detail", args=[case.number])}">{case.number}</a>' in row
    for text in ("王五", "ORD-7788", f"{case.currency} {case.refund_amount}", 'class="pill case-requested"'):
        assert text in row
