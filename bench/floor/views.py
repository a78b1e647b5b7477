"""A 50-row page through a Django template, and a one-row insert."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from bench.floor.models import Item


def page(request: HttpRequest) -> HttpResponse:
    rows = Item.objects.order_by("-id")[:50]
    return render(request, "floor/page.html", {"rows": rows})


@csrf_exempt
def insert(request: HttpRequest) -> HttpResponse:
    item = Item.objects.create(
        title="新工单 new item", category="new", price=Decimal("9.90"), created_at=timezone.now()
    )
    return HttpResponse(str(item.pk), status=201, content_type="text/plain")
