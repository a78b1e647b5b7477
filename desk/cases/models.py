"""After-sales cases (售后单), their items, the versioned return policy and the refund ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from desk.core.errors import Conflict
from desk.customers.models import Customer, Tier
from desk.orders.models import Order, OrderItem, Storefront

CASE_PREFIX = "AS"
ZERO = Decimal("0.00")


class CaseType(models.TextChoices):
    REFUND_ONLY = "refund_only", _("Refund only (仅退款)")
    RETURN_REFUND = "return_refund", _("Return and refund (退货退款)")
    EXCHANGE = "exchange", _("Exchange (换货)")
    REPAIR = "repair", _("Repair (维修)")
    RESHIP = "reship", _("Reship parts (补寄)")
    GUIDANCE = "guidance", _("Technical guidance")
    COMPENSATION = "compensation", _("Compensation")


class CaseState(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    AWAITING_RETURN = "awaiting_return", _("Awaiting the customer's return")
    RETURNING = "returning", _("Return parcel on its way")
    RECEIVED = "received", _("Received by the warehouse")
    INSPECTED = "inspected", _("Inspected")
    REFUNDING = "refunding", _("Refund in progress")
    REFUNDED = "refunded", _("Refunded")
    CLOSED = "closed", _("Closed")
    # Repair (维修), technical guidance and compensation.
    SCHEDULED = "scheduled", _("Service arranged (mail-in or visit)")
    DIAGNOSING = "diagnosing", _("Tech support diagnosing")
    QUOTED = "quoted", _("Repair fee quoted, waiting for the customer")
    REPAIRING = "repairing", _("Being repaired")
    REPAIRED = "repaired", _("Repair result recorded")
    SHIPPED_BACK = "shipped_back", _("Sent back to the customer")
    GUIDED = "guided", _("Guidance given, waiting for the customer")
    RESOLVED = "resolved", _("Resolved")
    COMPLETED = "completed", _("Completed")
    # Exchange (换货) and reship (补寄).
    REPLACEMENT_RESERVED = "replacement_reserved", _("Replacement reserved in stock")
    REPLACEMENT_SHIPPED = "replacement_shipped", _("Replacement shipped")


# Final states. Resolved guidance and completed repair or compensation cases kept no goods and refunded
# nothing, so their items may be claimed again (a later return or repair of the same unit).
RELEASED_CASE_STATES = [CaseState.RESOLVED, CaseState.COMPLETED]
RELEASING_CASE_TYPES = ["repair", "guidance", "compensation"]
FINISHED_CASE_STATES = [CaseState.CLOSED, CaseState.RESOLVED, CaseState.COMPLETED]
OPEN_CASE_STATES = [s for s in CaseState if s not in FINISHED_CASE_STATES]


class Reason(models.TextChoices):
    NO_REASON = "no_reason", _("Changed my mind (七天无理由)")
    QUALITY = "quality", _("Quality problem")
    NOT_AS_DESCRIBED = "not_as_described", _("Not as described")
    WRONG_ITEM = "wrong_item", _("Wrong item sent")
    DAMAGED = "damaged", _("Damaged in transit")
    NOT_RECEIVED = "not_received", _("Parcel never arrived")
    MISSING_PART = "missing_part", _("Missing item or part")
    OTHER = "other", _("Other")


class Grade(models.TextChoices):
    A = "A", _("A: resaleable (二次销售)")
    B = "B", _("B: refurbish")
    C = "C", _("C: scrap")
    SUPPLIER = "supplier", _("Return to supplier")


class ExchangeMode(models.TextChoices):
    RETURN_FIRST = "return_first", _("Return first, then ship the replacement")
    SHIP_FIRST = "ship_first", _("Ship the replacement first (先发后退)")


class Exclusion(models.TextChoices):
    """Goods outside the 7-day no-reason return: the statutory four, then optional ones."""

    CUSTOM_MADE = "custom_made", _("custom-made")
    PERISHABLE = "perishable", _("fresh or perishable")
    UNSEALED_DIGITAL = "unsealed_digital", _("unsealed audio-video, software or digital goods")
    PERIODICAL = "periodical", _("delivered newspapers and periodicals")
    UNSEALED_HYGIENE = "unsealed_hygiene", _("unsealed hygiene or personal-care items")
    ACTIVATED_DEVICE = "activated_device", _("activated devices")
    CLEARANCE = "clearance", _("clearance sale goods")


STATUTORY_EXCLUSIONS = [
    Exclusion.CUSTOM_MADE,
    Exclusion.PERISHABLE,
    Exclusion.UNSEALED_DIGITAL,
    Exclusion.PERIODICAL,
]


class Payer(models.TextChoices):
    CUSTOMER = "customer", _("the customer")
    SHOP = "shop", _("the shop")
    INSURANCE = "insurance", _("shipping insurance (运费险)")


class ProductRule(models.Model):
    """What the policy needs to know about a product, keyed by SKU (orders carry no category)."""

    sku = models.CharField(max_length=64, unique=True)
    category = models.CharField(max_length=50, blank=True, db_index=True)
    exclusions = models.JSONField(default=list, blank=True)  # Exclusion codes that apply to this product
    is_virtual = models.BooleanField(default=False)
    warranty_months = models.PositiveSmallIntegerField(null=True, blank=True)  # overrides the policy

    def __str__(self) -> str:
        return self.sku


class ReturnPolicy(models.Model):
    """A named policy and its scope; the rules themselves live in versions.

    The most specific scope wins: a SKU, then a category, then a storefront, then the default
    (all scope fields empty).
    """

    name = models.CharField(max_length=100)
    storefront = models.ForeignKey(Storefront, null=True, blank=True, on_delete=models.CASCADE)
    category = models.CharField(max_length=50, blank=True)
    sku = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "return policies"

    def __str__(self) -> str:
        return self.name


def _default_payers() -> dict[str, str]:
    return {
        Reason.NO_REASON: Payer.CUSTOMER,
        Reason.QUALITY: Payer.SHOP,
        Reason.NOT_AS_DESCRIBED: Payer.SHOP,
        Reason.WRONG_ITEM: Payer.SHOP,
        Reason.DAMAGED: Payer.SHOP,
        Reason.MISSING_PART: Payer.SHOP,
        Reason.NOT_RECEIVED: Payer.SHOP,
        Reason.OTHER: Payer.CUSTOMER,
    }


def _statutory() -> list[str]:
    return [str(e) for e in STATUTORY_EXCLUSIONS]


def _ship_first_tiers() -> list[str]:
    return [str(Tier.VIP), str(Tier.SVIP)]


class PolicyVersion(models.Model):
    """One edition of a policy's rules. A case keeps the version in force when it was opened."""

    policy = models.ForeignKey(ReturnPolicy, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    effective_from = models.DateTimeField()
    notes = models.CharField(max_length=300, blank=True)
    # Windows, in calendar days counted from the day after delivery was signed for (签收次日).
    no_reason_days = models.PositiveSmallIntegerField(default=7)
    quality_return_days = models.PositiveSmallIntegerField(default=7)
    quality_exchange_days = models.PositiveSmallIntegerField(default=15)
    warranty_months = models.PositiveSmallIntegerField(default=12)
    exclusions = models.JSONField(default=_statutory, blank=True)  # always excluded from no-reason returns
    optional_exclusions = models.JSONField(default=list, blank=True)  # only if confirmed at purchase
    require_intact = models.BooleanField(default=True)  # goods complete, packaging kept
    # Money rules.
    return_shipping_payer = models.JSONField(default=_default_payers, blank=True)  # reason -> Payer
    restocking_fee_percent = models.DecimalField(max_digits=5, decimal_places=2, default=ZERO)
    shipping_insurance_payout = models.DecimalField(max_digits=8, decimal_places=2, default=ZERO)
    free_return_threshold = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    double_shipping_compensation = models.BooleanField(default=True)  # 双倍运费赔付 when it is the shop's fault
    refund_due_days = models.PositiveSmallIntegerField(default=7)  # after receiving the return
    # Payment providers' refund rules (Alipay, WeChat Pay): partial refunds per payment, days after payment.
    max_refunds_per_payment = models.PositiveSmallIntegerField(default=50)
    refund_window_days = models.PositiveSmallIntegerField(default=365)
    # Timers (marketplace defaults).
    auto_approve_unshipped_hours = models.PositiveIntegerField(default=48)
    auto_approve_shipped_days = models.PositiveIntegerField(default=5)
    auto_approve_virtual_days = models.PositiveIntegerField(default=3)
    auto_approve_max_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    customer_ship_days = models.PositiveIntegerField(default=7)
    shop_receive_days = models.PositiveIntegerField(default=10)
    inspect_within_hours = models.PositiveIntegerField(default=48)  # warehouse inspects a received return
    # Days before the ship deadline the customer is reminded to send the return (0: no reminder).
    ship_reminder_days = models.PositiveSmallIntegerField(default=2)
    # A return-and-refund request the policy allows and the shop left unanswered is approved by the sweep
    # (as refund-only ones are), its return instructions naming this default address; without an
    # address, or switched off, it is escalated instead.
    auto_approve_returns = models.BooleanField(default=True)
    return_address = models.CharField(max_length=300, blank=True)
    return_contact = models.CharField(max_length=100, blank=True)
    return_phone = models.CharField(max_length=50, blank=True)
    return_packing = models.CharField(max_length=300, blank=True)
    diagnosis_hours = models.PositiveSmallIntegerField(default=24)  # tech support diagnoses a received unit (repair)
    # Exchange: ship the replacement before the return arrives (先发后退) only for these customer tiers
    # (empty: never), and the days the customer then has to ship the return.
    ship_first_exchange_tiers = models.JSONField(default=_ship_first_tiers, blank=True)
    ship_first_return_days = models.PositiveSmallIntegerField(default=7)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique")]
        ordering = ["policy", "-version"]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Refuse to change a version cases were opened under: a later step (ship-by days, refund due,
        insurance payout...) would otherwise judge those cases by terms they were not opened under."""
        if self.changed_fields() and self.in_use():
            raise Conflict(VERSION_IN_USE % {"version": self.version}, code="policy.version_in_use")
        super().save(*args, **kwargs)

    def in_use(self) -> bool:
        """Whether a case was opened under this version: its terms are then fixed (cases are judged by them)."""
        return self.pk is not None and AfterSalesCase.objects.filter(policy_version_id=self.pk).exists()

    def changed_fields(self) -> list[str]:
        """The columns this instance would change in its stored row (none for a new version)."""
        row = PolicyVersion.objects.filter(pk=self.pk).values().first() if self.pk is not None else None
        if row is None:
            return []
        stored: dict[str, Any] = dict(row)
        return [f.attname for f in self._meta.concrete_fields if stored[f.attname] != getattr(self, f.attname)]

    def clean(self) -> None:
        if self.changed_fields() and self.in_use():
            raise DjangoValidationError(str(VERSION_IN_USE) % {"version": self.version})


VERSION_IN_USE = _(
    "Version %(version)s is in use by after-sales cases and cannot be changed: "
    "add a new version with a later start (effective from) instead."
)


class AfterSalesCase(models.Model):
    case_type = models.CharField(_("type"), max_length=20, choices=CaseType.choices)
    state = models.CharField(max_length=20, choices=CaseState.choices, default=CaseState.REQUESTED, db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="cases")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="cases")
    ticket = models.ForeignKey("tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="cases")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    reason_text = models.TextField(blank=True)
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="cases")
    decision = models.JSONField(default=dict, blank=True)  # the policy evaluation shown to agent and customer
    currency = models.CharField(max_length=3, default="CNY")
    goods_amount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    shipping_refund = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    restocking_fee = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    refund_amount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    compensation_amount = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    return_shipping_payer = models.CharField(max_length=10, choices=Payer.choices, blank=True)
    return_instructions = models.JSONField(default=dict, blank=True)
    return_carrier = models.CharField(max_length=50, blank=True)
    return_tracking_number = models.CharField(max_length=64, blank=True, db_index=True)
    grade = models.CharField(max_length=10, choices=Grade.choices, blank=True)
    inspection = models.JSONField(default=dict, blank=True)
    # Whether the returned unit was opened, unsealed or activated (None: not known): stated by the customer
    # at request, then as the warehouse found it. The "unsealed"/"activated" exclusions are judged on it.
    unit_opened = models.BooleanField(null=True, blank=True)
    # Taken off the refund of a no-reason return that came back not intact (decided after inspection).
    deduction = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    close_reason = models.CharField(max_length=50, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Deadlines the sweep acts on; a column is cleared when its timer is met or claimed.
    answer_due_at = models.DateTimeField(null=True, blank=True)  # shop must answer the request
    ship_due_at = models.DateTimeField(null=True, blank=True)  # customer must ship the return
    receive_due_at = models.DateTimeField(null=True, blank=True)  # shop must confirm receipt
    refund_due_at = models.DateTimeField(null=True, blank=True)  # refund due after receipt
    inspect_due_at = models.DateTimeField(null=True, blank=True)  # warehouse must inspect the received return
    ship_remind_at = models.DateTimeField(null=True, blank=True)  # remind the customer to ship the return
    # The refund timer the sweep claims (escalation), apart from `refund_due_at`, which stays for display
    # and the overdue filter; cleared when the refund is confirmed.
    refund_escalate_at = models.DateTimeField(null=True, blank=True)
    # Exchange: how the replacement goes out, and (ship first) by when the customer must send the return.
    exchange_mode = models.CharField(max_length=12, choices=ExchangeMode.choices, blank=True)
    return_due_at = models.DateTimeField(null=True, blank=True)
    diagnosis_due_at = models.DateTimeField(null=True, blank=True)  # tech support's 24 h diagnosis (repair)

    class Meta:
        indexes = [
            models.Index(fields=["state", "answer_due_at"], name="case_answer_due_idx"),
            models.Index(fields=["state", "ship_due_at"], name="case_ship_due_idx"),
            models.Index(fields=["state", "receive_due_at"], name="case_receive_due_idx"),
            models.Index(fields=["state", "refund_due_at"], name="case_refund_due_idx"),  # the overdue filter
            models.Index(fields=["state", "diagnosis_due_at"], name="case_diagnosis_due_idx"),
            models.Index(fields=["state", "inspect_due_at"], name="case_inspect_due_idx"),
            models.Index(fields=["state", "ship_remind_at"], name="case_ship_remind_idx"),
            models.Index(fields=["state", "refund_escalate_at"], name="case_refund_escalate_idx"),
            models.Index(fields=["customer", "-created_at"], name="case_customer_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        """Derived from the primary key, like ticket numbers: unique without a second write."""
        return f"{CASE_PREFIX}{self.pk:07d}" if self.pk else ""


class CaseItem(models.Model):
    case = models.ForeignKey(AfterSalesCase, on_delete=models.CASCADE, related_name="items")
    order_item = models.ForeignKey(OrderItem, on_delete=models.PROTECT, related_name="case_items")
    quantity = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)  # paid share refunded

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "order_item"], name="case_item_unique")]


class RefundStatus(models.TextChoices):
    APPROVED = "approved", _("Approved")
    SENT = "sent", _("Sent to the payment provider")
    CONFIRMED = "confirmed", _("Confirmed")
    FAILED = "failed", _("Failed")


LIVE_REFUND_STATUSES = [RefundStatus.APPROVED, RefundStatus.SENT, RefundStatus.CONFIRMED]


class Refund(models.Model):
    """One refund of one payment. Its number is sent on every attempt, so a retry never pays twice."""

    refund_number = models.CharField(max_length=32, unique=True)
    case = models.ForeignKey(AfterSalesCase, on_delete=models.PROTECT, related_name="refunds")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment_reference = models.CharField(max_length=100, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="CNY")
    provider = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=RefundStatus.choices, default=RefundStatus.APPROVED)
    provider_reference = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Finance's page lists refunds by status, newest first.
        indexes = [models.Index(fields=["status", "-id"], name="refund_status_idx")]

    def __str__(self) -> str:
        return self.refund_number


class LedgerKind(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    SENT = "sent", _("Sent")
    CONFIRMED = "confirmed", _("Confirmed")
    FAILED = "failed", _("Failed")
    RETRIED = "retried", _("Retried")


class RefundLedgerEntry(models.Model):
    """Append-only history of a refund's money movements, for finance and audits."""

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=LedgerKind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField()
    actor_label = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]


class SimulatedPayout(models.Model):
    """The simulated payment provider's own books: one payout per refund number, like a real one."""

    refund_number = models.CharField(max_length=32, unique=True)
    payment_reference = models.CharField(max_length=100, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)


# --- Repair (维修) ------------------------------------------------------------------------------
class ServiceMode(models.TextChoices):
    MAIL_IN = "mail_in", _("Mail-in (寄修)")
    ON_SITE = "on_site", _("On-site visit (上门维修)")


class RepairResult(models.TextChoices):
    REPAIRED = "repaired", _("Repaired")
    REPLACED = "replaced", _("Replaced with a new unit")
    CANNOT_REPAIR = "cannot_repair", _("Cannot be repaired")
    UNREPAIRED = "unrepaired", _("Returned unrepaired (fee declined)")


class RepairOffer(models.TextChoices):
    """What the shop offers when the unit cannot be repaired."""

    REFUND = "refund", _("Refund")
    EXCHANGE = "exchange", _("Exchange")


class RepairJob(models.Model):
    """The repair side of a repair case: unit, warranty verdict, service, diagnosis, result, shipment back."""

    case = models.OneToOneField(AfterSalesCase, on_delete=models.CASCADE, related_name="repair")
    serial_number = models.CharField(max_length=64, db_index=True)
    service_mode = models.CharField(max_length=10, choices=ServiceMode.choices)
    in_warranty = models.BooleanField(default=False)
    warranty_rule = models.CharField(max_length=30)  # a warranty.RULES code, rendered in the reader's language
    warranty_params = models.JSONField(default=dict, blank=True)
    warranty_ends = models.DateTimeField(null=True, blank=True)
    # Mail-in: where the customer sends the unit and the parcel; on-site: when and where the technician goes.
    service_address = models.CharField(max_length=300, blank=True)
    appointment_at = models.DateTimeField(null=True, blank=True)
    inbound_carrier = models.CharField(max_length=50, blank=True)
    inbound_tracking_number = models.CharField(max_length=64, blank=True, db_index=True)
    inbound_shipped_at = models.DateTimeField(null=True, blank=True)  # the customer entered the parcel (mail-in)
    # The diagnosis deadline as set when the unit arrived: kept after the sweep claims the case's
    # `diagnosis_due_at`, so a diagnosis made after the escalation is still recorded as late.
    diagnose_by = models.DateTimeField(null=True, blank=True)
    diagnosis = models.TextField(blank=True)
    human_damage = models.BooleanField(default=False)
    diagnosed_at = models.DateTimeField(null=True, blank=True)
    fee = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)  # quoted when out of warranty
    fee_accepted_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=20, choices=RepairResult.choices, blank=True)
    result_notes = models.TextField(blank=True)
    offer = models.CharField(max_length=10, choices=RepairOffer.choices, blank=True)
    back_carrier = models.CharField(max_length=50, blank=True)
    back_tracking_number = models.CharField(max_length=64, blank=True, db_index=True)
    shipped_back_at = models.DateTimeField(null=True, blank=True)
    visit_result = models.TextField(blank=True)  # on-site: what the technician left with the customer

    def __str__(self) -> str:
        return f"{self.case.number} {self.serial_number}"


class GuidanceNote(models.Model):
    """Instructions given on a technical guidance case (one row each time the customer was guided)."""

    case = models.ForeignKey(AfterSalesCase, on_delete=models.CASCADE, related_name="guidance_notes")
    text = models.TextField()
    article = models.CharField(max_length=200, blank=True)  # knowledge-base article or manual page used
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]


# --- Compensation (赔付: coupons, points, balance, goods, money) -----------------------------------
class CompensationKind(models.Model):
    """The catalogue of what a shop can give (seeded with five kinds, edited in the admin)."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    unit = models.CharField(max_length=20, default="CNY")  # what `amount` counts: CNY, points, ...
    # Money value of one unit (1 point = 0.01 CNY): approval limits are checked on amount × unit value.
    unit_value = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("1"))
    pays_money = models.BooleanField(default=False)  # paid through the payment provider
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]

    def __str__(self) -> str:
        return self.name


class GrantStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    APPROVED = "approved", _("Approved")
    SENT = "sent", _("Sent to the payment provider")
    FAILED = "failed", _("Payment failed")
    ISSUED = "issued", _("Issued")
    CANCELLED = "cancelled", _("Cancelled")


class GrantSource(models.TextChoices):
    GOODWILL = "goodwill", _("Goodwill")
    DOUBLE_SHIPPING = "double_shipping", _("Double shipping-fee compensation (双倍运费赔付)")


class CompensationGrant(models.Model):
    """One compensation given on a case: kind, amount, reason, proposed → approved → issued / cancelled.

    Money is paid under `payout_number`, sent on every attempt, so a retry never pays twice.
    """

    case = models.ForeignKey(AfterSalesCase, on_delete=models.PROTECT, related_name="compensations")
    kind = models.ForeignKey(CompensationKind, on_delete=models.PROTECT, related_name="grants")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="CNY")
    reason = models.CharField(max_length=300)
    source = models.CharField(max_length=20, choices=GrantSource.choices, default=GrantSource.GOODWILL)
    status = models.CharField(max_length=10, choices=GrantStatus.choices, default=GrantStatus.PROPOSED)
    payout_number = models.CharField(max_length=32, unique=True)
    provider = models.CharField(max_length=20, blank=True)
    reference = models.CharField(max_length=100, blank=True)  # coupon code, points or provider reference
    attempts = models.PositiveSmallIntegerField(default=0)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(source="double_shipping") & ~models.Q(status="cancelled"),
                name="one_double_shipping_grant_per_case",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="compensation_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.payout_number


# --- Shipping insurance (运费险) -----------------------------------------------------------------
class ClaimStatus(models.TextChoices):
    FILED = "filed", _("Filed")
    PAID = "paid", _("Paid")
    REJECTED = "rejected", _("Rejected")


class ShippingInsuranceClaim(models.Model):
    """The insurer's fixed payout for a self-shipped return of an insured order: one claim per payment."""

    case = models.OneToOneField(AfterSalesCase, on_delete=models.PROTECT, related_name="insurance_claim")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="insurance_claims")
    payment_reference = models.CharField(max_length=100, blank=True)
    amount = models.DecimalField(max_digits=8, decimal_places=2)
    currency = models.CharField(max_length=3, default="CNY")
    status = models.CharField(max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.FILED)
    carrier = models.CharField(max_length=50)
    tracking_number = models.CharField(max_length=64)
    reference = models.CharField(max_length=100, blank=True)  # the insurer's claim or payout reference
    note = models.CharField(max_length=300, blank=True)
    filed_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # An order has one payment; the insurer pays a payment's return shipping once.
        constraints = [models.UniqueConstraint(fields=["order"], name="insurance_claim_one_per_payment")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status}"


# --- Stock for exchanges and reships (换货, 补寄) -------------------------------------------------
class Stock(models.Model):
    """One SKU's stock: sellable units on hand (some reserved for replacements) and returned goods by grade.

    Returned goods are counted apart from sellable stock: grade A is resaleable (二次销售) once
    restocked, B waits for refurbishing, C is scrap, and some go back to the supplier.
    """

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100, blank=True)
    spec = models.CharField(max_length=100, blank=True)  # size, colour, capacity ...
    on_hand = models.PositiveIntegerField(default=0)  # sellable units in the warehouse, reserved ones included
    reserved = models.PositiveIntegerField(default=0)  # held for replacement shipments
    returned_a = models.PositiveIntegerField(default=0)  # resaleable (二次销售)
    returned_b = models.PositiveIntegerField(default=0)  # to refurbish
    returned_c = models.PositiveIntegerField(default=0)  # scrap
    returned_supplier = models.PositiveIntegerField(default=0)  # to send back to the supplier
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(reserved__lte=models.F("on_hand")), name="stock_reserved_on_hand")
        ]

    def __str__(self) -> str:
        return self.sku

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


RETURNED_FIELD: dict[str, str] = {
    Grade.A: "returned_a",
    Grade.B: "returned_b",
    Grade.C: "returned_c",
    Grade.SUPPLIER: "returned_supplier",
}


class ReplacementPurpose(models.TextChoices):
    REPLACEMENT = "replacement", _("Exchange replacement")
    RESHIP = "reship", _("Missing parts or items (补寄)")


class ReplacementStatus(models.TextChoices):
    RESERVED = "reserved", _("Reserved")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    RELEASED = "released", _("Reservation released")


class ReplacementShipment(models.Model):
    """One SKU line the shop sends to the customer for a case: reserved, then shipped and tracked."""

    case = models.ForeignKey(AfterSalesCase, on_delete=models.PROTECT, related_name="replacements")
    purpose = models.CharField(max_length=12, choices=ReplacementPurpose.choices)
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=ReplacementStatus.choices, default=ReplacementStatus.RESERVED)
    carrier = models.CharField(max_length=50, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True, db_index=True)
    reserved_at = models.DateTimeField()
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.sku} × {self.quantity}"


class StockMovementKind(models.TextChoices):
    RESTOCK = "restock", _("Stock received")
    RESERVE = "reserve", _("Reserved")
    RELEASE = "release", _("Reservation released")
    SHIP = "ship", _("Shipped")
    RETURN = "return", _("Return received")
    RESELL = "resell", _("Returned goods back on sale (二次销售)")


class StockMovement(models.Model):
    """Append-only ledger of every change to a SKU's stock, with the case that caused it."""

    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=10, choices=StockMovementKind.choices)
    quantity = models.PositiveIntegerField()
    grade = models.CharField(max_length=10, choices=Grade.choices, blank=True)  # returns only
    case = models.ForeignKey(
        AfterSalesCase, null=True, blank=True, on_delete=models.PROTECT, related_name="stock_movements"
    )
    shipment = models.ForeignKey(
        ReplacementShipment, null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )
    created_at = models.DateTimeField()
    actor_label = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]


class NoticeStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Gave up")


class CustomerNotice(models.Model):
    """A message telling the customer about a step of their case (desk/cases/notices.py writes them).

    Written in the transaction of the case event it reports (an outbox), sent after commit: email
    through Django's email backend, other channels picked up by their channel integration. A result
    notice (the case is finished) must be delivered by `due_at`, or the sweep escalates it.
    """

    case = models.ForeignKey(AfterSalesCase, on_delete=models.CASCADE, related_name="notices")
    event = models.OneToOneField("core.Event", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30)
    is_result = models.BooleanField(default=False)
    channel = models.CharField(max_length=10)
    recipient = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=10)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=NoticeStatus.choices, default=NoticeStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # null: waits for its channel integration
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)  # result notices: delivered within 24 h
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notice_due_idx"),
            models.Index(
                fields=["due_at"], name="notice_result_due_idx", condition=models.Q(sent_at=None, escalated_at=None)
            ),
        ]
