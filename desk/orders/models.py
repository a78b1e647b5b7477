"""Orders from the shop's storefronts, with items, payment and shipments; plus import jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from desk.customers.models import Customer


class Storefront(models.Model):
    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    # A delivered order is confirmed as received (completed) this many days after delivery (自动确认收货).
    auto_confirm_days = models.PositiveSmallIntegerField(default=10)

    def __str__(self) -> str:
        return self.name


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Awaiting payment")
    PAID = "paid", _("Paid")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class Order(models.Model):
    external_id = models.CharField(max_length=100, unique=True)
    number = models.CharField(_("order number"), max_length=64, db_index=True)
    storefront = models.ForeignKey(Storefront, on_delete=models.PROTECT, related_name="orders")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PAID)
    placed_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="CNY")
    total_amount = models.DecimalField(max_digits=12, decimal_places=2)
    shipping_fee = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    discount_amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    payment_method = models.CharField(max_length=30, blank=True)
    payment_reference = models.CharField(max_length=100, blank=True)
    recipient_name = models.CharField(max_length=100, blank=True)
    recipient_phone = models.CharField(max_length=32, blank=True)
    shipping_address = models.CharField(max_length=300, blank=True)
    # Facts of the purchase the after-sales policy reads (never the requester's say-so): shipping
    # insurance (运费险) bought with the order, and the optional no-reason-return exclusions (codes of
    # desk.cases.models.Exclusion) the customer confirmed at checkout.
    shipping_insured = models.BooleanField(default=False)
    confirmed_exclusions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Auto-confirm receipt: the deadline, and since when an open after-sales case has paused it.
    auto_confirm_at = models.DateTimeField(null=True, blank=True)
    auto_confirm_paused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="order_customer_idx"),
            models.Index(fields=["status", "auto_confirm_at"], name="order_auto_confirm_idx"),
        ]

    def __str__(self) -> str:
        return self.number


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    model = models.CharField(max_length=100, blank=True)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField(default=1)
    discount_amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity}"


class ShipmentStatus(models.TextChoices):
    CREATED = "created", _("Label created")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    DELIVERED = "delivered", _("Delivered")
    EXCEPTION = "exception", _("Exception")
    RETURNED = "returned", _("Returned to sender")


class Shipment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=50)
    tracking_number = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.CREATED)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Imports upsert shipments by tracking number within their order.
        constraints = [models.UniqueConstraint(fields=["order", "tracking_number"], name="shipment_tracking_unique")]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class ShipmentEvent(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices)
    happened_at = models.DateTimeField()
    location = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["happened_at", "id"]
        # The same scan reported twice (a re-import, a retried push) is one event.
        constraints = [
            models.UniqueConstraint(fields=["shipment", "status", "happened_at"], name="shipment_event_unique")
        ]


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    ORDERS = "orders", _("Orders")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportJob(models.Model):
    """An uploaded CSV/JSON file imported in the background, row by row, with an error report."""

    kind = models.CharField(max_length=10, choices=ImportKind.choices)
    file_format = models.CharField(max_length=4)  # csv or json
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    succeeded_rows = models.PositiveIntegerField(default=0)
    failed_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved on every chunk; a running job whose heartbeat stops was lost with its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} import #{self.pk}"
