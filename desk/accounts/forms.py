"""Forms for the account pages."""

from __future__ import annotations

from django import forms

from desk.accounts.models import Availability


class AvailabilityForm(forms.Form):
    availability = forms.ChoiceField(choices=Availability.choices)
    next = forms.CharField(required=False)


class MarkReadForm(forms.Form):
    notification = forms.IntegerField(required=False, min_value=1)
