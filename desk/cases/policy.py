"""Judging a request against the return policy: a pure function of facts and one policy version.

`evaluate()` reads no database and keeps no state, so the same facts always give the same
decision; services gather the facts (`facts_for`) and store the decision on the case. A decision
is a rule code plus parameters: its sentence is rendered in the reader's language when shown.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from desk.cases.models import CaseType, Exclusion, Payer, PolicyVersion, Reason

ALLOWED, REFUSED, REVIEW = "allowed", "refused", "review"
SHOP_FAULT = {Reason.WRONG_ITEM, Reason.DAMAGED, Reason.MISSING_PART}
QUALITY = {Reason.QUALITY, Reason.NOT_AS_DESCRIBED, *SHOP_FAULT}
REFUND_TYPES = {CaseType.REFUND_ONLY, CaseType.RETURN_REFUND}

MESSAGES: dict[str, Any] = {
    "not_shipped": _("Not shipped yet: a refund before shipment is always allowed — allowed"),
    "nothing_to_return": _("Not shipped yet: there is nothing to return; ask for a refund only — refused"),
    "not_received": _("Parcel not delivered: refund for a parcel that never arrived — allowed"),
    "signed_for": _("Delivery was signed for on %(delivered)s: a missing parcel needs checking — review"),
    "excluded": _("Excluded from 7-day no-reason return: %(exclusion)s (%(sku)s) — refused"),
    "not_delivered": _("7-day no-reason return: not delivered yet, the window has not started — review"),
    "no_reason_open": _("%(days)s-day no-reason return: delivered %(delivered)s, window ends %(ends)s — allowed"),
    "no_reason_passed": _("%(days)s-day no-reason return: delivered %(delivered)s, window ended %(ends)s — refused"),
    "quality_open": _("Quality problem: %(days)s-day window from delivery %(delivered)s ends %(ends)s — allowed"),
    "quality_passed": _("Quality problem: %(days)s-day window from delivery %(delivered)s ended %(ends)s — refused"),
    "warranty_open": _("Warranty: %(months)s months from purchase %(purchased)s, until %(ends)s — allowed"),
    "warranty_passed": _("Warranty: %(months)s months from purchase %(purchased)s ended %(ends)s — refused"),
    "manual": _("No rule decides this request on its own: an agent reviews it — review"),
    "type_not_judged": _("This case type is judged by an agent — review"),
    "ship_first_allowed": _("Ship-first exchange (先发后退): offered to %(tier)s customers — allowed"),
    "ship_first_refused": _(
        "Ship-first exchange (先发后退): not offered to %(tier)s customers (only: %(tiers)s) — refused"
    ),
}


@dataclass(frozen=True)
class ItemFacts:
    sku: str
    category: str = ""
    exclusions: tuple[str, ...] = ()
    is_virtual: bool = False
    warranty_months: int | None = None


@dataclass(frozen=True)
class RequestFacts:
    case_type: str
    reason: str
    now: datetime
    items: tuple[ItemFacts, ...]
    order_total: Decimal
    paid_at: datetime | None = None
    shipped: bool = False
    delivered_at: datetime | None = None
    insured: bool = False  # the order bought shipping insurance (运费险)
    confirmed_exclusions: tuple[str, ...] = ()  # optional exclusions the customer accepted at purchase


@dataclass(frozen=True)
class Decision:
    outcome: str  # allowed / refused / review
    rule: str
    params: dict[str, str] = field(default_factory=dict)
    window_ends: datetime | None = None
    shipping_payer: str = Payer.CUSTOMER
    double_shipping: bool = False
    restocking_fee_percent: Decimal = Decimal("0")
    policy_version: int | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOWED

    @property
    def message(self) -> str:
        """The sentence in the active language."""
        return render(self.rule, self.params)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "rule": self.rule,
            "params": self.params,
            "window_ends": self.window_ends.isoformat() if self.window_ends else None,
            "shipping_payer": self.shipping_payer,
            "double_shipping": self.double_shipping,
            "restocking_fee_percent": str(self.restocking_fee_percent),
            "policy_version": self.policy_version,
            "message": self.message,
        }


def render(rule: str, params: dict[str, str]) -> str:
    return str(MESSAGES[rule]) % params


def evaluate(policy: PolicyVersion, facts: RequestFacts) -> Decision:
    """Which rule applies to this request, and what it says."""
    outcome, rule, params, ends = _judge(policy, facts)
    payer = _shipping_payer(policy, facts)
    fee = policy.restocking_fee_percent if facts.reason == Reason.NO_REASON else Decimal("0")
    return Decision(
        outcome=outcome,
        rule=rule,
        params=params,
        window_ends=ends,
        shipping_payer=payer,
        double_shipping=policy.double_shipping_compensation and facts.reason in SHOP_FAULT,
        restocking_fee_percent=fee,
        policy_version=policy.version,
    )


Verdict = tuple[str, str, dict[str, str], datetime | None]


def _judge(policy: PolicyVersion, facts: RequestFacts) -> Verdict:
    if facts.case_type in REFUND_TYPES and not facts.shipped:
        if facts.case_type == CaseType.REFUND_ONLY:
            return ALLOWED, "not_shipped", {}, None
        return REFUSED, "nothing_to_return", {}, None
    if facts.reason == Reason.NOT_RECEIVED:
        return _not_received(facts)
    if facts.case_type == CaseType.REPAIR:
        return _warranty(policy, facts)
    if facts.case_type not in (*REFUND_TYPES, CaseType.EXCHANGE):
        return REVIEW, "type_not_judged", {}, None
    if facts.reason == Reason.NO_REASON:
        return _no_reason(policy, facts)
    if facts.reason in QUALITY:
        days = policy.quality_exchange_days if facts.case_type == CaseType.EXCHANGE else policy.quality_return_days
        return _window(facts, days, "quality_open", "quality_passed")
    return REVIEW, "manual", {}, None


def _not_received(facts: RequestFacts) -> Verdict:
    if facts.delivered_at is None:
        return ALLOWED, "not_received", {}, None
    return REVIEW, "signed_for", {"delivered": _day(facts.delivered_at).isoformat()}, None


def _no_reason(policy: PolicyVersion, facts: RequestFacts) -> Verdict:
    excluded = set(policy.exclusions) | (set(policy.optional_exclusions) & set(facts.confirmed_exclusions))
    for item in facts.items:
        hit = next((e for e in item.exclusions if e in excluded), None)
        if hit is not None:
            label = str(Exclusion(hit).label) if hit in Exclusion.values else hit
            return REFUSED, "excluded", {"exclusion": label, "sku": item.sku}, None
    return _window(facts, policy.no_reason_days, "no_reason_open", "no_reason_passed")


def _window(facts: RequestFacts, days: int, open_rule: str, passed_rule: str) -> Verdict:
    """Days count from the day after delivery was signed for (签收次日), ending at 23:59:59 that day."""
    if facts.delivered_at is None:
        return REVIEW, "not_delivered", {}, None
    delivered = _day(facts.delivered_at)
    ends = _end_of(delivered + timedelta(days=days))
    params = {"days": str(days), "delivered": delivered.isoformat(), "ends": _stamp(ends)}
    if facts.now <= ends:
        return ALLOWED, open_rule, params, ends
    return REFUSED, passed_rule, params, ends


def _warranty(policy: PolicyVersion, facts: RequestFacts) -> Verdict:
    months = min((i.warranty_months for i in facts.items if i.warranty_months is not None), default=None)
    months = policy.warranty_months if months is None else months
    start = facts.delivered_at or facts.paid_at or facts.now
    purchased = _day(start)
    ends = _end_of(_add_months(purchased, months))
    params = {"months": str(months), "purchased": purchased.isoformat(), "ends": _stamp(ends)}
    if facts.now <= ends:
        return ALLOWED, "warranty_open", params, ends
    return REFUSED, "warranty_passed", params, ends


def _shipping_payer(policy: PolicyVersion, facts: RequestFacts) -> str:
    payer = str(policy.return_shipping_payer.get(facts.reason, Payer.CUSTOMER))
    if payer != Payer.CUSTOMER:
        return payer
    threshold = policy.free_return_threshold
    if threshold is not None and facts.order_total >= threshold:
        return Payer.SHOP  # 满额包邮退换: a free-return promotion
    return Payer.INSURANCE if facts.insured else Payer.CUSTOMER


def _day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def _end_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


def _stamp(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def judge_ship_first(policy: PolicyVersion, tier: str) -> Decision:
    """May the replacement go out before the return arrives (先发后退)? Only for the tiers the policy names."""
    tiers = [str(t) for t in policy.ship_first_exchange_tiers]
    params = {"tier": tier, "tiers": ", ".join(tiers) or "-"}
    if tier in tiers:
        return Decision(outcome=ALLOWED, rule="ship_first_allowed", params=params, policy_version=policy.version)
    return Decision(outcome=REFUSED, rule="ship_first_refused", params=params, policy_version=policy.version)
