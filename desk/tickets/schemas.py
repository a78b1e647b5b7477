"""What the tickets API reads and writes; bounds here make bad input a 400, never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import StringConstraints

from desk.core.api import Id
from desk.customers.models import Channel, Tier
from desk.tickets.models import MessageKind, Priority, SlaState, Status

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
TicketRef = Annotated[str, StringConstraints(max_length=20)]


class RequestTypeOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    is_complex: bool


class NamedRef(Schema):
    id: int
    name: str


class TeamRef(Schema):
    id: int
    code: str
    name: str


class UserRef(Schema):
    id: int
    username: str
    name: str


class TicketOut(Schema):
    id: int
    number: str
    subject: str
    description: str
    status: Status
    priority: Priority
    channel: Channel
    request_type: str
    customer: NamedRef
    customer_tier: Tier
    order_id: int | None
    team: TeamRef | None
    assignee: UserRef | None
    tags: list[str]
    sla_state: SlaState
    sla_due_at: datetime | None
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    first_responded_at: datetime | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


class TicketPage(Schema):
    items: list[TicketOut]
    limit: int
    offset: int
    next_offset: int | None


class TicketFilters(Schema):
    status: Status | None = None
    open: bool | None = Field(None, description="Only tickets not yet resolved or closed.")
    priority: Priority | None = None
    request_type: str | None = Field(None, max_length=40, description="Request type code.")
    team: Id | None = None
    assignee: Id | None = None
    unassigned: bool | None = None
    customer: Id | None = None
    channel: Channel | None = None
    tier: Tier | None = None
    sla_state: SlaState | None = None
    tag: str | None = Field(None, max_length=50)
    q: str | None = Field(None, max_length=200, description="Keywords (Chinese or English), all must match.")


class CustomerIdentityIn(Schema):
    channel: Channel
    value: str = Field(..., min_length=1, max_length=200)
    name: str = Field("", max_length=150)


class TicketIn(Schema):
    subject: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=20000)
    request_type: str = Field("other", min_length=1, max_length=40)
    customer_id: Id | None = None
    customer: CustomerIdentityIn | None = Field(None, description="Found or created by channel identity.")
    channel: Channel = Channel.API
    priority: Priority | None = None
    order_id: Id | None = None
    order_item_ids: list[Id] = Field(default_factory=list, max_length=50)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class TicketUpdateIn(Schema):
    status: Status | None = None
    priority: Priority | None = None
    request_type: str | None = Field(None, min_length=1, max_length=40)
    team_id: Id | None = None
    tags: list[Tag] | None = Field(None, max_length=20)


class ReplyIn(Schema):
    body: str = Field(..., min_length=1, max_length=20000)
    status: Status | None = Field(None, description="Move the ticket to this status with the reply.")
    proposes_solution: bool = False


class NoteIn(Schema):
    body: str = Field(..., min_length=1, max_length=20000)


class AssignIn(Schema):
    assignee_id: Id | None = Field(None, description="Null leaves the ticket without an owner.")
    team_id: Id | None = None


class MergeIn(Schema):
    into: TicketRef = Field(..., description="Id or number of the ticket that keeps the conversation.")


class MessageOut(Schema):
    id: int
    kind: MessageKind
    author: UserRef | None
    channel: Channel
    body: str
    created_at: datetime


class MessagePage(Schema):
    items: list[MessageOut]
    limit: int
    offset: int
    next_offset: int | None


class AttachmentOut(Schema):
    id: int
    original_name: str
    content_type: str
    size: int
    url: str
    message_id: int | None
    created_at: datetime


class AttachmentPage(Schema):
    items: list[AttachmentOut]
    limit: int
    offset: int
    next_offset: int | None


class TicketEventOut(Schema):
    id: int
    created_at: datetime
    actor: str
    verb: str
    before: dict[str, Any]
    after: dict[str, Any]
    data: dict[str, Any]


class TicketEventPage(Schema):
    items: list[TicketEventOut]
    limit: int
    offset: int
    next_offset: int | None
