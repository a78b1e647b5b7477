"""Webhook endpoints in the admin go through the webhook services, like the API.

The same checks (http(s) only, no private hosts where settings forbid them, event-type patterns), a
generated secret shown once, and the services' `webhook.endpoint_*` events. Opened by `webhook.manage`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from desk.accounts.admin_site import Granted
from desk.webhooks.errors import BadEndpoint
from desk.webhooks.models import WebhookDelivery, WebhookEndpoint
from desk.webhooks.services import (
    check_endpoint_field,
    create_endpoint,
    delete_endpoint,
    generate_secret,
    update_endpoint,
)

_FIELDS = ("name", "url", "event_types", "active")


class WebhookEndpointForm(forms.ModelForm):  # type: ignore[type-arg]
    # Declared: the field Django derives warns (RemovedInDjango60Warning) unless it names a scheme.
    url = forms.URLField(max_length=500, assume_scheme="https", widget=forms.URLInput(attrs={"class": "vURLField"}))
    rotate_secret = forms.BooleanField(
        required=False, label=_("Generate a new secret"), help_text=_("The new secret is shown once, after saving.")
    )

    class Meta:
        model = WebhookEndpoint
        fields = _FIELDS

    def _checked(self, field: str) -> Any:
        try:
            return check_endpoint_field(field, self.cleaned_data.get(field))
        except BadEndpoint as error:
            raise ValidationError(error.message) from None

    def clean_name(self) -> Any:
        return self._checked("name")

    def clean_url(self) -> Any:
        return self._checked("url")

    def clean_event_types(self) -> Any:
        value = self.cleaned_data.get("event_types")
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValidationError(_('A list of event types, e.g. ["ticket.*", "customer.created"].'))
        return self._checked("event_types")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(Granted, admin.ModelAdmin):  # type: ignore[type-arg]
    desk_grant = "webhook.manage"
    form = WebhookEndpointForm
    list_display = ("name", "url", "active", "event_types", "created_at")
    list_filter = ("active",)
    search_fields = ("name", "url")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*_FIELDS, "rotate_secret") if obj is not None else _FIELDS

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        fields = {key: form.cleaned_data[key] for key in _FIELDS}
        rotate = change and bool(form.cleaned_data.get("rotate_secret"))
        if change:
            saved = update_endpoint(obj, by=request.user, **fields, secret=generate_secret() if rotate else None)
        else:
            saved = create_endpoint(by=request.user, **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False
        if rotate or not change:
            message = gettext("The signing secret of %(name)s (shown only now): %(secret)s")
            self.message_user(request, message % {"name": saved.name, "secret": saved.secret}, messages.WARNING)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        delete_endpoint(obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic(using=router.db_for_write(WebhookEndpoint)):
            for endpoint in queryset:
                delete_endpoint(endpoint, by=request.user)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The delivery log: read-only, it records what happened."""

    list_display = ("id", "endpoint", "event", "status", "attempts", "last_status_code", "next_attempt_at")
    list_filter = ("status", "endpoint")
    list_select_related = ("endpoint", "event")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
