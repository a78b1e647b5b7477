"""Customers in the Django admin: for looking up and fixing records; imports go through services."""

from __future__ import annotations

from django.contrib import admin

from desk.customers.models import Customer, CustomerIdentity, CustomerTag


class IdentityInline(admin.TabularInline):
    model = CustomerIdentity
    extra = 0
    readonly_fields = ("created_at",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "external_id", "tier", "preferred_channel", "dedicated_agent", "created_at")
    list_filter = ("tier", "preferred_channel", "tags")
    search_fields = ("name", "external_id", "email", "phone", "identities__value")
    raw_id_fields = ("dedicated_agent",)
    filter_horizontal = ("tags",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [IdentityInline]


@admin.register(CustomerTag)
class CustomerTagAdmin(admin.ModelAdmin):
    search_fields = ("name",)
