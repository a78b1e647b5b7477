"""What the webhooks API reads and writes."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema

from desk.webhooks.models import DeliveryStatus

_TYPES_HELP = "Verbs such as 'ticket.created' or families such as 'ticket.*'; empty means every event."


class EndpointIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    url: str = Field(..., min_length=1, max_length=500)
    event_types: list[str] = Field(default_factory=list, max_length=50, description=_TYPES_HELP)
    secret: str | None = Field(None, min_length=16, max_length=100, description="Generated when left out.")
    active: bool = True


class EndpointPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    url: str | None = Field(None, min_length=1, max_length=500)
    event_types: list[str] | None = Field(None, max_length=50, description=_TYPES_HELP)
    secret: str | None = Field(None, min_length=16, max_length=100, description="Rotates the signing secret.")
    active: bool | None = None


class EndpointOut(Schema):
    id: int
    name: str
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime


class EndpointWithSecretOut(EndpointOut):
    secret: str


class DeliveryOut(Schema):
    id: int
    event_id: int
    verb: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    response_excerpt: str
    created_at: datetime
    delivered_at: datetime | None


class EndpointPage(Schema):
    items: list[EndpointOut]
    limit: int
    offset: int
    next_offset: int | None


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    limit: int
    offset: int
    next_offset: int | None
