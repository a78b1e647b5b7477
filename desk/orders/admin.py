"""Orders, storefronts and import jobs in the Django admin (storefronts are configuration)."""

from __future__ import annotations

from django.contrib import admin

from desk.accounts.admin_site import ConfigAdmin
from desk.orders.models import ImportJob, Order, OrderItem, Shipment, ShipmentEvent, Storefront


@admin.register(Storefront)
class StorefrontAdmin(ConfigAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


class ItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


class ShipmentInline(admin.TabularInline):
    model = Shipment
    extra = 0
    show_change_link = True


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "external_id", "storefront", "customer", "status", "total_amount", "placed_at")
    list_filter = ("status", "storefront")
    search_fields = ("number", "external_id", "customer__name")
    raw_id_fields = ("customer",)
    date_hierarchy = "placed_at"
    inlines = [ItemInline, ShipmentInline]


class ShipmentEventInline(admin.TabularInline):
    model = ShipmentEvent
    extra = 0


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ("tracking_number", "carrier", "status", "order", "shipped_at", "delivered_at")
    list_filter = ("status", "carrier")
    search_fields = ("tracking_number", "order__number")
    raw_id_fields = ("order",)
    inlines = [ShipmentEventInline]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Read-only: jobs are started from the import page or the API and run by the worker."""

    list_display = ("id", "kind", "original_name", "status", "processed_rows", "total_rows", "failed_rows")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
