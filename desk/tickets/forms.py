"""Forms for the agent console: the queue filters and one small form per ticket action."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from desk.customers.models import Channel, Tier
from desk.tickets.models import OPEN_STATUSES, Priority, RequestType, SlaState, Status, Ticket
from desk.tickets.queries import search_tickets

TABS = ("mine", "team", "unassigned", "breaching", "all")
OPEN = "open_all"
ANY = "any"


ANY_LABEL = _("Any")


def _blank(choices: Any, label: Any = ANY_LABEL) -> list[tuple[Any, Any]]:
    return [("", label), *choices]


class QueueFilterForm(forms.Form):
    """The queue's tab and filters, read from the query string (shared by the page and its htmx partial)."""

    tab = forms.ChoiceField(choices=[(t, t) for t in TABS], required=False)
    type = forms.ModelChoiceField(
        queryset=RequestType.objects.filter(active=True), to_field_name="code", required=False, label=_("Type")
    )
    status = forms.ChoiceField(
        choices=[(OPEN, _("All open")), *Status.choices, (ANY, _("Any status"))], required=False, label=_("Status")
    )
    priority = forms.TypedChoiceField(
        choices=_blank(Priority.choices), coerce=int, empty_value=None, required=False, label=_("Priority")
    )
    tier = forms.ChoiceField(choices=_blank(Tier.choices), required=False, label=_("Tier"))
    channel = forms.ChoiceField(choices=_blank(Channel.choices), required=False, label=_("Channel"))
    sla = forms.ChoiceField(choices=_blank(SlaState.choices), required=False, label=_("SLA"))
    tag = forms.CharField(max_length=50, required=False, label=_("Tag"))
    q = forms.CharField(max_length=200, required=False, label=_("Keywords"))
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)

    def valid_part(self) -> dict[str, Any]:
        """The filters that are valid: one bad value (an old bookmark, a hand-edited link) drops only
        itself, not the tab and every other filter with it."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return self.cleaned_data

    def value(self, name: str) -> Any:
        return self.valid_part().get(name)

    def apply(self, qs: QuerySet[Ticket], user: Any, *, keywords: bool = True) -> QuerySet[Ticket]:
        """Narrow an already permission-scoped queryset to the chosen tab and filters."""
        data = self.valid_part()
        qs = _tab_filter(qs, data.get("tab") or "mine", user)
        status = data.get("status") or OPEN
        if status == OPEN:
            qs = qs.filter(status__in=OPEN_STATUSES)
        elif status != ANY:
            qs = qs.filter(status=status)
        simple = {
            "request_type": data.get("type"),
            "priority": data.get("priority"),
            "customer_tier": data.get("tier"),
            "channel": data.get("channel"),
            "sla_state": data.get("sla"),
        }
        qs = qs.filter(**{k: v for k, v in simple.items() if v})
        if data.get("tag"):
            qs = qs.filter(tags__name=data["tag"].strip())
        if keywords and data.get("q"):
            qs = search_tickets(qs, data["q"])
        if (data.get("tab") or "mine") == "breaching":
            return qs.order_by("sla_due_at", "id")
        return qs.order_by("-id")


class _SharedFields(dict):  # type: ignore[type-arg]
    """Fields that forms share instead of deep-copying them on every instance.

    A form deep-copies its fields so that one instance may change them; the queue's filter form
    never does (it only reads the query string), and the copies cost as much as the SQL query.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return dict(self)


QueueFilterForm.base_fields = _SharedFields(QueueFilterForm.base_fields)  # type: ignore[misc]


def _tab_filter(qs: QuerySet[Ticket], tab: str, user: Any) -> QuerySet[Ticket]:
    team_id = getattr(getattr(user, "staff", None), "team_id", None)
    if tab == "mine":
        return qs.filter(assignee=user)
    if tab == "team":
        return qs.filter(team_id=team_id) if team_id else qs.none()
    if tab == "unassigned":
        return qs.filter(assignee=None)
    if tab == "breaching":
        return qs.filter(Q(sla_state=SlaState.WARNING) | Q(sla_state=SlaState.BREACHED))
    return qs  # "all": the view checks ticket.view_all first


class ReplyForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea, required=False, max_length=20_000)
    new_status = forms.ChoiceField(choices=_blank(Status.choices, _("Keep status")), required=False)
    proposes_solution = forms.BooleanField(required=False)
    canned = forms.IntegerField(required=False, min_value=1)


class NoteForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea, required=False, max_length=20_000)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)

    def __init__(self, *args: Any, members: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = members  # type: ignore[attr-defined]


class UpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices, required=False)
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, empty_value=None, required=False)
    request_type = forms.ModelChoiceField(queryset=RequestType.objects.all(), to_field_name="code", required=False)
    tags = forms.CharField(max_length=500, required=False)

    def tag_list(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return [t.strip() for t in raw.replace("，", ",").split(",") if t.strip()]


class MergeForm(forms.Form):
    target = forms.CharField(max_length=20, label=_("Ticket number"))


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File"))


class NewTicketForm(forms.Form):
    """A ticket an agent opens by hand: a phone call, a walk-in, a message from a channel not connected."""

    contact = forms.CharField(
        max_length=254, label=_("Customer's phone or email"),
        help_text=_("The customer is found by this; a new one is created when you also give a name."),
    )  # fmt: skip
    name = forms.CharField(max_length=150, required=False, label=_("Name (new customer)"))
    order_number = forms.CharField(max_length=64, required=False, label=_("Order number"))
    request_type = forms.ModelChoiceField(
        queryset=RequestType.objects.filter(active=True), to_field_name="code", label=_("Type"),
        empty_label=_("Choose…"),
    )  # fmt: skip
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PHONE, label=_("Channel"))
    priority = forms.TypedChoiceField(
        choices=Priority.choices, coerce=int, initial=Priority.NORMAL, label=_("Priority")
    )
    subject = forms.CharField(max_length=200, label=_("Subject"))
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=20_000, required=False,
                                  label=_("What the customer said"))  # fmt: skip
    tags = forms.CharField(max_length=500, required=False, label=_("Tags"))

    def contact_channel(self) -> str:
        """Email when the contact looks like an address, otherwise phone."""
        return Channel.EMAIL if "@" in self.cleaned_data["contact"] else Channel.PHONE

    def tag_list(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return [t.strip() for t in raw.replace("，", ",").split(",") if t.strip()]
