"""Carrier tracking scans for every parcel the desk knows by its tracking number.

A carrier (or the shop's logistics integration) pushes one scan at a time: the order's own shipments
take it into their status history, a replacement parcel that is delivered is marked delivered, and a
customer's return parcel gets the scan on its case timeline, so agents and the warehouse see where the
return is before it arrives ("parcel tracked" in the return flow). The same scan pushed twice is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.cases import services_exchange as exchange
from desk.cases.models import AfterSalesCase, ReplacementShipment, ReplacementStatus
from desk.cases.services import _event, _lock
from desk.core.errors import NotFound
from desk.core.models import Event
from desk.customers.services import clean_choice, clean_text
from desk.orders.models import Shipment, ShipmentStatus
from desk.orders.services import clean_datetime, record_shipment_event

RETURN_SCANNED = "case.return_scanned"
REPLACEMENT_SCANNED = "case.replacement_scanned"


@dataclass(frozen=True)
class ScanResult:
    """What the scan reached: order shipments, replacement parcels' cases, return parcels' cases."""

    shipments: list[int]
    replacements: list[str]
    returns: list[str]


def record_parcel_scan(
    tracking_number: str,
    status: str,
    *,
    by: Any,
    happened_at: Any = None,
    location: str = "",
    description: str = "",
) -> ScanResult:
    """Apply one scan to every parcel with this tracking number; NotFound when the desk knows none."""
    authorize(by, "order.import")
    number = clean_text(tracking_number, "tracking_number", max_length=64, required=True)
    status = clean_choice(status, "status", ShipmentStatus.values)
    moment = clean_datetime(happened_at, "happened_at") or timezone.now()
    place = clean_text(location, "location", max_length=100)
    note = clean_text(description, "description", max_length=300)
    shipments = list(Shipment.objects.filter(tracking_number=number))
    replacements = _replacements_in_transit(number)
    returns = list(AfterSalesCase.objects.filter(return_tracking_number=number))
    if not (shipments or returns or ReplacementShipment.objects.filter(tracking_number=number).exists()):
        raise NotFound(_("No parcel with tracking number %(n)s.") % {"n": number}, code="parcel.not_found")
    for shipment in shipments:
        record_shipment_event(shipment, status, happened_at=moment, location=place, description=note)
    for case in replacements:
        if status == ShipmentStatus.DELIVERED:
            exchange.record_replacement_delivery(case, by=None)
        else:
            _note_scan(case, REPLACEMENT_SCANNED, number, status, moment, place, note, by)
    for case in returns:
        _note_scan(case, RETURN_SCANNED, number, status, moment, place, note, by)
    return ScanResult(
        shipments=[s.pk for s in shipments],
        replacements=[c.number for c in replacements],
        returns=[c.number for c in returns],
    )


def _replacements_in_transit(number: str) -> list[AfterSalesCase]:
    shipped = ReplacementShipment.objects.filter(tracking_number=number, status=ReplacementStatus.SHIPPED)
    return list(AfterSalesCase.objects.filter(pk__in=shipped.values("case_id")))


def _note_scan(
    case: AfterSalesCase, verb: str, number: str, status: str, moment: Any, place: str, note: str, by: Any
) -> None:
    """The scan on the case's timeline, once (a carrier retrying its push repeats the same scan)."""
    data = {"tracking_number": number, "status": status, "happened_at": moment.isoformat()}
    with transaction.atomic():
        case = _lock(case, policy=False)
        seen = Event.objects.filter(subject_type="aftersalescase", subject_id=case.pk, verb=verb)
        if seen.filter(data__status=status, data__happened_at=data["happened_at"]).exists():
            return
        _event(verb, case, by, data={**data, "location": place, "description": note})
