"""Every change to an after-sales case goes through one of these functions (one business action each).

Each checks permission before its transaction (so a refusal is recorded even though the action
does not happen), moves the case along its state machine, writes in one transaction and records
one event `case.<step>`. `by=None` is the customer (requests, return shipments) or the system
(timeouts); staff actions pass the staff user.

Lock order: the case, then its order (refund caps are per order and payment), then refunds.
Payment providers are called outside any transaction: a refund is marked "sent" and committed
first, so a crash while the provider answers leaves a refund that a retry finishes with the
same refund number, which the provider pays at most once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, F, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.accounts.permissions import authorize
from desk.cases import machines, money, payments, policy_versions, stock
from desk.cases.errors import BadItems, NotReturnable, OverRefund, RefundConflict
from desk.cases.models import (
    LIVE_REFUND_STATUSES,
    ZERO,
    AfterSalesCase,
    CaseItem,
    CaseState,
    CaseType,
    Grade,
    LedgerKind,
    PolicyVersion,
    ProductRule,
    Reason,
    Refund,
    RefundLedgerEntry,
    RefundStatus,
)
from desk.cases.policy import (
    REFUSED,
    Decision,
    Findings,
    ItemFacts,
    RequestFacts,
    evaluate,
    judge_returned_goods,
    render,
)
from desk.core.errors import ValidationFailed
from desk.core.events import record_event
from desk.core.prepared import Prepared, prefetched_or_read
from desk.evidence import chain
from desk.orders import services_confirm
from desk.orders.models import Order, OrderItem, OrderStatus, Shipment
from desk.tickets.models import Ticket

log = logging.getLogger(__name__)

Lines = Sequence[tuple[OrderItem, int]]
SHIPPED_ORDER = {OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}


# --- Policy: which version applies, and what it says ---------------------------------------
def policy_in_force(
    order: Order, skus: Iterable[str], at: datetime, *, categories: Iterable[str] | None = None
) -> PolicyVersion:
    """The most specific active policy (SKU, category, storefront, default) and its version in force at `at`.

    Chosen among the versions this process holds (`policy_versions`), then read by its id.
    """
    skus = list(skus)
    if categories is None:
        categories = ProductRule.objects.filter(sku__in=skus).exclude(category="").values_list("category", flat=True)
    wanted = (set(skus), set(categories), order.storefront_id, at)
    best = policy_versions.in_force(policy_versions.active_versions(), *wanted)
    try:
        if best is not None:
            return _VERSION.get(best.version_id)
    except PolicyVersion.DoesNotExist:  # deleted since this process read the list
        policy_versions.forget()
        return policy_in_force(order, skus, at, categories=wanted[1])
    raise ValidationFailed(_("No return policy is in force for this order."), code="case.no_policy")


_VERSION: Prepared[PolicyVersion] = Prepared(
    lambda pk: PolicyVersion.objects.select_related("policy").filter(pk=pk).order_by()
)


def _product_rules(lines: Lines) -> dict[str, ProductRule]:
    return {r.sku: r for r in ProductRule.objects.filter(sku__in=[item.sku for item, _q in lines])}


def facts_for(
    case_type: str,
    reason: str,
    order: Order,
    lines: Lines,
    now: datetime,
    *,
    opened: bool | None = None,
    rules: dict[str, ProductRule] | None = None,
) -> RequestFacts:
    """Gather what the pure policy evaluation needs from the order, its shipments and product rules.

    Shipping insurance and the optional exclusions confirmed at purchase are facts of the order (set by
    its import), never the requester's say-so; `opened` is what the customer states about the unit."""
    rules = _product_rules(lines) if rules is None else rules
    shipments = _shipments(order)
    delivered = [s.delivered_at for s in shipments if s.delivered_at is not None]
    return RequestFacts(
        case_type=case_type,
        reason=reason,
        now=now,
        items=tuple(_item_facts(item.sku, rules.get(item.sku)) for item, _q in lines),
        order_total=order.total_amount,
        paid_at=order.paid_at,
        shipped=order.status in SHIPPED_ORDER or any(s.shipped_at for s in shipments),
        delivered_at=max(delivered, default=None),
        insured=order.shipping_insured,
        confirmed_exclusions=tuple(str(e) for e in order.confirmed_exclusions or ()),
        opened=opened,
    )


_SHIPMENTS: Prepared[Shipment] = Prepared(lambda order_id: Shipment.objects.filter(order_id=order_id))


def _shipments(order: Order) -> list[Shipment]:
    """`order.shipments.all()` (from a prefetch when the caller made one; else a query compiled once)."""
    return prefetched_or_read(order, "shipments", _SHIPMENTS)


def _item_facts(sku: str, rule: ProductRule | None) -> ItemFacts:
    if rule is None:
        return ItemFacts(sku=sku)
    return ItemFacts(
        sku=sku,
        category=rule.category,
        exclusions=tuple(rule.exclusions),
        is_virtual=rule.is_virtual,
        warranty_months=rule.warranty_months,
    )


def preview_decision(
    order: Order, case_type: str, reason: str, lines: Lines, *, now: datetime | None = None, **facts: Any
) -> Decision:
    """What the policy in force says about a request, before it is made (shown to agent and customer)."""
    now = now or timezone.now()
    version = policy_in_force(order, [item.sku for item, _q in lines], now)
    return evaluate(version, facts_for(case_type, reason, order, lines, now, **facts))


# --- Opening a case ----------------------------------------------------------------------------
def open_case(
    *,
    by: Any,
    order: Order,
    case_type: str,
    reason: str,
    items: Lines,
    reason_text: str = "",
    ticket: Ticket | None = None,
    opened: bool | None = None,
    serial_number: str = "",
    service_mode: str = "",
) -> AfterSalesCase:
    """Record a customer's after-sales request, judged by the policy version in force now.

    The request is recorded even when the policy refuses it: the shop must still answer, and
    the decision (with its rule and reason) is what the agent and the customer see.
    A repair names the unit's serial number and the service mode (mail-in or on-site); guidance
    and compensation cases may name no items. `opened`: whether the customer says the unit was
    opened, unsealed or activated (None: not said), which decides the "once opened" exclusions.
    """
    from desk.cases import services_repair  # it builds on this module's helpers

    if by is not None:
        authorize(by, "case.create", subject=order)
    if case_type not in machines.MACHINES:
        raise ValidationFailed(
            _("%(type)s cases are not supported yet.") % {"type": case_type}, code="case.type_unsupported"
        )
    if case_type == CaseType.REPAIR:
        services_repair.check_repair_request(serial_number, service_mode)
    if reason not in Reason.values:
        raise ValidationFailed(_("Choose a reason."), code="case.bad_reason", field="reason")
    if ticket is not None and ticket.customer_id != order.customer_id:
        raise ValidationFailed(
            _("The ticket belongs to another customer."), code="case.ticket_mismatch", field="ticket"
        )
    with transaction.atomic():
        order = _LOCKED_ORDER.get(order.pk)
        claimed = money.claimed_items(order)
        lines = _check_lines(items, order, claimed) if items or case_type not in ITEMS_OPTIONAL else []
        now = timezone.now()
        rules = _product_rules(lines)
        categories = [r.category for r in rules.values() if r.category]
        version = policy_in_force(order, [item.sku for item, _q in lines], now, categories=categories)
        facts = facts_for(
            case_type,
            reason,
            order,
            lines,
            now,
            opened=opened,
            rules=rules,
        )
        decision = evaluate(version, facts)
        case = _new_case(by, order, case_type, reason, reason_text, ticket, version, decision, now)
        case.answer_due_at = now + _answer_window(version, facts)
        case.unit_opened = opened
        by_line = _price(case, order, lines, decision, claimed)
        if case_type in NO_REFUND_TYPES:
            by_line = _no_refund(case)
        case.save()
        CaseItem.objects.bulk_create(
            CaseItem(case=case, order_item=item, quantity=q, amount=by_line.get(item.pk, ZERO)) for item, q in lines
        )
        services_confirm.pause_auto_confirm(order, by=by, reason=case.number)  # no auto-confirm while a case is open
        extra: dict[str, Any] = {}
        if case_type == CaseType.REPAIR:
            job = services_repair.new_repair_job(case, facts, version, serial_number, service_mode)
            extra["repair"] = services_repair.job_snapshot(job)
        data = {"decision": decision.as_dict(), **extra}
        _event("case.opened", case, by, after=_snapshot(case), data=data, chained=False)  # a new case: no chain
    return case


def _check_lines(items: Lines, order: Order, claimed: dict[int, tuple[int, Decimal]]) -> list[tuple[OrderItem, int]]:
    if not items:
        raise BadItems(_("Choose at least one item."), field="items")
    lines: list[tuple[OrderItem, int]] = []
    for item, quantity in items:
        if item.order_id != order.pk:
            raise BadItems(_("Items must belong to the case's order."), field="items")
        left = item.quantity - claimed.get(item.pk, (0, ZERO))[0]
        if quantity < 1 or quantity > left:
            raise BadItems(
                _("%(name)s: %(left)s unit(s) can still be claimed.") % {"name": item.name, "left": left},
                field="items",
            )
        lines.append((item, quantity))
    return lines


def _new_case(
    by: Any,
    order: Order,
    case_type: str,
    reason: str,
    reason_text: str,
    ticket: Ticket | None,
    version: PolicyVersion,
    decision: Decision,
    now: datetime,
) -> AfterSalesCase:
    return AfterSalesCase(
        case_type=case_type,
        state=CaseState.REQUESTED,
        customer_id=order.customer_id,
        order=order,
        ticket=ticket,
        reason=reason,
        reason_text=reason_text.strip(),
        policy_version=version,
        decision=decision.as_dict(),
        currency=order.currency,
        return_shipping_payer=decision.shipping_payer if case_type in RETURN_TYPES else "",
        created_by=by if getattr(by, "is_authenticated", False) else None,
        created_at=now,
        updated_at=now,
    )


def _answer_window(version: PolicyVersion, facts: RequestFacts) -> timedelta:
    """How long the shop has to answer (marketplace timers): 48 h before shipment, 5 days after (3 virtual)."""
    if not facts.shipped:
        return timedelta(hours=version.auto_approve_unshipped_hours)
    if facts.items and all(i.is_virtual for i in facts.items):
        return timedelta(days=version.auto_approve_virtual_days)
    return timedelta(days=version.auto_approve_shipped_days)


def _price(
    case: AfterSalesCase, order: Order, lines: Lines, decision: Decision, claimed: dict[int, tuple[int, Decimal]]
) -> dict[int, Decimal]:
    """Set the case's amounts; returns the goods amount per order item."""
    refund_shipping = decision.rule == "not_shipped" or case.reason in (Reason.NOT_RECEIVED, *_SHOP_PAYS)
    amounts = money.compute(
        order,
        lines,
        refund_shipping=refund_shipping,
        restocking_fee_percent=decision.restocking_fee_percent,
        claimed=claimed,
    )
    case.goods_amount, case.shipping_refund = amounts.goods, amounts.shipping
    case.restocking_fee, case.refund_amount = amounts.restocking_fee, amounts.refund
    case.compensation_amount = order.shipping_fee * 2 if decision.double_shipping else ZERO
    return amounts.lines


RETURN_TYPES = (CaseType.RETURN_REFUND, CaseType.EXCHANGE)  # the customer sends goods back: who pays the postage
_SHOP_PAYS = (Reason.QUALITY, Reason.NOT_AS_DESCRIBED, Reason.WRONG_ITEM, Reason.DAMAGED, Reason.MISSING_PART)
# Repair, guidance, compensation, exchange and reship give no goods money back (compensation grants pay
# instead); the double shipping-fee compensation the policy computed stays, to be paid as a grant.
NO_REFUND_TYPES = (CaseType.REPAIR, CaseType.GUIDANCE, CaseType.COMPENSATION, CaseType.EXCHANGE, CaseType.RESHIP)
ITEMS_OPTIONAL = (CaseType.GUIDANCE, CaseType.COMPENSATION)


def _no_refund(case: AfterSalesCase) -> dict[int, Decimal]:
    case.goods_amount = case.shipping_refund = case.restocking_fee = case.refund_amount = ZERO
    return {}


# --- Answering the request ----------------------------------------------------------------------
def approve_case(case: AfterSalesCase, *, by: Any, policy_exception: str = "") -> AfterSalesCase:
    """Approve the request, within the approver's limit on its value at stake (`value_at_stake`);
    a refused request needs a stated exception."""
    authorize(by, "case.approve", amount=value_at_stake(case), subject=case)
    # Out of warranty a repair is still possible, for a quoted fee: no exception needed.
    if case.decision.get("outcome") == REFUSED and case.case_type != CaseType.REPAIR:
        if not policy_exception.strip():
            raise NotReturnable(
                _("The policy refuses this request (%(rule)s); approving it needs a stated exception.")
                % {"rule": case.decision.get("message", "")}
            )
        authorize(by, "case.policy_exception", subject=case)
    with transaction.atomic():
        case = _approve(_lock(case), by, policy_exception=policy_exception.strip())
    return case


GOODS_OUT_TYPES = (CaseType.EXCHANGE, CaseType.RESHIP)  # the shop sends goods: their value is at stake


def value_at_stake(case: AfterSalesCase) -> Decimal:
    """What approving the case gives away: the refund, the compensation, and for an exchange or a
    reship the goods sent out (priced as the claimed lines, after their item discount: a replacement
    is the same goods, and a reship's parts are worth at most the item they complete).

    Exchanges and reships refund nothing, so a limit on the refund alone let any agent send out
    goods of any value."""
    value = case.refund_amount + case.compensation_amount
    if case.case_type in GOODS_OUT_TYPES:
        for ci in case.items.select_related("order_item"):
            item = ci.order_item
            line = item.unit_price * item.quantity - item.discount_amount
            value += money.cents(line * ci.quantity / item.quantity) if item.quantity else ZERO
    return value


def _approve(
    case: AfterSalesCase,
    by: Any,
    *,
    policy_exception: str = "",
    auto: bool = False,
    rule: dict[str, Any] | None = None,
) -> AfterSalesCase:
    """Approve a locked case (also used by the sweep's auto-approval, which cites its `rule`).

    A fee the customer pays (a restocking fee off a no-reason refund) must have been accepted by them
    in writing before the solution is carried out; the sweep escalates a case still waiting for that.
    """
    from desk.cases import services_confirmation  # it builds on this module

    now = timezone.now()
    before, after = machines.step(case, "approve")
    services_confirmation.require_agreed_fees(case)  # after the step: a step out of order says so first
    case.approved_by = by if getattr(by, "is_authenticated", False) else None
    case.approved_at, case.answer_due_at = now, None
    if case.case_type == CaseType.RETURN_REFUND:
        _set_ship_deadline(case, now)
    _save(case, now)
    data = {
        "amount": case.refund_amount,
        "value_at_stake": value_at_stake(case) if case.case_type in GOODS_OUT_TYPES else case.refund_amount,
        "auto": auto,
        "policy_exception": policy_exception or None,
    }
    if rule is not None:
        data["rule"] = rule
    _event(
        "case.approve", case, by, before={"state": before}, after={"state": after}, data=data, chained=_chained(case)
    )
    return case


def reject_case(case: AfterSalesCase, *, by: Any, reason: str) -> AfterSalesCase:
    """Refuse the request (or the return, after inspection) with a reason the customer will read."""
    authorize(by, "case.approve", subject=case)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the request is rejected."), code="case.no_reason", field="reason")
    with transaction.atomic():
        case = _lock(case)
        before, after = machines.step(case, "reject")
        case.answer_due_at = case.ship_due_at = case.receive_due_at = case.refund_due_at = None
        case.inspect_due_at = case.ship_remind_at = case.refund_escalate_at = None
        _save(case)
        _event("case.reject", case, by, before={"state": before}, after={"state": after}, data={"reason": reason})
    return case


# --- The return leg -------------------------------------------------------------------------------
def send_return_instructions(
    case: AfterSalesCase,
    *,
    by: Any,
    address: str,
    contact: str,
    phone: str,
    packing: str = "",
    shipping_method: str = "",
) -> AfterSalesCase:
    """Tell the customer where and how to send the goods back, who pays the postage and by when."""
    authorize(by, "case.handle", subject=case)
    if not (address.strip() and contact.strip() and phone.strip()):
        raise ValidationFailed(_("A return needs an address, a contact and a phone."), code="case.no_return_address")
    with transaction.atomic():
        return _send_instructions(
            _lock(case), by, address=address, contact=contact, phone=phone, packing=packing, method=shipping_method
        )


def _send_instructions(
    case: AfterSalesCase, by: Any, *, address: str, contact: str, phone: str, packing: str = "", method: str = ""
) -> AfterSalesCase:
    """Send the instructions on a locked case (also the sweep's, with the policy's default return address)."""
    before, after = machines.step(case, "send_instructions")
    now = timezone.now()
    ship_by = _set_ship_deadline(case, now)
    case.return_instructions = {
        "address": address.strip(),
        "contact": contact.strip(),
        "phone": phone.strip(),
        "packing": packing.strip(),
        "shipping_method": method.strip(),
        "shipping_payer": case.return_shipping_payer,
        "ship_by": ship_by.isoformat(),
    }
    _save(case, now)
    _event(
        "case.send_instructions",
        case,
        by,
        before={"state": before},
        after={"state": after},
        data=case.return_instructions,
        chained=_chained(case),
    )
    return case


def _set_ship_deadline(case: AfterSalesCase, now: datetime) -> datetime:
    """The customer's deadline to ship the return, and the reminder the sweep sends before it (none when
    the policy sets no reminder days, or the reminder would fall before now)."""
    version = case.policy_version
    case.ship_due_at = due = now + timedelta(days=version.customer_ship_days)
    remind_at = due - timedelta(days=version.ship_reminder_days)
    case.ship_remind_at = remind_at if version.ship_reminder_days and remind_at > now else None
    return due


def clean_parcel(carrier: str, tracking_number: str) -> tuple[str, str]:
    """A parcel's carrier and tracking number as entered, both required (a return, a repair unit, a
    replacement: whoever enters it must give both, or nobody can trace it)."""
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    if not carrier or not tracking_number:
        raise ValidationFailed(_("Enter the carrier and the tracking number."), code="case.no_tracking")
    return carrier, tracking_number


def record_return_shipment(
    case: AfterSalesCase, *, carrier: str, tracking_number: str, by: Any = None
) -> AfterSalesCase:
    """The customer shipped the return (entered by them, or by staff on their behalf)."""
    if by is not None:
        authorize(by, "case.handle", subject=case)
    carrier, tracking_number = clean_parcel(carrier, tracking_number)
    with transaction.atomic():
        case = _lock(case)
        before, after = machines.step(case, "ship_return")
        now = timezone.now()
        case.return_carrier, case.return_tracking_number = carrier[:50], tracking_number[:64]
        case.shipped_at, case.ship_due_at, case.return_due_at, case.ship_remind_at = now, None, None, None
        case.receive_due_at = now + timedelta(days=case.policy_version.shop_receive_days)
        _save(case, now)
        data = {"carrier": carrier, "tracking_number": tracking_number}
        _event(
            "case.ship_return",
            case,
            by,
            before={"state": before},
            after={"state": after},
            data=data,
            chained=_chained(case),
        )
    return case


def receive_return(case: AfterSalesCase, *, by: Any) -> AfterSalesCase:
    """The warehouse has the parcel: the shop's receipt timer stops, the refund timer starts."""
    authorize(by, "case.inspect", subject=case)
    with transaction.atomic():
        case = _lock(case)
        before, after = machines.step(case, "receive")
        now = timezone.now()
        case.received_at, case.receive_due_at = now, None
        case.refund_due_at = now + timedelta(days=case.policy_version.refund_due_days)
        if case.case_type == CaseType.RETURN_REFUND:  # an exchange's return is not refunded
            case.refund_escalate_at = case.refund_due_at  # the sweep escalates a refund not confirmed by then
        case.inspect_due_at = now + timedelta(hours=case.policy_version.inspect_within_hours)
        _save(case, now)
        _event("case.receive", case, by, before={"state": before}, after={"state": after}, chained=_chained(case))
    return case


def inspect_return(
    case: AfterSalesCase,
    *,
    by: Any,
    grade: str,
    complete: bool,
    original: bool,
    defect: bool,
    human_damage: bool,
    notes: str = "",
    opened: bool | None = None,
) -> AfterSalesCase:
    """Record the inspection and the grade (A resaleable, B refurbish, C scrap, or back to the supplier).

    `opened`: whether the unit was found opened, unsealed or activated (None: not checked). A no-reason
    return the policy finds not intact (or opened where that excludes it) has its refund held, with
    the rule, until an agent decides (`settle_inspection`, or `reject_case`)."""
    authorize(by, "case.inspect", subject=case)
    if grade not in Grade.values:
        raise ValidationFailed(_("Choose a grade."), code="case.bad_grade", field="grade")
    with transaction.atomic():
        case = _lock(case, policy=_goods_judged(case))
        before, after = machines.step(case, "inspect")
        case.grade, case.inspect_due_at = grade, None
        if opened is not None:
            case.unit_opened = opened
        findings = Findings(complete, original, human_damage, grade, opened)
        hold = _judge_returned_goods(case, findings)
        case.inspection = {
            "complete": complete,
            "original": original,
            "defect": defect,
            "human_damage": human_damage,
            "opened": opened,
            "notes": notes.strip(),
            "passed": complete and original and not human_damage and hold is None,
        }
        if hold is not None:
            case.inspection["hold"] = {"rule": hold.rule, "params": hold.params, "policy_version": hold.policy_version}
        _save(case)
        data = {"grade": grade, **case.inspection, "stock": stock.receive_returned(case, grade, by)}
        _event(
            "case.inspect",
            case,
            by,
            before={"state": before},
            after={"state": after},
            data=data,
            chained=_chained(case),
        )
    return case


def _judge_returned_goods(case: AfterSalesCase, findings: Findings) -> Decision | None:
    """The policy's verdict on the returned goods of a no-reason return and refund (None: refund in full)."""
    if not _goods_judged(case):
        return None
    lines = list(case.items.values_list("order_item__sku", "order_item__order__confirmed_exclusions"))
    rules = {r.sku: r for r in ProductRule.objects.filter(sku__in=[sku for sku, _e in lines])}
    items = tuple(_item_facts(sku, rules.get(sku)) for sku, _e in lines)
    confirmed = tuple(str(e) for e in (lines[0][1] if lines else None) or ())
    return judge_returned_goods(_version_of(case), case.reason, items, confirmed, findings)


def _goods_judged(case: AfterSalesCase) -> bool:
    """Only a no-reason return has its refund depend on the returned goods' state."""
    return case.case_type == CaseType.RETURN_REFUND and case.reason == Reason.NO_REASON


def refund_held(case: AfterSalesCase) -> bool:
    """The inspection held the refund (goods not intact, or opened) and nobody has decided yet."""
    return bool(case.inspection.get("hold")) and not case.inspection.get("settled")


def settle_inspection(case: AfterSalesCase, *, by: Any, deduction: Decimal, reason: str) -> AfterSalesCase:
    """Decide a held refund: refund less a deduction for the goods' condition, or (deduction 0) in full
    as a stated exception to the policy. To refuse the refund instead, reject the case (`reject_case`)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why, for the customer and the record."), code="case.no_reason", field="reason")
    if not refund_held(case):
        raise RefundConflict(_("No refund is held for this case."), code="refund.not_held")
    total = money.case_total(case)
    if deduction < 0 or deduction >= total:
        raise ValidationFailed(
            _(
                "The deduction is at least 0 and less than the refund of %(total)s; "
                "to refund nothing, reject the return."
            )
            % {"total": total},
            code="refund.bad_deduction",
            field="deduction",
        )
    authorize(by, "case.approve", amount=total - deduction, subject=case)
    if deduction == 0:
        authorize(by, "case.policy_exception", subject=case)
    with transaction.atomic():
        case = _lock(case, policy=False)
        if case.state != CaseState.INSPECTED or not refund_held(case):
            raise RefundConflict(_("No refund is held for this case."), code="refund.not_held")
        hold = case.inspection["hold"]
        case.deduction = deduction
        case.refund_amount = money.case_total(case)
        case.inspection = {**case.inspection, "settled": {"deduction": str(deduction), "reason": reason}}
        _save(case)
        data = {
            "rule": hold["rule"],
            "params": hold["params"],
            "message": render(hold["rule"], hold["params"]),
            "policy_version": hold.get("policy_version"),
            "deduction": deduction,
            "refund_amount": case.refund_amount,
            "policy_exception": reason if deduction == 0 else None,
            "reason": reason,
        }
        _event("case.settle_inspection", case, by, data=data, chained=_chained(case))
    return case


# --- Money out ------------------------------------------------------------------------------------
def start_refund(case: AfterSalesCase, *, by: Any, provider: str | None = None) -> Refund:
    """Create the case's refund (capped by what the order's payment still holds) and send it."""
    if by is not None:
        authorize(by, "refund.execute", amount=case.refund_amount, subject=case)
    with transaction.atomic():
        refund = _create_refund(_lock(case), by, provider)  # with its policy version: the payment's caps
    return _pay(refund, by)


def _create_refund(case: AfterSalesCase, by: Any, provider: str | None, *, auto: bool = False) -> Refund:
    """Inside the case's lock: check the payment's caps, write the refund claimed for sending and its
    first ledger rows (requested, approved, sent); the caller sends it after commit (`_pay`).

    Nobody else can see the new row before this commit, so claiming it here is what `_send`'s claim
    would do, without a second transaction: a crash before the provider answers leaves a `sent`
    refund, which the sweep's stale-refund retry sends again with the same number."""
    if refund_held(case):
        hold = case.inspection["hold"]
        raise RefundConflict(
            _("The refund is held: %(rule)s. Decide a deduction or a stated exception, or reject the return.")
            % {"rule": render(hold["rule"], hold["params"])},
            code="refund.held",
        )
    order: Order = _LOCKED_ORDER.get(case.order_id)
    amount = money.case_total(case)
    refunds = _ORDER_REFUNDS.rows(order.pk)  # an order has a few (providers allow 50): summed here
    live = [row for row in refunds if row[1] in LIVE_REFUND_STATUSES]
    caps = _version_of(case)
    _check_refundable(order, amount, sum((row[2] for row in live), ZERO), len(live), caps)
    before, after = machines.step(case, "start_refund")
    now = timezone.now()
    of_case = sum(1 for row in refunds if row[0] == case.pk)
    refund = Refund.objects.create(
        refund_number=f"RF{case.pk:07d}{of_case + 1:02d}",
        case=case,
        order=order,
        payment_reference=order.payment_reference,
        amount=amount,
        currency=case.currency,
        provider=payments.get_provider(provider).name,
        status=RefundStatus.SENT,
        created_at=now,
        sent_at=now,
        attempts=1,
    )
    _ledger(
        refund, by, (LedgerKind.REQUESTED, ""), (LedgerKind.APPROVED, "auto" if auto else ""), (LedgerKind.SENT, "")
    )
    case.receive_due_at = None
    if case.refund_due_at is None:  # no return received (refund only, or the shop never confirmed receipt)
        case.refund_due_at = case.refund_escalate_at = now + timedelta(days=_refund_due_days(case))
    _save(case, now)
    data = {"refund": refund.refund_number, "amount": amount, "provider": refund.provider, "auto": auto}
    _event(
        "case.start_refund",
        case,
        by,
        before={"state": before},
        after={"state": after},
        data=data,
        chained=_chained(case),
    )
    return refund


def _refund_due_days(case: AfterSalesCase) -> int:
    return _version_of(case).refund_due_days


def _version_of(case: AfterSalesCase) -> PolicyVersion:
    """The case's policy version: the one read with the case when it was locked with it, else read apart."""
    version = case.policy_version if "policy_version" in case._state.fields_cache else None
    return version or _VERSION.get(case.policy_version_id)


# The order's refunds, for the payment's caps and the next refund number (both read under the order's lock).
_ORDER_REFUNDS = Prepared(
    lambda order_id: Refund.objects.filter(order_id=order_id).order_by().values_list("case_id", "status", "amount")
)


def _check_refundable(order: Order, amount: Decimal, so_far: Decimal, count: int, caps: PolicyVersion) -> None:
    """The payment's rules: never above what was paid (`so_far`: its live refunds, `count` of them),
    at most N refunds, within a year of payment (N and the days are the case's policy version's data)."""
    if amount <= 0:
        raise RefundConflict(_("There is nothing to refund."), code="refund.nothing")
    if so_far + amount > order.total_amount:
        left = max(order.total_amount - so_far, ZERO)
        raise OverRefund(
            _("Refunding %(amount)s would exceed what was paid; %(left)s is left on order %(order)s.")
            % {"amount": amount, "left": left, "order": order.number}
        )
    if count >= caps.max_refunds_per_payment:
        raise RefundConflict(_("This payment has had the most partial refunds allowed."), code="refund.too_many")
    paid_at = order.paid_at or order.placed_at
    if timezone.now() - paid_at > timedelta(days=caps.refund_window_days):
        raise RefundConflict(
            _("Refunds are possible within %(days)s days of payment only.") % {"days": caps.refund_window_days},
            code="refund.too_late",
        )


def retry_refund(refund: Refund, *, by: Any) -> Refund:
    """Send a failed or unanswered refund again, with the same refund number: never paid twice."""
    if by is not None:
        authorize(by, "refund.execute", subject=refund.case)
    refund.refresh_from_db()
    if refund.status == RefundStatus.CONFIRMED:
        raise RefundConflict(_("This refund is already confirmed."), code="refund.already_confirmed")
    return _send(refund, by)


def _send(refund: Refund, by: Any) -> Refund:
    """Claim the refund again (approved/failed/sent → sent, committed), then call the provider outside the transaction.

    A new refund is written already sent (`_create_refund`); an `approved` one is a row written before
    that, whose claim never happened: it is sent the same way."""
    claimable = [RefundStatus.APPROVED, RefundStatus.FAILED, RefundStatus.SENT]
    now = timezone.now()
    with transaction.atomic():
        claimed = Refund.objects.filter(pk=refund.pk, status__in=claimable).update(
            status=RefundStatus.SENT, sent_at=now, attempts=F("attempts") + 1
        )
        if not claimed:
            raise RefundConflict(_("Someone else is sending this refund."), code="refund.busy")
        refund.refresh_from_db()
        _ledger(refund, by, (LedgerKind.RETRIED, ""))
    return _pay(refund, by)


def _pay(refund: Refund, by: Any) -> Refund:
    """Call the refund's provider for a refund claimed and committed as sent, outside any transaction."""
    provider = payments.get_provider(refund.provider)
    order = payments.RefundOrder(refund.refund_number, refund.payment_reference, refund.amount, refund.currency)
    try:
        result = provider.send_refund(order)
    except payments.ProviderUnavailable:
        log.warning("refund %s: no answer from %s; it stays sent for a retry", refund.refund_number, provider.name)
        return refund
    if result.status == payments.CONFIRMED:
        return _confirm(refund, by, reference=result.reference)
    if result.status == payments.FAILED:
        return _fail(refund, by, result.message)
    return refund  # pending: finance finishes it (manual provider)


def mark_refund_done(refund: Refund, *, by: Any, reference: str) -> Refund:
    """Finance paid a manual refund by hand and records the bank or platform reference."""
    authorize(by, "refund.execute", subject=refund.case)
    if not reference.strip():
        raise ValidationFailed(_("Enter the payment reference."), code="refund.no_reference", field="reference")
    refund.refresh_from_db()
    if refund.status != RefundStatus.SENT:
        raise RefundConflict(_("Only a refund sent for payment can be marked done."), code="refund.not_sent")
    return _confirm(refund, by, reference=reference.strip())


def _confirm(refund: Refund, by: Any, *, reference: str) -> Refund:
    with transaction.atomic():
        case = _lock(AfterSalesCase(pk=refund.case_id), policy=False)
        now = timezone.now()
        claimed = Refund.objects.filter(pk=refund.pk, status=RefundStatus.SENT).update(
            status=RefundStatus.CONFIRMED, confirmed_at=now, provider_reference=reference[:100]
        )
        if not claimed:
            refund.refresh_from_db()
            return refund  # another attempt confirmed it first
        refund.status, refund.confirmed_at, refund.provider_reference = RefundStatus.CONFIRMED, now, reference[:100]
        _ledger(refund, by, (LedgerKind.CONFIRMED, reference))
        before, after = machines.step(case, "confirm_refund")
        case.refund_due_at = case.refund_escalate_at = None
        _save(case, now)
        data = {"refund": refund.refund_number, "amount": refund.amount, "reference": reference}
        _event(
            "case.confirm_refund",
            case,
            by,
            before={"state": before},
            after={"state": after},
            data=data,
            chained=_chained(case),
        )
    return refund


def _fail(refund: Refund, by: Any, message: str) -> Refund:
    with transaction.atomic():
        claimed = Refund.objects.filter(pk=refund.pk, status=RefundStatus.SENT).update(status=RefundStatus.FAILED)
        refund.refresh_from_db()
        if claimed:
            _ledger(refund, by, (LedgerKind.FAILED, message))
            data = {"refund": refund.refund_number, "message": message}
            _event("case.refund_failed", refund.case, by, data=data)
    return refund


def _ledger(refund: Refund, by: Any, *entries: tuple[str, str]) -> None:
    """The refund's ledger rows, (kind, note) each, in one INSERT."""
    label = by.get_username() if getattr(by, "is_authenticated", False) else "system"
    now = timezone.now()
    RefundLedgerEntry.objects.bulk_create(
        RefundLedgerEntry(
            refund=refund, kind=kind, amount=refund.amount, created_at=now, actor_label=label, note=note[:300]
        )
        for kind, note in entries
    )


# --- Ending a case ----------------------------------------------------------------------------------
def close_case(case: AfterSalesCase, *, by: Any) -> AfterSalesCase:
    """Close a refunded or rejected case."""
    authorize(by, "case.handle", subject=case)
    with transaction.atomic():
        case = _lock(case)
        reason = "refunded" if case.state == CaseState.REFUNDED else "rejected"
        return _close(case, by, "close", reason)


def withdraw_case(case: AfterSalesCase, *, by: Any = None) -> AfterSalesCase:
    """The customer no longer wants the after-sales service (before anything was shipped back)."""
    if by is not None:
        authorize(by, "case.handle", subject=case)
    with transaction.atomic():
        return _close(_lock(case), by, "withdraw", "withdrawn")


def _close(case: AfterSalesCase, by: Any, event: str, reason: str, **data: Any) -> AfterSalesCase:
    before, after = machines.step(case, event)
    now = timezone.now()
    case.close_reason, case.closed_at = reason, now
    case.answer_due_at = case.ship_due_at = case.receive_due_at = case.refund_due_at = case.return_due_at = None
    case.inspect_due_at = case.ship_remind_at = case.refund_escalate_at = None
    released = stock.release(case, by)  # replacement stock the case held goes back on sale
    if released:
        data["released"] = released
    _save(case, now)
    _event(f"case.{event}", case, by, before={"state": before}, after={"state": after}, data={"reason": reason, **data})
    services_confirm.resume_after_cases([case.order_id], by=by)  # the order's last open case: the clock runs again
    return case


# --- Reads for pages and the API -----------------------------------------------------------------
def allowed_actions(case: AfterSalesCase) -> list[str]:
    return machines.allowed_events(case)


# --- Helpers ------------------------------------------------------------------------------------
_LOCKED_ORDER: Prepared[Order] = Prepared(lambda pk: Order.objects.select_for_update().filter(pk=pk).order_by())
# Whether the case has an evidence chain, read with its lock (cheaper to build than `Exists(...)`).
_HAS_CHAIN = (
    'EXISTS (SELECT 1 FROM "evidence_chainlink" WHERE "evidence_chainlink"."case_id" = "cases_aftersalescase"."id")'
)


def _locked_case(*, policy: bool) -> Prepared[AfterSalesCase]:
    def build(pk: int) -> QuerySet[AfterSalesCase]:
        # Only the case's row (`OF`): a plain FOR UPDATE would lock the joined policy version too, one
        # row most cases share, so every case's step would wait for every other's commit (PostgreSQL).
        cases = AfterSalesCase.objects.select_for_update(of=("self",))
        if policy:
            cases = cases.select_related("policy_version")
        has_chain = RawSQL(_HAS_CHAIN, (), output_field=BooleanField())  # noqa: S611 (a constant, no input)
        return cases.annotate(has_chain=has_chain).filter(pk=pk).order_by()

    return Prepared(build)


# Every step locks its case: compiled once (the query's compilation cost more than the database's answer).
_LOCKED_WITH_POLICY = _locked_case(policy=True)
_LOCKED = _locked_case(policy=False)


def _lock(case: AfterSalesCase, *, policy: bool = True) -> AfterSalesCase:
    """The case, locked, with whether it has an evidence chain (`has_chain`) and its policy version unless told not."""
    locked = (_LOCKED_WITH_POLICY if policy else _LOCKED).get(case.pk)
    locked._as_read = _columns(locked)  # type: ignore[attr-defined]  # `_save` writes what changed since
    return locked


def _chained(case: AfterSalesCase) -> bool | None:
    """Whether the case (locked by `_lock` in this transaction, no chain started since) has a chain; None: unknown."""
    return getattr(case, "has_chain", None)


def _save(case: AfterSalesCase, now: datetime | None = None) -> None:
    """Save the case. A case read by `_lock` writes only the columns changed since (the row is locked,
    so the others still hold what was read): a 40-column UPDATE cost more to build than to run."""
    case.updated_at = now or timezone.now()
    as_read: dict[str, Any] | None = getattr(case, "_as_read", None)
    if as_read is None:
        case.save()
        return
    now_held = _columns(case)
    case.save(update_fields=[name for name, value in now_held.items() if as_read.get(name, _UNREAD) != value])
    case._as_read = now_held  # type: ignore[attr-defined]


_UNREAD = object()
_CASE_COLUMNS = [f.attname for f in AfterSalesCase._meta.concrete_fields if not f.primary_key]


def _columns(case: AfterSalesCase) -> dict[str, Any]:
    """The case's column values; JSON ones as their text (a step may change them in place), which
    costs less than a deep copy."""
    held = {name: getattr(case, name) for name in _CASE_COLUMNS}
    for name, value in held.items():
        if isinstance(value, dict | list):
            held[name] = _json_text(value)
    return held


def _json_text(value: dict[str, Any] | list[Any]) -> tuple[str, str] | object:
    try:
        return ("json", json.dumps(value, sort_keys=True))  # a tuple: never equal to a column's own value
    except (TypeError, ValueError):
        return object()  # not plain JSON (a Decimal in it): always written, as Django would write it


def _snapshot(case: AfterSalesCase) -> dict[str, Any]:
    return {
        "number": case.number,
        "type": case.case_type,
        "state": case.state,
        "reason": case.reason,
        "order": case.order_id,
        "refund_amount": case.refund_amount,
        "policy_version": case.policy_version_id,
    }


def _event(verb: str, case: AfterSalesCase, by: Any, *, chained: bool | None = None, **kwargs: Any) -> None:
    """Record the case's event; `chained`, when the caller knows it under the case's lock, spares the chain's query."""
    if chained is None:
        record_event(verb, actor=by, subject=case, customer_id=case.customer_id, ticket_id=case.ticket_id, **kwargs)
        return
    with chain.known(case.pk, chained=chained):
        record_event(verb, actor=by, subject=case, customer_id=case.customer_id, ticket_id=case.ticket_id, **kwargs)
