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

from desk.cases.models import CaseType, Exclusion, Grade, Payer, PolicyVersion, Reason

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
    "opened_unknown": _(
        "7-day no-reason return: %(exclusion)s (%(sku)s) are excluded once opened; "
        "whether this unit was opened is not known — review"
    ),
    "returned_opened": _(
        "7-day no-reason return: the inspection found the unit opened, and %(exclusion)s (%(sku)s) "
        "are excluded once opened — refund held for a decision"
    ),
    "not_intact": _(
        "7-day no-reason return: goods must come back intact, the inspection found: %(findings)s "
        "— refund held for a decision"
    ),
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


# Exclusions that apply only to a unit opened, unsealed or activated: judged on that fact, not on the product.
OPENED_EXCLUSIONS = frozenset({Exclusion.UNSEALED_DIGITAL, Exclusion.UNSEALED_HYGIENE, Exclusion.ACTIVATED_DEVICE})
# What an inspection can find that makes a returned unit "not intact" (codes stored, labels rendered).
FINDINGS: dict[str, Any] = {
    "incomplete": _("parts or accessories missing"),
    "not_original": _("not the original item or packaging"),
    "human_damage": _("damaged by the customer"),
    "grade_c": _("grade C (scrap)"),
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
    opened: bool | None = None  # the unit was opened/unsealed/activated, as the customer states (None: not said)


@dataclass(frozen=True)
class Findings:
    """What the warehouse's inspection recorded about the returned unit."""

    complete: bool
    original: bool
    human_damage: bool
    grade: str
    opened: bool | None = None


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
    if rule == "not_intact":  # finding codes, shown in the reader's language
        codes = [c for c in params.get("findings", "").split(",") if c]
        params = {**params, "findings": ", ".join(str(FINDINGS.get(c, c)) for c in codes)}
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
    """Excluded goods are refused; those excluded only once opened are judged on whether this unit was."""
    hits = _exclusion_hits(policy, facts.items, facts.confirmed_exclusions)
    always = [(sku, e) for sku, e in hits if e not in OPENED_EXCLUSIONS]
    if always or (hits and facts.opened):
        sku, hit = (always or hits)[0]
        return REFUSED, "excluded", _exclusion_params(sku, hit), None
    if hits and facts.opened is None:
        return REVIEW, "opened_unknown", _exclusion_params(*hits[0]), None
    return _window(facts, policy.no_reason_days, "no_reason_open", "no_reason_passed")


def _exclusion_hits(
    policy: PolicyVersion, items: tuple[ItemFacts, ...], confirmed: tuple[str, ...]
) -> list[tuple[str, str]]:
    """(sku, exclusion) for each item's exclusion this policy applies (optional ones only if confirmed)."""
    excluded = set(policy.exclusions) | (set(policy.optional_exclusions) & set(confirmed))
    return [(item.sku, e) for item in items for e in item.exclusions if e in excluded]


def _exclusion_params(sku: str, hit: str) -> dict[str, str]:
    label = str(Exclusion(hit).label) if hit in Exclusion.values else hit
    return {"exclusion": label, "sku": sku}


def judge_returned_goods(
    policy: PolicyVersion,
    reason: str,
    items: tuple[ItemFacts, ...],
    confirmed_exclusions: tuple[str, ...],
    findings: Findings,
) -> Decision | None:
    """After inspection: does a no-reason return still earn its refund in full? None when it does.

    A unit found opened is refused when its product is excluded once opened; with `require_intact`,
    a unit incomplete, not original, damaged by the customer or graded C is not intact. Either way
    the refund is held: an agent decides (a deduction, a full refund as an exception, or rejecting).
    Returns for a quality problem are not judged here: their goods are expected to be faulty.
    """
    if reason != Reason.NO_REASON:
        return None
    opened = [(sku, e) for sku, e in _exclusion_hits(policy, items, confirmed_exclusions) if e in OPENED_EXCLUSIONS]
    if findings.opened and opened:
        params = _exclusion_params(*opened[0])
        return Decision(outcome=REVIEW, rule="returned_opened", params=params, policy_version=policy.version)
    if not policy.require_intact:
        return None
    found = [
        code
        for code, hit in (
            ("incomplete", not findings.complete),
            ("not_original", not findings.original),
            ("human_damage", findings.human_damage),
            ("grade_c", findings.grade == Grade.C),
        )
        if hit
    ]
    if not found:
        return None
    params = {"findings": ",".join(found)}
    return Decision(outcome=REVIEW, rule="not_intact", params=params, policy_version=policy.version)


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
