"""The carriers' tracking push: one scan for whatever parcel the desk knows by that tracking number."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Router, Schema
from pydantic import Field

from desk.cases.tracking import record_parcel_scan
from desk.core.api import ERRORS, AuthedRequest
from desk.orders.models import ShipmentStatus

router = Router(tags=["tracking"])


class ScanIn(Schema):
    tracking_number: str = Field(..., max_length=64)
    status: ShipmentStatus
    happened_at: datetime | None = Field(None, description="When the carrier scanned it; default now.")
    location: str = Field("", max_length=100)
    description: str = Field("", max_length=300)


class ScanOut(Schema):
    shipments: list[int] = Field(..., description="Order shipments whose status history took the scan.")
    replacements: list[str] = Field(..., description="Cases whose replacement parcel this is.")
    returns: list[str] = Field(..., description="Cases whose return parcel this is (scan on the timeline).")


@router.post("/scans", response={200: ScanOut, **ERRORS})
def push_scan(request: AuthedRequest, payload: ScanIn) -> Any:
    """One tracking scan (needs `order.import`, as the integration role has). Order shipments take it
    into their history, a delivered replacement is marked delivered, a return parcel's case shows it.
    An unknown tracking number is a 404; the same scan twice is stored once."""
    found = record_parcel_scan(
        payload.tracking_number, payload.status, by=request.auth, happened_at=payload.happened_at,
        location=payload.location, description=payload.description,
    )  # fmt: skip
    return {"shipments": found.shipments, "replacements": found.replacements, "returns": found.returns}
