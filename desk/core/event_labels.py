"""What each event verb reads as in a history or timeline ("replied to the customer"), in the page's language.

A Jinja2 global (`event_label`), so a history of fifty events translates each label once per language
instead of rebuilding a dict of every label for each row (it was a sixth of a ticket page's time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_noop

from desk.core.jinja import gettext

EVENT_LABELS: dict[str, str] = {
    "ticket.created": gettext_noop("created the ticket"),
    "ticket.assigned": gettext_noop("assigned the ticket"),
    "ticket.accepted": gettext_noop("accepted the ticket"),
    "ticket.replied": gettext_noop("replied to the customer"),
    "ticket.noted": gettext_noop("wrote an internal note"),
    "ticket.customer_replied": gettext_noop("customer wrote again"),
    "ticket.updated": gettext_noop("changed the ticket"),
    "ticket.reopened": gettext_noop("reopened the ticket"),
    "ticket.merged": gettext_noop("merged the ticket into another"),
    "ticket.tier_changed": gettext_noop("customer tier changed on the ticket"),
    "ticket.merge_received": gettext_noop("merged a duplicate into this ticket"),
    "ticket.attachment_added": gettext_noop("added an attachment"),
    "sla.warning": gettext_noop("SLA target breaching soon"),
    "sla.breached": gettext_noop("SLA target breached"),
    "sla.met": gettext_noop("SLA target met"),
    "sla.missed": gettext_noop("SLA target met late"),
    "sla.paused": gettext_noop("SLA clock paused"),
    "sla.resumed": gettext_noop("SLA clock resumed"),
    "case.return_scanned": gettext_noop("the return parcel was scanned by the carrier"),
    "case.replacement_scanned": gettext_noop("the replacement parcel was scanned by the carrier"),
    "sla.rescheduled": gettext_noop("SLA deadlines moved (calendar changed)"),
    "sla.policy_changed": gettext_noop("SLA policy changed"),
    "sla.calendar_invalid": gettext_noop("SLA calendar misconfigured: deadlines skipped"),
    "customer.identity_added": gettext_noop("customer identity added"),
    "order.updated": gettext_noop("order updated"),
    "permission.denied": gettext_noop("was refused an action"),
    "customer.created": gettext_noop("customer record created"),
    "customer.updated": gettext_noop("customer record changed"),
    "customer.pii_revealed": gettext_noop("revealed the customer's contact details"),
    "customer.pii_reveal_refused": gettext_noop("was refused the customer's contact details (hourly limit)"),
    "order.imported": gettext_noop("order imported"),
    "staff.availability_changed": gettext_noop("changed availability"),
    "order.auto_confirm_scheduled": gettext_noop("receipt will be confirmed automatically"),
    "order.auto_confirm_paused": gettext_noop("automatic receipt confirmation paused (after-sales open)"),
    "order.auto_confirm_resumed": gettext_noop("automatic receipt confirmation resumed"),
    "order.auto_confirmed": gettext_noop("receipt confirmed automatically"),
    "stock.restock": gettext_noop("goods arrived in stock"),
    "stock.resell": gettext_noop("returned goods back on sale"),
}
_AREA_LABELS: dict[str, Any] = {}


def register_event_labels(labels: Mapping[str, Any]) -> None:
    """An area adds the labels of its own verbs (lazy translations), e.g. the cases app in `ready()`,
    so a customer's timeline names case steps too (core imports no area)."""
    _AREA_LABELS.update(labels)


def event_label(verb: str) -> str:
    """The verb's label in the active language; an unknown verb reads as itself."""
    message = EVENT_LABELS.get(verb)
    if message is not None:
        return gettext(message)
    lazy = _AREA_LABELS.get(verb)
    return str(lazy) if lazy is not None else verb
