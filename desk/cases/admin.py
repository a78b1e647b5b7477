"""Policies and product rules are edited here; cases and refunds are read-only (services write them)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from desk.cases.models import AfterSalesCase, PolicyVersion, ProductRule, Refund, RefundLedgerEntry, ReturnPolicy


class PolicyVersionInline(admin.StackedInline):
    model = PolicyVersion
    extra = 0


@admin.register(ReturnPolicy)
class ReturnPolicyAdmin(admin.ModelAdmin):
    """Change rules by adding a version with a later `effective_from`: open cases keep theirs."""

    list_display = ("name", "storefront", "category", "sku", "active")
    inlines = (PolicyVersionInline,)


@admin.register(ProductRule)
class ProductRuleAdmin(admin.ModelAdmin):
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
