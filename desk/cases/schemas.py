"""What the after-sales cases API reads and writes; bounds here make bad input a 400, never a 500."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import StringConstraints

from desk.cases.models import (
    CaseState,
    CaseType,
    ExchangeMode,
    Grade,
    NoticeStatus,
    Reason,
    RepairOffer,
    RepairResult,
    ServiceMode,
)
from desk.cases.notices import MAX_CLAIM
from desk.core.api import MAX_ID, Id
from desk.customers.models import Channel
from desk.evidence.models import ConfirmationChannel, DisputeTier

CaseRef = Annotated[str, StringConstraints(max_length=20)]
RefundNumber = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


# --- Input -----------------------------------------------------------------------------------------
class LineIn(Schema):
    order_item_id: Id
    quantity: int = Field(1, ge=1, le=100_000)


class RequestIn(Schema):
    """What the policy needs to judge a request (preview), and what opening a case adds to it."""

    order_id: Id
    type: CaseType
    reason: Reason
    items: list[LineIn] = Field(default_factory=list, max_length=100, description="Empty for compensation.")
    opened: bool | None = Field(
        None,
        description="Whether the unit was opened, unsealed or activated (decides the 'once opened' exclusions). "
        "Shipping insurance and the exclusions confirmed at purchase are read from the order.",
    )


class CaseIn(RequestIn):
    reason_text: LongText = ""
    ticket_id: Id | None = Field(None, description="The customer's ticket this case belongs to.")
    serial_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        "", description="Repair: the unit's serial number."
    )
    service_mode: ServiceMode | None = Field(None, description="Repair: mail-in or on-site.")


class ApproveIn(Schema):
    policy_exception: Text = Field("", description="Required when the policy refuses the request (stated reason).")


class RejectIn(Schema):
    reason: Text


class InstructionsIn(Schema):
    address: Text
    contact: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
    packing: Text = ""
    shipping_method: Text = ""


class ShipmentIn(Schema):
    carrier: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
    tracking_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class InspectIn(Schema):
    grade: Grade
    complete: bool
    original: bool
    defect: bool
    human_damage: bool
    notes: LongText = ""
    opened: bool | None = Field(None, description="The unit was found opened, unsealed or activated.")


class SettleInspectionIn(Schema):
    """A refund held by the inspection (goods not intact): refund less `deduction`, or in full (0) as an exception."""

    deduction: Decimal = Field(..., ge=0, max_digits=10, decimal_places=2)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class RefundIn(Schema):
    provider: Annotated[str, StringConstraints(max_length=20)] | None = Field(
        None, description="Payment provider (manual, simulated); the configured one when left out."
    )


class MarkDoneIn(Schema):
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


# Exchange and reship, repair, guidance.
Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class ReplacementLineIn(Schema):
    sku: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    quantity: int = Field(1, ge=1, le=10_000)


class ReserveIn(Schema):
    mode: ExchangeMode | None = Field(None, description="Exchange: return first, or ship first (先发后退).")
    replacements: list[ReplacementLineIn] | None = Field(None, max_length=50, description="Default: the same SKUs.")


class ShipReplacementIn(ShipmentIn):
    return_address: Text = Field("", description="Ship first: where the customer sends the goods back.")
    return_contact: ShortText = ""
    return_phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""


class ExtendReturnIn(Schema):
    days: int = Field(ge=1, le=30, description="More days from now for a ship-first exchange's return.")
    note: Text = ""


class SettleUnreturnedIn(Schema):
    outcome: Literal["charge", "write_off"] = Field(
        description="charge: the customer pays for the goods kept; write_off: the shop bears it."
    )
    amount: Money | None = Field(None, description="Default: what the claimed goods were paid.")
    note: Text = ""


class ArrangeServiceIn(Schema):
    address: Text = Field("", description="On-site: the visit address (mail-in: where the unit is sent).")
    appointment_at: datetime | None = None


class StartDiagnosisIn(Schema):
    carrier: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] = ""
    tracking_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""


class DiagnosisIn(Schema):
    diagnosis: LongText
    human_damage: bool = False
    fee: Money = Field(Decimal("0.00"), description="Out of warranty or human damage: the quoted fee.")


class RepairResultIn(Schema):
    result: RepairResult
    notes: LongText = ""
    offer: RepairOffer | None = Field(None, description="Cannot be repaired: refund or exchange.")


class GuidanceIn(Schema):
    text: LongText
    article: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class ResolveIn(Schema):
    note: LongText = ""


class CompleteIn(Schema):
    visit_result: LongText = Field("", description="On-site repair not shipped back: what the technician did.")


class ConvertIn(Schema):
    to: CaseType
    reason: Text
    serial_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    service_mode: ServiceMode | None = None


# Compensation, the customer's confirmation, disputes.
class CompensationIn(Schema):
    kind: Annotated[str, StringConstraints(min_length=1, max_length=30)] = Field(..., description="Catalogue code.")
    amount: Money
    reason: Text


class ReasonIn(Schema):
    reason: Text


class ReferenceIn(Schema):
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""


class ProposalIn(Schema):
    kind: CaseType
    summary: LongText
    reason: LongText
    refund_amount: Money = Decimal("0.00")
    compensation_amount: Money = Decimal("0.00")
    fee_amount: Money = Decimal("0.00")
    process_change: bool = False
    respond_by: datetime | None = None
    execute_by: datetime | None = None


class AnswerIn(Schema):
    channel: ConfirmationChannel
    confirmation_text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    reason: LongText = ""


class DisputeIn(Schema):
    tier: DisputeTier
    summary: LongText


class NoteIn(Schema):
    note: LongText = ""


class ArbitrationIn(Schema):
    body: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
    reference: ShortText = ""
    outcome: LongText = ""


class OutcomeIn(Schema):
    outcome: LongText


class CaseFilters(Schema):
    state: CaseState | None = None
    type: CaseType | None = None
    order: Id | None = None
    customer: Id | None = None
    updated_since: datetime | None = Field(None, description="Only cases changed at or after this time.")
    tracking: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = Field(
        None, description="Only cases with a parcel of this tracking number (return, repair unit, replacement)."
    )


# --- Output ----------------------------------------------------------------------------------------
class DecisionOut(Schema):
    outcome: str
    rule: str
    message: str = Field(..., description="The rule's sentence in the reader's language.")
    params: dict[str, Any]
    window_ends: datetime | None
    shipping_payer: str
    double_shipping: bool
    restocking_fee_percent: Decimal
    policy_version: int | None


class AmountsOut(Schema):
    currency: str
    goods: Decimal
    shipping_refund: Decimal
    restocking_fee: Decimal
    deduction: Decimal = Field(Decimal("0.00"), description="Taken off a no-reason return that came back not intact.")
    refund: Decimal
    compensation: Decimal


class CaseItemOut(Schema):
    order_item_id: int
    sku: str
    name: str
    quantity: int
    amount: Decimal


class TrackingOut(Schema):
    carrier: str
    tracking_number: str
    shipped_at: datetime | None


class InspectionOut(Schema):
    grade: str
    complete: bool | None = None
    original: bool | None = None
    defect: bool | None = None
    human_damage: bool | None = None
    opened: bool | None = None
    passed: bool | None = None
    notes: str = ""
    hold: RefundHoldOut | None = Field(None, description="The policy rule that holds the refund (goods not intact).")
    settled: RefundHoldSettledOut | None = None


class RefundHoldOut(Schema):
    rule: str  # not_intact / returned_opened
    params: dict[str, str]
    policy_version: int | None = None


class RefundHoldSettledOut(Schema):
    deduction: Decimal
    reason: str


class RefundOut(Schema):
    refund_number: str
    amount: Decimal
    currency: str
    provider: str
    status: str
    provider_reference: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    confirmed_at: datetime | None


class OrderRef(Schema):
    id: int
    number: str


class CustomerRef(Schema):
    id: int
    name: str


class DeadlinesOut(Schema):
    answer_due_at: datetime | None
    ship_due_at: datetime | None
    receive_due_at: datetime | None
    refund_due_at: datetime | None


class CaseOut(Schema):
    id: int
    number: str
    type: CaseType
    state: CaseState
    reason: Reason
    reason_text: str
    customer: CustomerRef
    order: OrderRef
    ticket_id: int | None
    decision: DecisionOut | None
    amounts: AmountsOut
    return_shipping_payer: str
    return_instructions: dict[str, Any]
    tracking: TrackingOut | None
    inspection: InspectionOut | None
    close_reason: str
    allowed_actions: list[str]
    deadlines: DeadlinesOut
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    received_at: datetime | None
    closed_at: datetime | None


class ReplacementOut(Schema):
    id: int
    sku: str
    quantity: int
    status: str
    carrier: str
    tracking_number: str
    shipped_at: datetime | None


class CompensationOut(Schema):
    id: int
    kind: str
    amount: Decimal
    currency: str
    reason: str
    source: str
    status: str
    payout_number: str
    reference: str


class ProposalOut(Schema):
    id: int
    kind: str
    summary: str
    status: str
    refund_amount: Decimal
    compensation_amount: Decimal
    fee_amount: Decimal
    respond_by: datetime
    channel: str


class DisputeOut(Schema):
    id: int
    tier: str
    status: str
    summary: str
    opened_at: datetime
    outcome: str


class EvidenceOut(Schema):
    id: int
    original_name: str
    content_type: str
    size: int
    sha256: str
    description: str
    source: str
    created_at: datetime
    withdrawn_at: datetime | None


class InsuranceClaimOut(Schema):
    id: int
    amount: Decimal
    currency: str
    status: str
    carrier: str
    tracking_number: str
    reference: str
    note: str
    filed_at: datetime
    settled_at: datetime | None


class RepairOut(Schema):
    """A repair case's unit, warranty verdict, service, parcels, diagnosis, fee and result."""

    serial_number: str
    service_mode: ServiceMode
    in_warranty: bool
    warranty_rule: str
    warranty_ends: datetime | None
    service_address: str
    appointment_at: datetime | None
    inbound_carrier: str
    inbound_tracking_number: str
    inbound_shipped_at: datetime | None
    diagnose_by: datetime | None
    diagnosis: str
    human_damage: bool
    diagnosed_at: datetime | None
    fee: Decimal
    fee_accepted_at: datetime | None
    result: str
    result_notes: str
    offer: str
    back_carrier: str
    back_tracking_number: str
    shipped_back_at: datetime | None
    visit_result: str


class EvidenceIn(Schema):
    description: Text = ""


class CaseDetailOut(CaseOut):
    items: list[CaseItemOut]
    refunds: list[RefundOut]
    replacements: list[ReplacementOut]
    compensations: list[CompensationOut]
    proposals: list[ProposalOut]
    disputes: list[DisputeOut]
    evidence: list[EvidenceOut]
    insurance_claim: InsuranceClaimOut | None
    repair: RepairOut | None = Field(None, description="Repair cases only.")


class CasePage(Schema):
    items: list[CaseOut]
    limit: int
    offset: int
    next_offset: int | None


# --- The customer-notice outbox (/api/notices) ------------------------------------------------------
NOTICE_PAGE_MAX = 200


class NoticeFilters(Schema):
    channel: Channel = Field(description="The outbox to read: web, wechat, app, phone ... (email is read-only).")
    status: NoticeStatus | None = Field(None, description="Only notices in this state.")
    after: int = Field(0, ge=0, le=MAX_ID, description="Notices after this id (the last id of the previous page).")
    limit: int = Field(50, ge=1, le=NOTICE_PAGE_MAX)


class NoticeClaimIn(Schema):
    channel: Channel
    limit: int = Field(20, ge=1, le=MAX_CLAIM, description="Claim at most this many due notices.")


class NoticeDeliveredIn(Schema):
    provider_message_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = Field(
        "", description="The channel provider's id of the message, kept in the event log."
    )


class NoticeFailedIn(Schema):
    error: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    retry: bool = Field(True, description="False when retrying cannot help (no such user, blocked): gives up.")


class NoticeOut(Schema):
    id: int
    case_id: int
    case_number: str
    customer_id: int
    channel: str
    recipient: str = Field(description="The customer's address on the channel (OpenID, phone number ...).")
    kind: str
    is_result: bool = Field(description="The case's result: must reach the customer within 24 h.")
    language: str
    subject: str
    body: str
    status: NoticeStatus
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    claimed_until: datetime | None = Field(description="A claim holds the notice for its poller until then.")
    sent_at: datetime | None
    due_at: datetime | None


class NoticePage(Schema):
    """Oldest first; pass `next_after` as `after` for the next page (null on the last)."""

    items: list[NoticeOut]
    next_after: int | None


class NoticeClaimOut(Schema):
    items: list[NoticeOut]


# --- Stock (/api/stock) --------------------------------------------------------------------------------
StockSku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class StockFilters(Schema):
    sku: StockSku | None = Field(None, description="Only this SKU (exact).")
    q: Text | None = Field(None, description="SKU, name or model containing this text.")


class StockOut(Schema):
    sku: str
    name: str
    model: str
    spec: str
    on_hand: int = Field(description="Sellable units in the warehouse, reserved ones included.")
    reserved: int = Field(description="Held for replacement and reship shipments.")
    available: int = Field(description="on_hand - reserved: what the next case may reserve.")
    returned_a: int = Field(description="Returned, resaleable (二次销售) once put back on sale.")
    returned_b: int
    returned_c: int
    returned_supplier: int
    updated_at: datetime | None


class StockPage(Schema):
    items: list[StockOut]
    limit: int
    offset: int
    next_offset: int | None


class RestockIn(Schema):
    sku: StockSku
    quantity: int = Field(ge=1, le=1_000_000)
    name: Text = Field("", description="A new SKU's name, model and spec (an existing SKU keeps its own).")
    model: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    spec: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    note: Text = ""


class ResellIn(Schema):
    sku: StockSku
    quantity: int = Field(ge=1, le=1_000_000)
