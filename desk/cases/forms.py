"""Forms for the case pages: the list filters, and one small form per case action.

Field names are part of the page's contract (the browser tests fill them in): keep them stable.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from markupsafe import Markup

from desk.cases.models import CaseState, CaseType, ExchangeMode, Grade, Reason, RepairOffer, RepairResult, ServiceMode
from desk.cases.queries import CaseFilters, compensation_kinds
from desk.evidence.models import ConfirmationChannel, DisputeTier

ANY_LABEL = _("Any")


def _blank(choices: Any) -> list[tuple[Any, Any]]:
    return [("", ANY_LABEL), *choices]


class CaseFilterForm(forms.Form):
    """The case list's filters, read from the query string.

    The choices come from the model's enums, so states and types other areas add appear without a
    change here. The fields are shared by every instance (`_SharedFields`): the form only reads.
    """

    q = forms.CharField(max_length=100, required=False, label=_("Search"))
    state = forms.ChoiceField(
        choices=[("", _("All open")), *CaseState.choices, ("any", _("Any state"))], required=False, label=_("State")
    )
    type = forms.ChoiceField(choices=_blank(CaseType.choices), required=False, label=_("Type"))
    reason = forms.ChoiceField(choices=_blank(Reason.choices), required=False, label=_("Reason"))
    overdue = forms.BooleanField(required=False, label=_("Overdue only"))
    team = forms.IntegerField(min_value=1, required=False)
    assignee = forms.IntegerField(min_value=1, required=False)
    before = forms.IntegerField(min_value=1, required=False)

    def filters(self) -> CaseFilters:
        data = self.cleaned_data if self.is_valid() else {}
        state = data.get("state") or ""
        return CaseFilters(
            state="" if state == "any" else state,
            case_type=data.get("type") or "",
            reason=data.get("reason") or "",
            overdue=bool(data.get("overdue")),
            team=data.get("team"),
            assignee=data.get("assignee"),
            q=data.get("q") or "",
            open_only=not state,
        )

    def before_id(self) -> int | None:
        return self.cleaned_data.get("before") if self.is_valid() else None


class _SharedFields(dict):  # type: ignore[type-arg]
    """Fields that forms share instead of deep-copying them on every instance.

    A form deep-copies its fields so that one instance may change them; the case list's filter form
    never does (it only reads the query string), and the copies cost more than its SQL query.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return dict(self)


CaseFilterForm.base_fields = _SharedFields(CaseFilterForm.base_fields)  # type: ignore[misc]


# --- An action form's fields as the case pages show them --------------------------------------------
_BLANK_FIELDS: dict[tuple[Any, ...], tuple[bool, Markup]] = {}
_BLANK_FIELDS_MAX = 1_000


def action_fields(form_class: type[forms.Form], data: Any = None) -> tuple[bool, Markup]:
    """(is multipart, its fields' labels and widgets as HTML) of an action's form.

    A blank form is the same for every case: it is rendered once per language and set of choices
    (a case page shows up to ten of these forms, and Django's widget templates cost more than the
    rest of the page). A form posted back with an error is rendered from its data every time.
    """
    if data is not None:
        return _rendered(form_class(data))
    form = form_class() if form_class.__init__ is not forms.Form.__init__ else None  # choices set per instance
    key = (form_class, get_language(), _choices_key(form))
    found = _BLANK_FIELDS.get(key)
    if found is None:
        if len(_BLANK_FIELDS) >= _BLANK_FIELDS_MAX:
            _BLANK_FIELDS.clear()
        found = _BLANK_FIELDS[key] = _rendered(form or form_class())
    return found


def _choices_key(form: forms.Form | None) -> tuple[Any, ...]:
    if form is None:
        return ()
    key = []
    for name, field in form.fields.items():
        if isinstance(field, forms.ChoiceField):
            choices: Any = field.choices
            key.append((name, tuple((value, str(label)) for value, label in choices)))
    return tuple(key)


_CHECKBOX = Markup('\n  <label class="small check">{} {}</label>')  # the label escaped as Jinja escapes it
_FIELD = Markup('\n  <label class="small">{}{}</label>')


def _rendered(form: forms.Form) -> tuple[bool, Markup]:
    """The fields as `cases/_actions.html` used to loop over them: a checkbox before its label."""
    parts = []
    for field in form:
        if field.widget_type == "checkbox":
            parts.append(_CHECKBOX.format(field.as_widget(), field.label))
        else:
            parts.append(_FIELD.format(field.label, field.as_widget()))
    return form.is_multipart(), Markup("").join(parts)


# --- One form per action ------------------------------------------------------------------------
class NoFields(forms.Form):
    """Actions that need nothing but the button (receive, start refund, close, withdraw)."""


class ApproveForm(forms.Form):
    policy_exception = forms.CharField(max_length=500, required=False, label=_("Policy exception reason"))


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=500, label=_("Reason for the customer"))


class InstructionsForm(forms.Form):
    address = forms.CharField(max_length=300, label=_("Return address"))
    contact = forms.CharField(max_length=100, label=_("Contact"))
    phone = forms.CharField(max_length=32, label=_("Phone"))
    packing = forms.CharField(max_length=300, required=False, label=_("Packing instructions"))
    shipping_method = forms.CharField(max_length=100, required=False, label=_("Shipping method"))


class ShipmentForm(forms.Form):
    carrier = forms.CharField(max_length=50, label=_("Carrier"))
    tracking_number = forms.CharField(max_length=64, label=_("Tracking number"))


class InspectForm(forms.Form):
    grade = forms.ChoiceField(choices=Grade.choices, label=_("Grade"))
    complete = forms.BooleanField(required=False, label=_("Complete (all parts and accessories)"))
    original = forms.BooleanField(required=False, label=_("The original item"))
    defect = forms.BooleanField(required=False, label=_("Quality defect found"))
    human_damage = forms.BooleanField(required=False, label=_("Damaged by the customer"))
    opened = forms.BooleanField(required=False, label=_("Opened, unsealed or activated"))
    notes = forms.CharField(max_length=1000, required=False, label=_("Notes"))


class SettleInspectionForm(forms.Form):
    """A refund the inspection held (goods not intact): the agent's decision. Rejecting is its own action."""

    deduction = forms.DecimalField(
        min_value=0, max_digits=10, decimal_places=2, initial=0, label=_("Deduction for the goods' condition")
    )
    reason = forms.CharField(max_length=500, label=_("Reason (0 deduction: the exception to the policy)"))


class MarkDoneForm(forms.Form):
    reference = forms.CharField(max_length=100, label=_("Payment reference"))


class WarehouseSearchForm(forms.Form):
    q = forms.CharField(max_length=64, required=False, label=_("Tracking number or case number"))


class RefundFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            ("sent", _("Sent, waiting for an answer")),
            ("manual", _("Manual, to be paid by hand")),
            ("failed", _("Failed")),
            ("confirmed", _("Confirmed")),
            ("all", _("All")),
        ],
        required=False,
    )
    before = forms.IntegerField(min_value=1, required=False)


# --- Exchange and reship ------------------------------------------------------------------------
class ReserveForm(forms.Form):
    mode = forms.ChoiceField(choices=[], required=False, label=_("Exchange mode"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mode"].choices = [("", _("— (reship)")), *ExchangeMode.choices]  # type: ignore[attr-defined]


class ReplacementShipmentForm(forms.Form):
    carrier = forms.CharField(max_length=50, label=_("Carrier"))
    tracking_number = forms.CharField(max_length=64, label=_("Tracking number"))
    return_address = forms.CharField(max_length=300, required=False, label=_("Return address (ship first)"))
    return_contact = forms.CharField(max_length=100, required=False, label=_("Return contact (ship first)"))
    return_phone = forms.CharField(max_length=32, required=False, label=_("Return phone (ship first)"))


# --- Repair and guidance ------------------------------------------------------------------------
class ExtendReturnForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=30, initial=3, label=_("More days for the return"))
    note = forms.CharField(max_length=300, required=False, label=_("Note"))


class SettleUnreturnedForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[("charge", _("Charge the customer for the goods kept")), ("write_off", _("Write the goods off"))],
        label=_("Decision"),
    )
    amount = forms.DecimalField(
        min_value=0, max_digits=12, decimal_places=2, required=False, label=_("Amount (empty: the goods' value)")
    )
    note = forms.CharField(max_length=300, required=False, label=_("Note"))


class ArrangeRepairForm(forms.Form):
    address = forms.CharField(max_length=300, label=_("Service address"))
    appointment_at = forms.DateTimeField(
        required=False, label=_("Visit time (on-site)"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class StartDiagnosisForm(forms.Form):
    carrier = forms.CharField(max_length=50, required=False, label=_("Inbound carrier"))
    tracking_number = forms.CharField(max_length=64, required=False, label=_("Inbound tracking number"))


class DiagnosisForm(forms.Form):
    diagnosis = forms.CharField(max_length=2000, label=_("Diagnosis"))
    human_damage = forms.BooleanField(required=False, label=_("Damaged by the customer"))
    fee = forms.DecimalField(max_digits=10, decimal_places=2, min_value=0, required=False, label=_("Repair fee"))


class RepairResultForm(forms.Form):
    result = forms.ChoiceField(choices=[], label=_("Result"))
    notes = forms.CharField(max_length=1000, required=False, label=_("Notes"))
    offer = forms.ChoiceField(choices=[], required=False, label=_("Offer if it cannot be repaired"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["result"].choices = RepairResult.choices  # type: ignore[attr-defined]
        self.fields["offer"].choices = _blank(RepairOffer.choices)  # type: ignore[attr-defined]


class CompleteRepairForm(forms.Form):
    visit_result = forms.CharField(
        max_length=2000, required=False, label=_("Visit result (on-site repair, not shipped back)")
    )


class GuidanceForm(forms.Form):
    text = forms.CharField(max_length=5000, label=_("Guidance for the customer"))
    article = forms.CharField(max_length=200, required=False, label=_("Knowledge article"))


class ResolveGuidanceForm(forms.Form):
    note = forms.CharField(max_length=500, required=False, label=_("Note"))


class ConvertGuidanceForm(forms.Form):
    to = forms.ChoiceField(choices=[], label=_("Convert into"))
    reason = forms.ChoiceField(choices=Reason.choices, label=_("Reason"))
    serial_number = forms.CharField(max_length=64, required=False, label=_("Serial number (repair)"))
    service_mode = forms.ChoiceField(choices=[], required=False, label=_("Service (repair)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        targets = (CaseType.REPAIR, CaseType.RETURN_REFUND, CaseType.EXCHANGE)
        self.fields["to"].choices = [(t.value, t.label) for t in targets]  # type: ignore[attr-defined]
        self.fields["service_mode"].choices = _blank(ServiceMode.choices)  # type: ignore[attr-defined]


# --- Compensation, disputes, evidence and the customer's confirmation -----------------------------
class ProposeCompensationForm(forms.Form):
    kind = forms.ChoiceField(choices=[], label=_("Kind"))
    amount = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, label=_("Amount"))
    reason = forms.CharField(max_length=300, label=_("Reason"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Cached for a minute: the catalogue changes rarely and the case page shows this form often.
        self.fields["kind"].choices = compensation_kinds()  # type: ignore[attr-defined]


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, label=_("Reason"))


class ReferenceForm(forms.Form):
    reference = forms.CharField(max_length=100, required=False, label=_("Reference (coupon code, points, payment)"))


class OpenDisputeForm(forms.Form):
    tier = forms.ChoiceField(choices=DisputeTier.choices, label=_("Tier"))
    summary = forms.CharField(max_length=2000, label=_("What is disputed"))


class MediateForm(forms.Form):
    note = forms.CharField(max_length=1000, required=False, label=_("Note"))


class ArbitrationForm(forms.Form):
    body = forms.CharField(max_length=200, label=_("Arbitration or inspection body"))
    reference = forms.CharField(max_length=100, required=False, label=_("Reference"))
    outcome = forms.CharField(max_length=2000, required=False, label=_("Their finding"))


class ResolveDisputeForm(forms.Form):
    outcome = forms.CharField(max_length=2000, label=_("Outcome"))


class EvidenceForm(forms.Form):
    file = forms.FileField(label=_("File"))
    description = forms.CharField(max_length=300, required=False, label=_("Description"))


class ProposeSolutionForm(forms.Form):
    kind = forms.ChoiceField(choices=CaseType.choices, label=_("Solution"))
    summary = forms.CharField(max_length=2000, label=_("What the shop will do"))
    reason = forms.CharField(max_length=2000, label=_("Why"))
    refund_amount = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False, label=_("Refund"))
    compensation_amount = forms.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, required=False, label=_("Compensation")
    )
    fee_amount = forms.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, required=False, label=_("Fee the customer pays")
    )
    process_change = forms.BooleanField(required=False, label=_("Changes what the customer asked for"))


class AcceptSolutionForm(forms.Form):
    channel = forms.ChoiceField(choices=ConfirmationChannel.choices, label=_("Where the customer answered"))
    confirmation_text = forms.CharField(max_length=200, required=False, label=_("What the customer wrote"))


class RejectSolutionForm(forms.Form):
    channel = forms.ChoiceField(choices=ConfirmationChannel.choices, label=_("Where the customer answered"))
    reason = forms.CharField(max_length=1000, required=False, label=_("The customer's reason"))


# --- Opening a case (from a ticket or an order) ---------------------------------------------------
class OpenCaseForm(forms.Form):
    """The request's terms; the items' quantities come as `qty-<order item id>` fields beside it."""

    case_type = forms.ChoiceField(choices=[], label=_("Type"))
    reason = forms.ChoiceField(choices=Reason.choices, label=_("Reason"))
    reason_text = forms.CharField(max_length=2000, required=False, label=_("What the customer says"))
    # Shipping insurance and the exclusions confirmed at purchase come from the order, not from this form.
    opened = forms.NullBooleanField(required=False, label=_("Opened, unsealed or activated"))
    serial_number = forms.CharField(max_length=64, required=False, label=_("Serial number (repair)"))
    service_mode = forms.ChoiceField(choices=[], required=False, label=_("Service (repair)"))

    def __init__(self, *args: Any, types: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["case_type"].choices = [(t, CaseType(t).label) for t in types]  # type: ignore[attr-defined]
        self.fields["service_mode"].choices = _blank(ServiceMode.choices)  # type: ignore[attr-defined]


def quantities(data: Any, item_ids: list[int]) -> dict[int, int]:
    """`qty-<id>` fields → {order item id: units}; blanks and zeros are left out, junk counts as 0."""
    found: dict[int, int] = {}
    for pk in item_ids:
        raw = str(data.get(f"qty-{pk}", "") or "").strip()
        units = int(raw) if raw.isdigit() else 0
        if units > 0:
            found[pk] = units
    return found


class StockSearchForm(forms.Form):
    q = forms.CharField(max_length=64, required=False, label=_("SKU, name or model"))


class RestockForm(forms.Form):
    sku = forms.CharField(max_length=64, label=_("SKU"))
    quantity = forms.IntegerField(min_value=1, max_value=100_000, label=_("Quantity"))
    name = forms.CharField(max_length=200, required=False, label=_("Name (new SKU)"))
    model = forms.CharField(max_length=100, required=False, label=_("Model (new SKU)"))
    spec = forms.CharField(max_length=100, required=False, label=_("Spec (new SKU)"))
    note = forms.CharField(max_length=300, required=False, label=_("Note"))


class ResellForm(forms.Form):
    sku = forms.CharField(max_length=64, widget=forms.HiddenInput)
    quantity = forms.IntegerField(min_value=1, max_value=100_000, label=_("Units back on sale"))
