"""Every change to a customer goes through one of these functions (one business action each).

A customer is one record reached from many channel identities (email, phone, WeChat openid, app
user id, ...): whichever channel a person writes in on, `resolve_customer` finds the same record,
so their history follows them (无缝衔接). Permission checks run before the transaction opens, so
a refusal is recorded even though the action does not happen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize, can, role_of
from desk.core.errors import Conflict, DomainError, ValidationFailed
from desk.core.events import diff, record_event
from desk.core.models import Event
from desk.customers.errors import RevealLimitReached
from desk.customers.models import Channel, Customer, CustomerIdentity, CustomerTag, Tier

# Identities on these channels also fill the customer's contact field of the same name.
CONTACT_FIELDS: dict[str, str] = {Channel.EMAIL: "email", Channel.PHONE: "phone"}
PROFILE_FIELDS = (
    "name", "email", "phone", "address", "language", "tier", "preferred_channel",
    "consent_marketing", "consent_data_processing", "notes",
)  # fmt: skip
UPDATABLE_FIELDS = (*PROFILE_FIELDS, "tags", "dedicated_agent")
MAX_TAGS = 20
_TAG_SPLIT = re.compile(r"[;,|，；]")
_PHONE_NOISE = re.compile(r"[\s\-().]")

T = TypeVar("T")


# --- Batch results (shared by customer and order imports) -----------------------------------------
@dataclass
class RowResult:
    """What happened to one row of a batch: created, updated, unchanged or failed (with why)."""

    row: int
    external_id: str
    action: str
    id: int | None = None
    error: dict[str, str | None] | None = None


@dataclass
class BatchResult:
    results: list[RowResult] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)

    @property
    def failed(self) -> list[RowResult]:
        return [r for r in self.results if r.action == "failed"]

    def as_dict(self) -> dict[str, Any]:
        """Counts per action and every row's result: the API's answer to a batch."""
        counts = {a: self.count(a) for a in ("created", "updated", "unchanged", "failed")}
        return counts | {"results": [asdict(r) for r in self.results]}


def run_batch(
    rows: Sequence[tuple[int, Mapping[str, Any]]], upsert_one: Callable[[Mapping[str, Any]], tuple[Any, str]]
) -> BatchResult:
    """Run `upsert_one` on each row in its own savepoint: a bad row is reported, never half-written.

    The caller holds the outer transaction, so a batch is committed in one go while each row
    stays all-or-nothing on its own.
    """
    result = BatchResult()
    for row, data in rows:
        external_id = str(data.get("external_id") or "") if isinstance(data, Mapping) else ""
        try:
            with transaction.atomic():
                if not isinstance(data, Mapping):
                    raise ValidationFailed(_("Each row must be an object."), code="import.not_an_object")
                obj, action = upsert_one(data)
        except DomainError as exc:
            result.results.append(RowResult(row, external_id, "failed", error=exc.as_dict()))
        except IntegrityError:
            # Another writer created the same record between our read and write: retrying fixes it.
            error = Conflict(_("Another import wrote this record at the same time; retry."), code="import.race")
            result.results.append(RowResult(row, external_id, "failed", error=error.as_dict()))
        else:
            result.results.append(RowResult(row, external_id, action, id=obj.pk))
    return result


# --- Input cleaning ------------------------------------------------------------------------------
def clean_text(value: Any, field_name: str, *, max_length: int, required: bool = False) -> str:
    """A stripped string, or a clear field error for a wrong type, a missing or an over-long value."""
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationFailed(_("Must be text."), code="invalid_type", field=field_name)
    text = str(value).strip()
    if required and not text:
        raise ValidationFailed(_("This field is required."), code="required", field=field_name)
    if len(text) > max_length:
        raise ValidationFailed(_("At most %(n)d characters.") % {"n": max_length}, code="too_long", field=field_name)
    return text


def clean_choice(value: Any, field_name: str, choices: Sequence[str], *, default: str | None = None) -> str:
    text = clean_text(value, field_name, max_length=40).lower()
    if not text and default is not None:
        return default
    if text not in choices:
        raise ValidationFailed(
            _("Unknown value %(value)r; expected one of: %(choices)s.")
            % {"value": text, "choices": ", ".join(choices)},
            code="invalid_choice",
            field=field_name,
        )
    return text


def clean_bool(value: Any, field_name: str) -> bool:
    """Booleans as JSON gives them, or as spreadsheets write them (true/false, 1/0, yes/no, 是/否)."""
    if isinstance(value, bool):
        return value
    text = clean_text(value, field_name, max_length=10).lower()
    if text in {"true", "1", "yes", "y", "是"}:
        return True
    if text in {"false", "0", "no", "n", "否"}:
        return False
    raise ValidationFailed(_("Must be true or false."), code="invalid_type", field=field_name)


def normalize_identity(channel: str, value: Any) -> str:
    """One spelling per handle, so "A@Shop.com" and "a@shop.com " are the same person."""
    text = clean_text(value, "value", max_length=200, required=True)
    if channel == Channel.EMAIL:
        text = text.lower()
        try:
            validate_email(text)
        except DjangoValidationError as exc:
            raise ValidationFailed(_("Not a valid email address."), code="invalid_email", field="email") from exc
    elif channel == Channel.PHONE:
        text = _PHONE_NOISE.sub("", text)
        if not re.fullmatch(r"\+?\d{5,20}", text):
            raise ValidationFailed(_("Not a valid phone number."), code="invalid_phone", field="phone")
    return text


def _clean_channel(channel: Any) -> str:
    return clean_choice(channel, "channel", Channel.values)


def _clean_profile(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the profile fields present in `data`; unknown keys are a clear error, not ignored."""
    cleaned: dict[str, Any] = {}
    for key, value in data.items():
        if key not in PROFILE_FIELDS:
            raise ValidationFailed(_("Unknown field."), code="unknown_field", field=key)
        cleaned[key] = _clean_profile_value(key, value)
    return cleaned


def _clean_profile_value(key: str, value: Any) -> Any:
    if key == "email":
        return normalize_identity(Channel.EMAIL, value) if value else ""
    if key == "phone":
        return normalize_identity(Channel.PHONE, value) if value else ""
    if key == "tier":
        return clean_choice(value, key, Tier.values, default=Tier.REGULAR)
    if key == "preferred_channel":
        return clean_choice(value, key, Channel.values, default=Channel.WEB)
    if key.startswith("consent_"):
        return clean_bool(value, key)
    max_length = getattr(Customer._meta.get_field(key), "max_length", None) or 10_000
    return clean_text(value, key, max_length=max_length, required=key == "name")


def clean_tags(value: Any) -> list[str]:
    """Tags as a list, or one string split on , ; | (spreadsheet cells)."""
    if value is None or value == "":
        return []
    names = _TAG_SPLIT.split(value) if isinstance(value, str) else value
    if not isinstance(names, list | tuple):
        raise ValidationFailed(_("Tags must be a list of names."), code="invalid_type", field="tags")
    tags = list(dict.fromkeys(clean_text(n, "tags", max_length=50) for n in names))
    tags = [t for t in tags if t]
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(_("At most %(n)d tags.") % {"n": MAX_TAGS}, code="too_many", field="tags")
    return tags


# --- Snapshots and events ------------------------------------------------------------------------
def _snapshot(customer: Customer) -> dict[str, Any]:
    snap = {f: getattr(customer, f) for f in PROFILE_FIELDS}
    snap["dedicated_agent"] = customer.dedicated_agent_id
    snap["tags"] = sorted(customer.tags.values_list("name", flat=True)) if customer.pk else []
    return snap


def _event(verb: str, customer: Customer, by: Any, **kwargs: Any) -> None:
    record_event(verb, actor=by, subject=customer, customer_id=customer.pk, **kwargs)


def _set_tags(customer: Customer, names: list[str]) -> None:
    tags = [CustomerTag.objects.get_or_create(name=n)[0] for n in names]
    customer.tags.set(tags)


# --- Identity resolution ---------------------------------------------------------------------------
def find_customer(channel: str, value: str) -> Customer | None:
    """The customer holding this identity, if any (no writes, no permission: intake lookups)."""
    try:
        value = normalize_identity(channel, value)
    except ValidationFailed:
        return None
    identity = CustomerIdentity.objects.select_related("customer").filter(channel=channel, value=value).first()
    return identity.customer if identity else None


def resolve_customer(channel: str, value: str, *, name: str = "", by: Any = None, **profile: Any) -> Customer:
    """The customer behind a channel handle, created with that identity the first time it is seen.

    `by` is the staff user or integration, or None when the customer wrote in. Email and phone
    identities also fill the customer's email/phone. Two first contacts racing each other end on
    the same record: the identity is unique, the loser reads the winner's row.
    """
    if by is not None:
        authorize(by, "customer.view")
    channel = _clean_channel(channel)
    value = normalize_identity(channel, value)
    existing = find_customer(channel, value)
    if existing is not None:
        return existing
    fields = _clean_profile({**profile, "name": name or value})
    if channel in CONTACT_FIELDS:
        fields[CONTACT_FIELDS[channel]] = value
    try:
        return _create_with_identity(fields, channel, value, by)
    except IntegrityError:
        winner = find_customer(channel, value)
        if winner is None:
            raise
        return winner


def _create_with_identity(fields: dict[str, Any], channel: str, value: str, by: Any) -> Customer:
    with transaction.atomic():
        customer = Customer.objects.create(**fields)
        CustomerIdentity.objects.create(customer=customer, channel=channel, value=value)
        _event("customer.created", customer, by, after=fields, data={"channel": channel})
    return customer


def add_identity(customer: Customer, channel: str, value: str, *, by: Any) -> CustomerIdentity:
    """Link one more channel handle to this customer; a handle held by someone else is a Conflict.

    Moving a handle between customers would silently merge two people's histories, so it is
    refused here and left to an explicit merge.
    """
    if by is not None:
        authorize(by, "customer.edit", subject=customer)
    return _link_identity(customer, channel, value, by)


def _link_identity(customer: Customer, channel: str, value: str, by: Any) -> CustomerIdentity:
    channel = _clean_channel(channel)
    value = normalize_identity(channel, value)
    with transaction.atomic():
        identity = CustomerIdentity.objects.filter(channel=channel, value=value).first()
        if identity is not None and identity.customer_id != customer.pk:
            raise Conflict(
                _("This %(channel)s identity belongs to another customer.") % {"channel": channel},
                code="customer.identity_taken",
                field="value",
            )
        if identity is not None:
            return identity
        identity = CustomerIdentity.objects.create(customer=customer, channel=channel, value=value)
        _fill_contact(customer, channel, value)
        _event("customer.identity_added", customer, by, after={"channel": channel, "value": value})
    return identity


def _fill_contact(customer: Customer, channel: str, value: str) -> None:
    contact = CONTACT_FIELDS.get(channel)
    if contact and not getattr(customer, contact):
        setattr(customer, contact, value)
        customer.save(update_fields=[contact, "updated_at"])


def _claim_free_identities(customer: Customer) -> None:
    """Register the customer's email/phone as identities unless someone else already holds them."""
    for channel, contact in CONTACT_FIELDS.items():
        value = getattr(customer, contact)
        if value and not CustomerIdentity.objects.filter(channel=channel, value=value).exists():
            CustomerIdentity.objects.create(customer=customer, channel=channel, value=value)


# --- Profile changes -------------------------------------------------------------------------------
def update_customer(customer: Customer, *, by: Any, **fields: Any) -> Customer:
    """Change tags, tier, preferred channel, consent flags, dedicated agent or contact details."""
    authorize(by, "customer.edit", subject=customer)
    tags = clean_tags(fields.pop("tags")) if "tags" in fields else None
    agent_given = "dedicated_agent" in fields
    agent = _clean_dedicated_agent(fields.pop("dedicated_agent", None))
    cleaned = _clean_profile(fields)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        before = _snapshot(customer)
        _apply(customer, cleaned, tags, agent if agent_given else customer.dedicated_agent)
        old, new = diff(before, _snapshot(customer))
        if new:
            _event("customer.updated", customer, by, before=old, after=new)
    return customer


def _apply(customer: Customer, cleaned: dict[str, Any], tags: list[str] | None, agent: Any) -> None:
    for key, value in cleaned.items():
        setattr(customer, key, value)
    customer.dedicated_agent = agent
    customer.save()
    if tags is not None:
        _set_tags(customer, tags)


def _clean_dedicated_agent(value: Any) -> Any:
    """A dedicated agent (专属客服) must be an active staff member; None clears it."""
    if value is None or value == "":
        return None
    user_model = get_user_model()
    user = value if isinstance(value, user_model) else None
    if user is None and isinstance(value, int | str) and str(value).isdigit():
        user = user_model.objects.select_related("staff").filter(pk=int(value)).first()
    if user is None or role_of(user) is None:
        raise ValidationFailed(
            _("The dedicated agent must be an active staff member."), code="customer.bad_agent", field="dedicated_agent"
        )
    return user


# --- Imports from the shop -----------------------------------------------------------------------
def upsert_customer(data: Mapping[str, Any], *, by: Any) -> Customer:
    """Create or update the customer with `data["external_id"]`.

    Importing the same data twice changes nothing and records nothing ("unchanged"), so a shop
    can re-send its whole customer list safely.
    """
    authorize(by, "order.import")
    return upsert_customer_row(data, by=by)[0]


def upsert_customers(rows: Sequence[Mapping[str, Any]], *, by: Any, first_row: int = 1) -> BatchResult:
    """Import many customers; each row commits or fails on its own (see `run_batch`)."""
    authorize(by, "order.import")
    numbered = [(first_row + i, row) for i, row in enumerate(rows)]
    with transaction.atomic():
        return run_batch(numbered, lambda data: upsert_customer_row(data, by=by))


def upsert_customer_row(data: Mapping[str, Any], *, by: Any) -> tuple[Customer, str]:
    """The unchecked core of `upsert_customer`, for callers that authorized the whole batch;
    returns (customer, "created" | "updated" | "unchanged")."""
    fields = dict(data)
    external_id = clean_text(fields.pop("external_id", None), "external_id", max_length=100, required=True)
    tags = clean_tags(fields.pop("tags")) if "tags" in fields else None
    identities = _clean_identities(fields.pop("identities", None) or [])
    cleaned = _clean_profile(fields)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(external_id=external_id).first()
        if customer is None:
            customer = _create_imported(external_id, cleaned, tags, by)
            action = "created"
        else:
            action = _update_imported(customer, cleaned, tags, by)
        for channel, value in identities:
            _link_identity(customer, channel, value, by)
        _claim_free_identities(customer)
    return customer, action


def _clean_identities(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list | tuple):
        raise ValidationFailed(_("Identities must be a list."), code="invalid_type", field="identities")
    pairs = []
    for item in value:
        if not isinstance(item, Mapping):
            raise ValidationFailed(_("Each identity needs channel and value."), code="invalid_type", field="identities")
        channel = _clean_channel(item.get("channel"))
        pairs.append((channel, normalize_identity(channel, item.get("value"))))
    return pairs


def _create_imported(external_id: str, cleaned: dict[str, Any], tags: list[str] | None, by: Any) -> Customer:
    if not cleaned.get("name"):
        raise ValidationFailed(_("This field is required."), code="required", field="name")
    customer = Customer.objects.create(external_id=external_id, **cleaned)
    if tags:
        _set_tags(customer, tags)
    _event("customer.created", customer, by, after={**cleaned, "external_id": external_id, "tags": tags or []})
    return customer


def _update_imported(customer: Customer, cleaned: dict[str, Any], tags: list[str] | None, by: Any) -> str:
    before = _snapshot(customer)
    after = {**before, **cleaned, **({"tags": sorted(tags)} if tags is not None else {})}
    old, new = diff(before, after)
    if not new:
        return "unchanged"
    _apply(customer, cleaned, tags, customer.dedicated_agent)
    _event("customer.updated", customer, by, before=old, after=new, data={"source": "import"})
    return "updated"


# --- Revealing masked contact details --------------------------------------------------------------
REVEALABLE_FIELDS = ("phone", "email", "address")
REVEAL_REASON_MIN, REVEAL_REASON_MAX = 2, 200  # "丢件" is a reason; a paragraph is not needed
REVEAL_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class RevealedContact:
    """The real values of the fields asked for (None for the others).

    `remaining` is how many reveals the user has left this hour, None where no limit applies.
    """

    customer_id: int
    phone: str | None
    email: str | None
    address: str | None
    remaining: int | None


def reveal_contact(customer: Customer, *, by: Any, reason: str, fields: Sequence[str] | None = None) -> RevealedContact:
    """Show a role that sees masked data one customer's real phone, email or address because the job
    needs it (an agent must call about a lost parcel), as an audited, limited exception to masking.

    The event records the reason and which fields, never the values: the event log feeds the timeline,
    the audit trail and webhooks. Roles holding customer.view_pii see the values anyway, so theirs is
    recorded but not limited. Everyone else may reveal `DESK_PII_REVEALS_PER_HOUR` times an hour, counted
    from the event log under a lock on the user's row, so parallel requests cannot slip past the count;
    a refusal is recorded too (it commits, then the error is raised).
    """
    sees_all = can(by, "customer.view_pii")
    if not sees_all:
        authorize(by, "customer.reveal_pii", subject=customer)
    data = {"fields": _clean_reveal_fields(fields), "reason": _clean_reason(reason)}
    with transaction.atomic():
        remaining = None if sees_all else _reveals_left(by)
        if remaining == 0:
            _event("customer.pii_reveal_refused", customer, by, data=data | {"limit": _reveal_limit()})
        else:
            _event("customer.pii_revealed", customer, by, data=data)
    if remaining == 0:
        raise RevealLimitReached(
            _("You may reveal contact details %(n)d times an hour and have used them all; try again later.")
            % {"n": _reveal_limit()}
        )
    values = {name: getattr(customer, name) if name in data["fields"] else None for name in REVEALABLE_FIELDS}
    return RevealedContact(customer_id=customer.pk, **values, remaining=None if remaining is None else remaining - 1)


def _clean_reveal_fields(fields: Sequence[str] | None) -> list[str]:
    """The fields asked for, in a fixed order; none named means all three."""
    if fields is None or len(fields) == 0:
        return list(REVEALABLE_FIELDS)
    if isinstance(fields, str) or not all(isinstance(name, str) for name in fields):
        raise ValidationFailed(_("Fields must be a list of names."), code="invalid_type", field="fields")
    unknown = sorted(set(fields) - set(REVEALABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            _("Only phone, email and address can be revealed, not %(names)s.") % {"names": ", ".join(unknown)},
            code="customer.bad_reveal_field",
            field="fields",
        )
    return [name for name in REVEALABLE_FIELDS if name in fields]


def _clean_reason(reason: Any) -> str:
    text = clean_text(reason, "reason", max_length=REVEAL_REASON_MAX)
    if len(text) < REVEAL_REASON_MIN:
        raise ValidationFailed(
            _("Say in a few words why you need the contact details (for example: call about a lost parcel)."),
            code="customer.reveal_reason_required",
            field="reason",
        )
    return text


def _reveal_limit() -> int:
    return max(int(settings.DESK_PII_REVEALS_PER_HOUR), 0)


def _reveals_left(user: Any) -> int:
    """Reveals the user has left in the last hour; locks the user's row until the caller's transaction ends."""
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    since = timezone.now() - REVEAL_WINDOW
    used = Event.objects.filter(verb="customer.pii_revealed", actor_id=user.pk, created_at__gte=since).count()
    return max(_reveal_limit() - used, 0)
