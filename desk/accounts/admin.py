from django.contrib import admin

from desk.accounts.admin_site import ConfigAdmin
from desk.accounts.models import ApiToken, Notification, RoleGrant, Skill, StaffProfile, Team


@admin.register(Team)
class TeamAdmin(ConfigAdmin):
    list_display = ("code", "name", "lead", "assignment_strategy", "escalation_team")
    search_fields = ("code", "name")


@admin.register(StaffProfile)
class StaffProfileAdmin(ConfigAdmin):
    list_display = ("user", "display_name", "role", "team", "availability", "max_open_tickets")
    list_filter = ("role", "team", "availability")
    search_fields = ("user__username", "display_name")
    filter_horizontal = ("skills",)


@admin.register(Skill)
class SkillAdmin(ConfigAdmin):
    list_display = ("code", "name")


@admin.register(RoleGrant)
class RoleGrantAdmin(ConfigAdmin):
    list_display = ("role", "action", "limit_amount")
    list_filter = ("role",)
    list_editable = ("limit_amount",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("user", "verb", "text", "created_at", "read_at")
    list_filter = ("verb",)
