"""Permission-scoped reads of customers, and masking of personal data for roles that need none.

Phone numbers, email addresses and street addresses are shown whole only to roles holding
`customer.view_pii` (个人信息保护: least privilege). Everything that shows a customer to a user
goes through `present_customer`, so no page or endpoint can forget to mask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from desk.accounts.permissions import can, record_denial
from desk.core.aggregates import PAIR, joined, pair, split_joined
from desk.core.api import MAX_ID
from desk.core.errors import NotFound
from desk.core.models import Event
from desk.core.prepared import Prepared, Read, reads_ahead
from desk.customers.models import Channel, Customer, CustomerIdentity, CustomerTag

MASK = "****"
_PROVINCE = r"(?P<province>.{2,12}?(?:省|自治区|特别行政区))?"
_CITY = r"(?P<city>.{1,12}?(?:市|自治州|地区|盟))?"
_CN_REGION = re.compile(_PROVINCE + _CITY)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_MASKED_CHANNELS = {Channel.EMAIL, Channel.PHONE}


# --- Masking -------------------------------------------------------------------------------------
def mask_phone(phone: str) -> str:
    """138****8000: the first three and last four digits stay, so a caller can confirm it is them."""
    if not phone:
        return ""
    prefix = ""
    if phone.startswith("+86"):
        prefix, phone = "+86", phone[3:]
    if len(phone) >= 8:
        return f"{prefix}{phone[:3]}{MASK}{phone[-4:]}"
    return prefix + MASK + phone[-2:] if len(phone) > 4 else MASK


def mask_email(email: str) -> str:
    """w****@example.com: the domain stays (it tells which provider), the mailbox is hidden."""
    if not email:
        return ""
    local, sep, domain = email.partition("@")
    if not sep:
        return MASK
    return f"{local[:1]}{MASK}@{domain}"


def mask_address(address: str) -> str:
    """Keep the province and city (广东省深圳市****); hide the district, street and number."""
    if not address:
        return ""
    if _CJK.search(address):
        match = _CN_REGION.match(address)
        kept = (match.group("province") or "") + (match.group("city") or "") if match else ""
        return f"{kept}{MASK}" if kept else MASK
    parts = [p.strip() for p in address.split(",") if p.strip()]
    # Western order puts street first and city, region, country last.
    return ", ".join([MASK, *parts[-2:]]) if len(parts) > 2 else MASK


# --- Presenting a customer to a user ---------------------------------------------------------------
@dataclass(frozen=True)
class IdentityView:
    channel: str
    value: str


@dataclass(frozen=True)
class CustomerView:
    """A customer as one user may see them: contact details masked unless the role needs them."""

    id: int
    external_id: str | None
    name: str
    email: str
    phone: str
    address: str
    language: str
    tier: str
    is_vip: bool
    preferred_channel: str
    consent_marketing: bool
    consent_data_processing: bool
    dedicated_agent_id: int | None
    dedicated_agent_name: str
    tags: list[str]
    identities: list[IdentityView]
    notes: str
    created_at: datetime
    masked: bool
    # Masked, but the role may reveal one customer's details with a reason (services.reveal_contact).
    revealable: bool = False


def present_customer(customer: Customer, user: Any) -> CustomerView:
    masked = not can(user, "customer.view_pii")  # `can` reads the role's grants held in the process: no query
    agent = customer.dedicated_agent
    return CustomerView(
        id=customer.pk,
        external_id=customer.external_id,
        name=customer.name,
        email=mask_email(customer.email) if masked else customer.email,
        phone=mask_phone(customer.phone) if masked else customer.phone,
        address=mask_address(customer.address) if masked else customer.address,
        language=customer.language,
        tier=customer.tier,
        is_vip=customer.is_vip,
        preferred_channel=customer.preferred_channel,
        consent_marketing=customer.consent_marketing,
        consent_data_processing=customer.consent_data_processing,
        dedicated_agent_id=customer.dedicated_agent_id,
        dedicated_agent_name=_staff_name(agent),
        tags=sorted(t.name for t in customer.tags.all()),
        identities=[_present_identity(i.channel, i.value, masked) for i in customer.identities.all()],
        notes=customer.notes,
        created_at=customer.created_at,
        masked=masked,
        revealable=masked and can(user, "customer.reveal_pii"),
    )


_MASKERS = {"phone": mask_phone, "email": mask_email, "address": mask_address}


def masked_contact(customer: Customer, field: str) -> str:
    """One contact field (phone, email or address) as a masked role sees it."""
    return _MASKERS[field](getattr(customer, field))


# Keys under which events keep contact details: a customer's profile (customer.created/updated),
# an order's recipient, a case's return or repair address. Any nesting depth (case data nests them).
_EVENT_MASKERS = {
    "email": mask_email,
    "phone": mask_phone,
    "recipient_phone": mask_phone,
    "return_phone": mask_phone,
    "address": mask_address,
    "shipping_address": mask_address,
    "service_address": mask_address,
    "return_address": mask_address,
}


def mask_event_document(document: Any) -> Any:
    """An event's before/after/data as a masked role sees it.

    The event log keeps what happened, contact details included (customer.created holds the
    profile), so every read that hands documents to a user masks them here as `present_customer`
    masks the profile; otherwise the timeline would undo the masking and the reveal limit.
    """
    if isinstance(document, list):
        return [mask_event_document(item) for item in document]
    if not isinstance(document, dict):
        return document
    masked = {key: _mask_event_value(key, value) for key, value in document.items()}
    # An identity ({"channel": "phone", "value": "138..."}) is a contact detail under another name.
    if masked.get("channel") in _MASKED_CHANNELS and isinstance(masked.get("value"), str):
        masked["value"] = _present_identity(masked["channel"], masked["value"], True).value
    return masked


def _mask_event_value(key: str, value: Any) -> Any:
    if isinstance(value, str) and key in _EVENT_MASKERS:
        return _EVENT_MASKERS[key](value)
    return mask_event_document(value)


def event_documents_for(user: Any, before: Any, after: Any, data: Any) -> tuple[Any, Any, Any]:
    """(before, after, data) whole for roles holding customer.view_pii, masked for everyone else."""
    if can(user, "customer.view_pii"):
        return before, after, data
    return mask_event_document(before), mask_event_document(after), mask_event_document(data)


def _present_identity(channel: str, value: str, masked: bool) -> IdentityView:
    if masked and channel in _MASKED_CHANNELS:
        value = mask_email(value) if channel == Channel.EMAIL else mask_phone(value)
    return IdentityView(channel=channel, value=value)


def _staff_name(user: Any) -> str:
    if user is None:
        return ""
    profile = getattr(user, "staff", None)
    return (profile.display_name if profile else "") or user.get_username()


# --- Permission-scoped reads -----------------------------------------------------------------------
def customers_visible_to(user: Any) -> QuerySet[Customer]:
    """Every customer for roles with customer.view, none otherwise; related rows fetched once."""
    base = (
        Customer.objects.select_related("dedicated_agent__staff").prefetch_related("tags", "identities").order_by("-id")
    )
    return base if can(user, "customer.view") else base.none()


def get_customer_for(user: Any, customer_id: int | str, *, details: bool = True) -> Customer:
    """The customer, or NotFound (also for users who may not see customers: they learn nothing).

    `details=False` skips the tags, identities and dedicated agent (a ticket being opened needs none).
    """
    pk = int(customer_id) if str(customer_id).isdigit() else None
    customer = None
    if pk is not None and can(user, "customer.view"):
        found = (_CUSTOMER if details else _CUSTOMER_ALONE)(pk)
        customer = found[0] if found else None
    elif pk is not None and 0 < pk <= MAX_ID and Customer.objects.filter(pk=pk).exists():
        record_denial(user, "customer.view", subject=Customer(pk=pk))  # told "no such customer", audited
    if customer is None:
        raise NotFound(f"No customer {customer_id}.", code="customer.not_found")
    if details:
        attach_details(customer, getattr(customer, "tag_names", None), getattr(customer, "identity_pairs", None))
    return customer


def customer_details(path: str = "") -> dict[str, Any]:
    """Annotations that read a customer's tags and identities within the customer's row (`attach_details`
    takes them back apart): `path` is the way from the queried model to the customer ("customer__")."""
    outer = OuterRef(f"{path}pk")
    return {
        f"{path.replace('__', '_')}tag_names": joined(
            Customer.tags.through.objects.filter(customer_id=outer), "customer_id", "customertag__name"
        ),
        f"{path.replace('__', '_')}identity_pairs": joined(
            CustomerIdentity.objects.filter(customer_id=outer), "customer_id", pair("channel", "value")
        ),
    }


def attach_details(customer: Customer, tag_names: str | None, identity_pairs: str | None) -> None:
    """Leave the tags and identities as `customers_visible_to`'s prefetch would (`present_customer` reads them)."""
    tags = [CustomerTag(name=name) for name in split_joined(tag_names)]
    identities = [
        CustomerIdentity(customer_id=customer.pk, channel=channel, value=value)
        for channel, _sep, value in (one.partition(PAIR) for one in split_joined(identity_pairs))
    ]
    customer._prefetched_objects_cache = {"tags": tags, "identities": identities}  # type: ignore[attr-defined]


# `get_customer_for`'s read, prepared once per process (`desk.core.prepared`): one row by its key
# (no ORDER BY) with the dedicated agent, and the tags and identities joined into two columns.
_CUSTOMER: Prepared[Customer] = Prepared(
    lambda pk: (
        Customer.objects.select_related("dedicated_agent__staff")
        .annotate(**customer_details())
        .filter(pk=pk)
        .order_by()[:1]
    )
)
_CUSTOMER_ALONE: Prepared[Customer] = Prepared(lambda pk: Customer.objects.filter(pk=pk).order_by()[:1])


def search_customers(
    user: Any, *, q: str = "", tier: str = "", tag: str = "", external_id: str = ""
) -> QuerySet[Customer]:
    """Filter the visible customers; `q` matches name, external id, email or phone (exact lookups work
    for roles without PII rights: they may confirm a caller, not browse numbers)."""
    qs = customers_visible_to(user)
    if q := q.strip():
        qs = qs.filter(
            Q(name__icontains=q) | Q(external_id=q) | Q(email__iexact=q) | Q(phone=q) | Q(identities__value=q)
        ).distinct()
    if tier:
        qs = qs.filter(tier=tier)
    if tag:
        qs = qs.filter(tags__name=tag)
    if external_id:
        qs = qs.filter(external_id=external_id)
    return qs


def customer_timeline(customer: Customer, limit: int = 50, *, user: Any = None, shown: bool = False) -> list[Event]:
    """Everything that happened about this customer, newest first (tickets, orders, profile).

    With `user`, events of tickets that user may not open are left out, so the timeline does not
    tell what another team's tickets are about. Without it (internal use) nothing is left out.
    `shown`: only what a timeline line shows (`TIMELINE_SHOWN`), not the before/after/data documents.
    """
    if user is None or can(user, "ticket.view_all"):
        return _TIMELINE(customer.pk, variant=(limit, shown))
    return list(_timeline_columns(timeline_events(customer, user=user), shown)[:limit])


def timeline_events(customer: Customer, *, user: Any = None) -> QuerySet[Event]:
    """`customer_timeline` unsliced, newest first, for the API to page through (older events too)."""
    events = Event.objects.filter(customer_id=customer.pk)
    if user is not None and not can(user, "ticket.view_all"):
        from desk.tickets.queries import tickets_visible_to  # tickets build on customers

        visible = tickets_visible_to(user).filter(customer=customer).values("id")
        events = events.filter(Q(ticket_id__isnull=True) | Q(ticket_id__in=Subquery(visible)))
    return events.order_by("-id")


def customer_timeline_reads(customer_id: int, limit: int, *, user: Any = None, shown: bool = False) -> list[Read]:
    """`customer_timeline`'s read where it is a prepared one (users who see every ticket), for `reads_ahead`."""
    if user is None or can(user, "ticket.view_all"):
        return [_TIMELINE.ahead(customer_id, variant=(limit, shown))]
    return []


# A timeline line: when, who (the label kept on the event), what, and which ticket.
TIMELINE_SHOWN = ("created_at", "actor_label", "verb", "ticket_id", "customer_id")


def _timeline_columns(events: QuerySet[Event], shown: bool) -> QuerySet[Event]:
    return events.only(*TIMELINE_SHOWN) if shown else events


_TIMELINE: Prepared[Event] = Prepared(
    lambda customer_id, variant: _timeline_columns(Event.objects.filter(customer_id=customer_id), variant[1]).order_by(
        "-id"
    )[: variant[0]]
)


# --- Customer 360 ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Customer360:
    """客户360: the profile, recent orders with items and shipments, tickets and timeline on one screen."""

    profile: CustomerView
    orders: list[Any]
    tickets: list[Any]
    timeline: list[Event]
    order_count: int = 0
    ticket_count: int = 0


def customer_360(customer: Customer, user: Any, *, orders: int = 5, tickets: int = 10, events: int = 20) -> Customer360:
    """A fixed number of queries whatever the history's size (no N+1): see the query-count test.

    `orders` are `desk.orders.queries.OrderView` (recipient details masked like the profile);
    `tickets` are the tickets this user may see.
    """
    from desk.orders import queries as order_queries  # orders build on customers, not the reverse
    from desk.tickets.page_reads import customer_tickets

    # Each list carries its total in a window count (`COUNT(*) OVER ()` is taken before the LIMIT):
    # one query per list instead of a list and a COUNT. The reads go out together (`reads_ahead`).
    with reads_ahead(customer_360_reads(customer.pk, user, orders=orders, tickets=tickets, events=events)):
        recent_tickets = customer_tickets(user, customer.pk, tickets)
        recent_orders = order_queries.recent_orders(user, customer.pk, orders)
        timeline = customer_timeline(customer, events, user=user, shown=True)
    return Customer360(
        profile=present_customer(customer, user),
        orders=[order_queries.present_order(o, user) for o in recent_orders],
        tickets=recent_tickets,
        timeline=timeline,
        order_count=getattr(recent_orders[0], "listed", 0) if recent_orders else 0,
        ticket_count=getattr(recent_tickets[0], "listed", 0) if recent_tickets else 0,
    )


def customer_360_reads(customer_id: int, user: Any, *, orders: int, tickets: int, events: int) -> list[Read]:
    """The prepared reads `customer_360` makes with these sizes, for `reads_ahead`."""
    from desk.orders import queries as order_queries
    from desk.tickets.page_reads import customer_tickets_reads

    return [
        *customer_tickets_reads(user, customer_id, tickets),
        *order_queries.recent_orders_reads(user, customer_id, orders),
        *customer_timeline_reads(customer_id, events, user=user, shown=True),
    ]
