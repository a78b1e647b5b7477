"""The Django admin as the desk's configuration screen: opened by grant, and every edit is an event.

Django's own admin asks `is_staff` and per-model permissions, which the desk never hands out, and it
saves rows without a word in the event log. Here:

* the site opens for superusers and for anyone whose role holds one of `ADMIN_GRANTS`
  (`config.manage` for routing, SLA, teams, grants and the other configuration; `webhook.manage`
  for webhook endpoints), whatever `is_staff` says;
* a configuration model's admin mixes in `ConfigAdmin`: it answers the permission questions from the
  grant, and records `config.changed` (before/after of the fields that moved) or `config.deleted`
  for every save and delete, in the admin's own transaction, so the audit trail and the webhooks
  see it like any other change.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from desk.core.events import diff, record_event

CONFIG_GRANT = "config.manage"
ADMIN_GRANTS = (CONFIG_GRANT, "webhook.manage")
# Never copied into the event log: whoever reads the audit trail must not learn them.
_SECRET_FIELDS = frozenset({"secret", "password", "key_hash", "token_hash", "code_hash"})


def holds(user: Any, grant: str) -> bool:
    """Superusers keep the whole admin; desk staff get what their role's grant allows."""
    from desk.accounts.permissions import can  # the site is built while apps load

    if not getattr(user, "is_active", False):
        return False
    return bool(user.is_superuser or can(user, grant))


def may_open_admin(user: Any) -> bool:
    return any(holds(user, grant) for grant in ADMIN_GRANTS)


class DeskAdminLoginForm(AdminAuthenticationForm):
    """The admin's login asks the desk's grants, not `is_staff`."""

    def confirm_login_allowed(self, user: Any) -> None:
        AuthenticationForm.confirm_login_allowed(self, user)  # inactive accounts: Django's message
        if not may_open_admin(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class DeskAdminSite(admin.AdminSite):
    login_form = DeskAdminLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_open_admin(request.user)


# --- What an event says about a row --------------------------------------------------------------
def snapshot(obj: Model) -> dict[str, Any]:
    """The row's editable facts by field name (foreign keys as ids, many-to-many as sorted ids)."""
    facts: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name not in _SECRET_FIELDS:
            facts[field.name] = field.value_from_object(obj)
    if obj.pk is not None:
        for m2m in obj._meta.many_to_many:
            facts[m2m.name] = sorted(getattr(obj, m2m.name).values_list("pk", flat=True))
    return facts


def stored_snapshot(obj: Model) -> dict[str, Any]:
    """The row as the database still holds it (the form has already changed `obj` in memory)."""
    if obj.pk is None:
        return {}
    stored = type(obj)._default_manager.filter(pk=obj.pk).first()
    return snapshot(stored) if stored is not None else {}


def record_config_change(
    request: HttpRequest, obj: Model, before: dict[str, Any], *, parent: Model | None = None
) -> None:
    """`config.changed` with only the fields that moved (a new row: all of them, `before` empty);
    nothing when nothing did."""
    after = snapshot(obj)
    b, a = diff(before, after) if before else ({}, after)
    if not (b or a):
        return
    data = _about(obj, parent) | {"added": not before}
    record_event("config.changed", actor=request.user, subject=obj, before=b, after=a, data=data)


def record_config_delete(
    request: HttpRequest, obj: Model, before: dict[str, Any], *, parent: Model | None = None
) -> None:
    data = _about(obj, parent)
    record_event(
        "config.deleted",
        actor=request.user,
        subject_type=obj._meta.model_name or "",
        subject_id=before.get(obj._meta.pk.name),
        before=before,
        data=data,
    )


def _about(obj: Model, parent: Model | None) -> dict[str, Any]:
    data: dict[str, Any] = {"model": obj._meta.label_lower, "object": str(obj)[:200], "via": "admin"}
    if parent is not None:
        data["parent"] = {"model": parent._meta.label_lower, "id": parent.pk}
    return data


# --- The mixins ----------------------------------------------------------------------------------
class Granted:
    """Every permission question of a ModelAdmin or inline answered by one desk grant."""

    desk_grant = CONFIG_GRANT

    def _granted(self, request: HttpRequest) -> bool:
        return holds(request.user, self.desk_grant)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._granted(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._granted(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:  # inlines pass `obj`
        return self._granted(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._granted(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._granted(request)


@cache
def _granted_inline(inline: type, grant: str) -> type:
    return type(inline.__name__, (Granted, inline), {"desk_grant": grant, "__module__": inline.__module__})


class ConfigAdmin(Granted, admin.ModelAdmin):  # type: ignore[type-arg]  # shared by many models
    """A configuration model's admin: opened by `desk_grant`, every save and delete recorded."""

    # Django 5 warns (and tests fail) unless URL form fields say which scheme a bare host gets.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[type]:
        return [_granted_inline(inline, self.desk_grant) for inline in super().get_inlines(request, obj)]

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        obj._desk_before = stored_snapshot(obj) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:  # type: ignore[type-arg]
        """After the row's many-to-many fields are saved (they are part of its facts), then its inlines."""
        form.save_m2m()
        obj = form.instance
        record_config_change(request, obj, getattr(obj, "_desk_before", {}))
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Each inline row added, changed or deleted is its own event, naming the row it belongs to."""
        before = {id(f.instance): stored_snapshot(f.instance) for f in formset.initial_forms}
        super().save_formset(request, form, formset, change)
        parent = form.instance
        for row in formset.deleted_objects:
            record_config_delete(request, row, before.get(id(row), {}), parent=parent)
        for row in formset.new_objects:
            record_config_change(request, row, {}, parent=parent)
        for row, _fields in formset.changed_objects:
            record_config_change(request, row, before.get(id(row), {}), parent=parent)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        record_config_delete(request, obj, snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """The "delete selected" action: one event per row, all in one transaction with the delete."""
        with transaction.atomic(using=router.db_for_write(self.model)):
            for obj in queryset:
                record_config_delete(request, obj, snapshot(obj))
            super().delete_queryset(request, queryset)
