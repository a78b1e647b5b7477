"""Policies and product rules are edited here; cases and refunds are read-only (services write them)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from desk.accounts.admin_site import ConfigAdmin
from desk.cases.models import (
    VERSION_IN_USE,
    AfterSalesCase,
    CompensationGrant,
    CompensationKind,
    PolicyVersion,
    ProductRule,
    Refund,
    RefundLedgerEntry,
    RepairJob,
    ReplacementShipment,
    ReturnPolicy,
    ShippingInsuranceClaim,
    Stock,
    StockMovement,
)


class PolicyVersionForm(forms.ModelForm):
    """A version cases were opened under shows read-only: its terms judge those cases."""

    class Meta:
        model = PolicyVersion
        fields = [f.name for f in PolicyVersion._meta.fields if f.editable and not f.primary_key]  # all rules

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.in_use():
            for field in self.fields.values():
                field.disabled = True  # a disabled field keeps the stored value whatever is posted
            self.fields["notes"].help_text = str(VERSION_IN_USE) % {"version": self.instance.version}


class PolicyVersionInline(admin.StackedInline):
    """Versions in use are read-only (and protected from deletion by their cases); a change of rules is a
    new version with a later `effective_from`."""

    model = PolicyVersion
    form = PolicyVersionForm
    extra = 0


@admin.register(ReturnPolicy)
class ReturnPolicyAdmin(ConfigAdmin):
    """Change rules by adding a version with a later `effective_from`: open cases keep theirs."""

    list_display = ("name", "storefront", "category", "sku", "active")
    inlines = (PolicyVersionInline,)


@admin.register(ProductRule)
class ProductRuleAdmin(ConfigAdmin):
    list_display = ("sku", "category", "is_virtual", "warranty_months")
    search_fields = ("sku", "category")


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AfterSalesCase)
class AfterSalesCaseAdmin(ReadOnly):
    list_display = ("id", "case_type", "state", "reason", "refund_amount", "created_at")
    list_filter = ("case_type", "state", "reason")


class LedgerInline(admin.TabularInline):
    model = RefundLedgerEntry
    extra = 0
    can_delete = False


@admin.register(Refund)
class RefundAdmin(ReadOnly):
    list_display = ("refund_number", "amount", "provider", "status", "attempts", "created_at")
    list_filter = ("status", "provider")
    inlines = (LedgerInline,)


@admin.register(CompensationKind)
class CompensationKindAdmin(ConfigAdmin):
    """The compensation catalogue: rename, revalue (`unit_value` feeds approval limits) or switch off a kind."""

    list_display = ("code", "name", "unit", "unit_value", "pays_money", "active", "position")
    list_editable = ("active", "position")


@admin.register(CompensationGrant)
class CompensationGrantAdmin(ReadOnly):
    list_display = ("payout_number", "case", "kind", "amount", "status", "source", "created_at")
    list_filter = ("status", "kind", "source")


@admin.register(ShippingInsuranceClaim)
class ShippingInsuranceClaimAdmin(ReadOnly):
    list_display = ("case", "order", "payment_reference", "amount", "status", "filed_at")
    list_filter = ("status",)


@admin.register(RepairJob)
class RepairJobAdmin(ReadOnly):
    list_display = ("case", "serial_number", "service_mode", "in_warranty", "result")
    list_filter = ("service_mode", "in_warranty", "result")
    search_fields = ("serial_number",)


class StockMovementInline(admin.TabularInline):
    model = StockMovement
    extra = 0
    can_delete = False


@admin.register(Stock)
class StockAdmin(ReadOnly):
    """Stock changes through `services_exchange.restock_sku` and case steps only, so each has a ledger line."""

    list_display = ("sku", "model", "spec", "on_hand", "reserved", "returned_a", "returned_b", "returned_c")
    search_fields = ("sku", "model")
    inlines = (StockMovementInline,)


@admin.register(ReplacementShipment)
class ReplacementShipmentAdmin(ReadOnly):
    list_display = ("case", "purpose", "sku", "quantity", "status", "carrier", "tracking_number", "shipped_at")
    list_filter = ("purpose", "status")
    search_fields = ("sku", "tracking_number")
