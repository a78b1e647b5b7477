"""After-sales cases (售后单), their items, the versioned return policy and the refund ledger."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from desk.customers.models import Customer
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


OPEN_CASE_STATES = [s for s in CaseState if s not in (CaseState.CLOSED,)]


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
    # Timers (marketplace defaults).
    auto_approve_unshipped_hours = models.PositiveIntegerField(default=48)
    auto_approve_shipped_days = models.PositiveIntegerField(default=5)
    auto_approve_virtual_days = models.PositiveIntegerField(default=3)
    auto_approve_max_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    customer_ship_days = models.PositiveIntegerField(default=7)
    shop_receive_days = models.PositiveIntegerField(default=10)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique")]
        ordering = ["policy", "-version"]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.version}"


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

    class Meta:
        indexes = [
            models.Index(fields=["state", "answer_due_at"], name="case_answer_due_idx"),
            models.Index(fields=["state", "ship_due_at"], name="case_ship_due_idx"),
            models.Index(fields=["state", "receive_due_at"], name="case_receive_due_idx"),
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
