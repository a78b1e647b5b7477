"""Permission tiers as data: which role may do what, and up to which amount.

Services call `authorize()`; a refusal is recorded in the event log and raised as `Forbidden`,
which the API and pages turn into a 403 with a message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext as _

from desk.accounts.models import Role, RoleGrant
from desk.core.errors import Forbidden
from desk.core.events import record_event

ACTIONS = {
    "ticket.view_all": "See every ticket, not only the team's",
    "ticket.create": "Create tickets",
    "ticket.reply": "Reply to customers",
    "ticket.note": "Write internal notes",
    "ticket.assign": "Assign tickets to others",
    "ticket.update": "Change status, type and priority",
    "ticket.merge": "Merge duplicate tickets",
    "customer.view": "See customers and orders",
    "customer.view_pii": "See unmasked phone numbers and addresses",
    "customer.reveal_pii": "Reveal one customer's masked contact details, giving a reason (recorded, limited per hour)",
    "customer.edit": "Edit customer records",
    "order.import": "Import customers and orders",
    "overview.view": "See the supervisor overview",
    "audit.view": "Read the audit trail",
    "webhook.manage": "Manage webhooks",
    "config.manage": "Manage routing, SLA and other configuration",
    "refund.approve": "Approve refunds (up to the limit)",
    "compensation.approve": "Approve goodwill compensation (up to the limit)",
    "case.create": "Open after-sales cases for customers",
    "case.handle": "Handle after-sales cases (return instructions, shipments, closing)",
    "case.approve": "Approve or reject after-sales requests (up to the limit)",
    "case.policy_exception": "Approve a request the return policy refuses, with a stated reason",
    "case.inspect": "Receive and inspect returned goods",
    "refund.execute": "Send refunds to the payment provider and mark manual refunds paid",
    "case.diagnose": "Diagnose and repair units sent in for repair (tech support)",
    "stock.manage": "Receive stock and ship exchange replacements and reshipped parts",
    "case.dispute": "Open and mediate minor disputes, and hand them to legal",
    "case.legal": "Handle major (legal) disputes and record arbitration",
    "notice.deliver": "Read the customer-notice outbox of a channel and report each delivery (channel integrations)",
}
_CASE_DESK = ["case.create", "case.handle"]
_CASE_LEAD = [*_CASE_DESK, "case.policy_exception", "case.dispute"]

_DESK = ["ticket.create", "ticket.reply", "ticket.note", "ticket.update", "customer.view"]
_BACK_OFFICE = ["ticket.reply", "ticket.note", "ticket.update", "customer.view"]
# Roles that see masked contact details yet talk to customers reveal one customer's, giving a reason
# (services.reveal_contact). Senior agents hold it too, so taking view_pii from them leaves a way.
_REVEAL = ["customer.reveal_pii"]
_LEAD = [
    *_DESK,
    "ticket.view_all",
    "ticket.assign",
    "ticket.merge",
    "customer.view_pii",
    "customer.edit",
    "overview.view",
]

# (action, limit) pairs seeded for each role; shops edit them in the admin afterwards.
DEFAULT_GRANTS: dict[str, Sequence[tuple[str, Decimal | None]]] = {
    Role.AGENT: [(a, None) for a in [*_DESK, "ticket.merge", *_CASE_DESK, *_REVEAL]]
    + [("refund.approve", Decimal("200")), ("compensation.approve", Decimal("20")), ("case.approve", Decimal("200"))],
    Role.SENIOR_AGENT: [
        (a, None)
        for a in [*_DESK, "ticket.merge", "ticket.assign", "customer.view_pii", "customer.edit", *_CASE_LEAD, *_REVEAL]
    ]
    + [
        ("refund.approve", Decimal("2000")),
        ("compensation.approve", Decimal("200")),
        ("case.approve", Decimal("2000")),
    ],
    Role.SUPERVISOR: [
        (a, None) for a in [*_LEAD, "audit.view", *_CASE_LEAD, "case.inspect", "case.diagnose", "stock.manage"]
    ]
    + [
        ("refund.approve", Decimal("10000")),
        ("compensation.approve", Decimal("1000")),
        ("case.approve", Decimal("10000")),
    ],
    Role.MANAGER: [
        (a, None)
        for a in [
            *_LEAD,
            "audit.view",
            "order.import",
            "config.manage",
            *_CASE_LEAD,
            "case.inspect",
            "case.diagnose",
            "stock.manage",
            "refund.execute",
            "case.legal",
        ]
    ]
    + [("refund.approve", None), ("compensation.approve", None), ("case.approve", None)],
    Role.QUALITY: [(a, None) for a in ["ticket.view_all", "ticket.note", "customer.view", "overview.view"]],
    Role.WAREHOUSE: [(a, None) for a in [*_BACK_OFFICE, "case.inspect", "stock.manage", *_REVEAL]],
    Role.LOGISTICS: [(a, None) for a in [*_BACK_OFFICE, "customer.view_pii"]],
    Role.TECH_SUPPORT: [(a, None) for a in [*_BACK_OFFICE, "case.diagnose", *_REVEAL]],
    Role.LEGAL: [
        (a, None) for a in [*_BACK_OFFICE, "ticket.view_all", "customer.view_pii", "audit.view", "case.legal"]
    ],
    Role.ANALYST: [(a, None) for a in ["ticket.view_all", "customer.view", "overview.view"]],
    Role.ADMIN: [(a, None) for a in ACTIONS],
    Role.INTEGRATION: [
        (a, None)
        for a in [
            *_DESK,
            "ticket.view_all",
            "ticket.assign",
            "customer.view_pii",
            "customer.edit",
            "order.import",
            "notice.deliver",
        ]
    ],
}

_CACHE_KEY = "desk:grants:v1:{role}"
_CACHE_SECONDS = 60


# A page asks `can()` a dozen times; each cache read unpickled the grants again. The process keeps
# what it read for a second more (and forgets it at once when a grant is saved here).
_HELD_SECONDS = 1.0
_held: dict[str, tuple[float, dict[str, Decimal | None]]] = {}


def grants_for(role: str) -> dict[str, Decimal | None]:
    """The role's grants, cached briefly: they are read on every request and change rarely."""
    now = time.monotonic()
    held = _held.get(role)
    if held is not None and held[0] > now:
        return held[1]
    grants = (
        cache.get_or_set(
            _CACHE_KEY.format(role=role),
            lambda: dict(RoleGrant.objects.filter(role=role).values_list("action", "limit_amount")),
            _CACHE_SECONDS,
        )
        or {}
    )  # `or`: the stubs type it Optional
    _held[role] = (now + _HELD_SECONDS, grants)
    return grants


@receiver([post_save, post_delete], sender=RoleGrant)
def _forget_grants(sender: Any, instance: RoleGrant, **kwargs: Any) -> None:
    _held.clear()
    cache.delete(_CACHE_KEY.format(role=instance.role))


@receiver(setting_changed)
def _forget_held_grants(**kwargs: Any) -> None:
    """A new cache (tests swap it per test) starts with nothing held either."""
    _held.clear()


def role_of(user: Any) -> str | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    profile = getattr(user, "staff", None)
    if profile is not None:
        return profile.role
    return Role.ADMIN if user.is_superuser else None


def can(user: Any, action: str, *, amount: Decimal | None = None) -> bool:
    role = role_of(user)
    if role is None:
        return False
    grants = grants_for(role)
    if action not in grants:
        return False
    limit = grants[action]
    return amount is None or limit is None or amount <= limit


def authorize(user: Any, action: str, *, amount: Decimal | None = None, subject: Any = None) -> None:
    """Raise Forbidden (and record it) unless the user's role holds `action` for `amount`."""
    if can(user, action, amount=amount):
        return
    record_denial(user, action, amount=amount, subject=subject)
    if amount is not None and can(user, action):
        raise Forbidden(
            _("The amount %(amount)s is above your approval limit; ask a senior colleague.") % {"amount": amount},
            code="permission.over_limit",
        )
    raise Forbidden(_("Your role may not do this (%(action)s).") % {"action": action}, code="permission.denied")


def record_denial(user: Any, action: str, *, amount: Decimal | None = None, subject: Any = None) -> None:
    """Write the refusal as an audit fact.

    Services call `authorize()` before they open their transaction, so this write commits on
    its own even though the action itself fails.
    """
    is_model = hasattr(subject, "_meta")
    record_event(
        "permission.denied",
        actor=user,
        subject=subject if is_model else None,
        subject_type="" if is_model else "permission",
        data={"action": action, "amount": amount, "role": role_of(user)},
    )
