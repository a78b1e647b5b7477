"""Replaces `django.contrib.admin` in INSTALLED_APPS so `admin.site` is the desk's site (grants, events)."""

from django.contrib.admin.apps import AdminConfig


class DeskAdminConfig(AdminConfig):
    default_site = "desk.accounts.admin_site.DeskAdminSite"
