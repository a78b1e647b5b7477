"""The portal's forms: login, code, an after-sales request with photos, a return shipment."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from desk.cases.models import CaseType, Reason, ServiceMode
from desk.core.uploads import content_matches, disguised_message
from desk.orders.models import Order, OrderItem

# The request types a customer may open (guidance and compensation are started by staff).
PORTAL_CASE_TYPES = [CaseType.REFUND_ONLY, CaseType.RETURN_REFUND, CaseType.EXCHANGE, CaseType.RESHIP, CaseType.REPAIR]
PHOTO_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic"}
MAX_PHOTOS = 9


class LoginForm(forms.Form):
    order_number = forms.CharField(label=_("Order number"), max_length=64)
    contact = forms.CharField(label=_("Phone number or email"), max_length=200)


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"), regex=r"^\s*\d{6}\s*$", error_messages={"invalid": _("The code has 6 digits.")}
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input (Django's documented pattern for multiple files)."""

    widget = MultipleFileInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        files = [super(PhotosField, self).clean(f, initial) for f in files]
        if len(files) > MAX_PHOTOS:
            raise forms.ValidationError(_("At most %(n)s photos.") % {"n": MAX_PHOTOS})
        limit = settings.DESK_ATTACHMENT_MAX_BYTES
        for f in files:
            content_type = (f.content_type or "").split(";")[0].strip().lower()
            if content_type not in PHOTO_TYPES:
                raise forms.ValidationError(_("%(name)s is not a photo.") % {"name": f.name})
            if f.size is None or f.size > limit:
                raise forms.ValidationError(
                    _("%(name)s is larger than %(mb)s MB.") % {"name": f.name, "mb": limit // (1024 * 1024)}
                )
            if not content_matches(f, content_type):
                raise forms.ValidationError(disguised_message(f.name, content_type))
        return files


class RequestForm(forms.Form):
    """An after-sales request for some units of some items of one order."""

    case_type = forms.ChoiceField(label=_("What do you need?"), choices=[(t.value, t.label) for t in PORTAL_CASE_TYPES])
    reason = forms.ChoiceField(label=_("Reason"), choices=Reason.choices)
    description = forms.CharField(
        label=_("Describe the problem"), widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=2000
    )
    photos = PhotosField(label=_("Photos"), required=False)
    # Some goods (sealed software, hygiene items, devices) are excluded from no-reason returns only once opened.
    opened = forms.NullBooleanField(
        label=_("Is the item still sealed?"),
        required=False,
        widget=forms.Select(
            choices=[
                ("unknown", _("Not sure")),
                ("false", _("Still sealed: never opened or activated")),
                ("true", _("Opened, unsealed or activated")),
            ]
        ),
    )
    serial_number = forms.CharField(label=_("Serial number"), max_length=100, required=False)
    service_mode = forms.ChoiceField(
        label=_("Repair service"), choices=[("", "—"), *ServiceMode.choices], required=False
    )

    def __init__(self, *args: Any, order: Order, claimable: dict[int, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_items: list[OrderItem] = list(order.items.all())
        self.claimable = claimable
        for item in self.order_items:
            self.fields[f"qty_{item.pk}"] = forms.IntegerField(
                min_value=0, max_value=claimable.get(item.pk, 0), required=False, initial=0, label=item.name
            )

    def lines(self) -> list[tuple[OrderItem, int]]:
        """The chosen (item, quantity) pairs, from cleaned data."""
        chosen = [(item, self.cleaned_data.get(f"qty_{item.pk}") or 0) for item in self.order_items]
        return [(item, q) for item, q in chosen if q > 0]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not self.lines():
            raise forms.ValidationError(_("Choose at least one item and how many."))
        return cleaned


class ShipmentForm(forms.Form):
    carrier = forms.CharField(label=_("Carrier"), max_length=50)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=64)


class PhotosForm(forms.Form):
    photos = PhotosField(label=_("Photos"))


class AcceptForm(forms.Form):
    confirmation_text = forms.CharField(
        label=_("Type your full name or 同意 to confirm"), max_length=200, required=False
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Why not? (optional)"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
