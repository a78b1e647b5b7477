"""One state machine per case type (python-statemachine), bound to the case's `state` column.

The machines hold only the shape of each workflow: which step leads where. Guards that need
the database or the actor (permission, policy, amounts) run in services before the step, so a
refusal carries its own error code instead of a bare "transition not allowed".
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

from desk.cases.errors import IllegalTransition
from desk.cases.models import AfterSalesCase, CaseState, CaseType, ExchangeMode

S = CaseState


class RefundOnlyMachine(StateMachine):
    """仅退款: request → approve | reject → refund → refunded → closed."""

    requested = State(initial=True, value=S.REQUESTED.value)
    approved = State(value=S.APPROVED.value)
    rejected = State(value=S.REJECTED.value)
    refunding = State(value=S.REFUNDING.value)
    refunded = State(value=S.REFUNDED.value)
    closed = State(final=True, value=S.CLOSED.value)

    approve = requested.to(approved)
    reject = requested.to(rejected)
    start_refund = approved.to(refunding)
    confirm_refund = refunding.to(refunded)
    close = refunded.to(closed) | rejected.to(closed)
    withdraw = requested.to(closed) | approved.to(closed)


class ReturnRefundMachine(StateMachine):
    """退货退款: approve → return instructions → customer ships → received → inspected → refund → closed."""

    requested = State(initial=True, value=S.REQUESTED.value)
    approved = State(value=S.APPROVED.value)
    rejected = State(value=S.REJECTED.value)
    awaiting_return = State(value=S.AWAITING_RETURN.value)
    returning = State(value=S.RETURNING.value)
    received = State(value=S.RECEIVED.value)
    inspected = State(value=S.INSPECTED.value)
    refunding = State(value=S.REFUNDING.value)
    refunded = State(value=S.REFUNDED.value)
    closed = State(final=True, value=S.CLOSED.value)

    approve = requested.to(approved)
    reject = requested.to(rejected) | inspected.to(rejected)
    send_instructions = approved.to(awaiting_return)
    ship_return = awaiting_return.to(returning)
    receive = returning.to(received)
    inspect = received.to(inspected)
    # The refund follows inspection, or the shop's silence on a shipped return (auto refund).
    start_refund = inspected.to(refunding) | returning.to(refunding)
    confirm_refund = refunding.to(refunded)
    close = refunded.to(closed) | rejected.to(closed)
    expire = approved.to(closed) | awaiting_return.to(closed)  # the customer never shipped
    withdraw = requested.to(closed) | approved.to(closed) | awaiting_return.to(closed)


class RepairMachine(StateMachine):
    """维修: approve → service arranged → diagnosis (24 h) → [fee quote accepted] → repair → result → sent back.

    A unit that cannot be repaired stays with the shop: the case completes from `repaired` and the
    customer is offered a refund or an exchange.
    """

    requested = State(initial=True, value=S.REQUESTED.value)
    approved = State(value=S.APPROVED.value)
    rejected = State(value=S.REJECTED.value)
    scheduled = State(value=S.SCHEDULED.value)
    diagnosing = State(value=S.DIAGNOSING.value)
    quoted = State(value=S.QUOTED.value)
    repairing = State(value=S.REPAIRING.value)
    repaired = State(value=S.REPAIRED.value)
    shipped_back = State(value=S.SHIPPED_BACK.value)
    completed = State(final=True, value=S.COMPLETED.value)
    closed = State(final=True, value=S.CLOSED.value)

    approve = requested.to(approved)
    reject = requested.to(rejected)
    arrange_service = approved.to(scheduled)
    ship_unit = scheduled.to(scheduled)  # mail-in: the customer sent the unit (carrier + tracking)
    start_diagnosis = scheduled.to(diagnosing)
    diagnose = diagnosing.to(repairing)
    quote_fee = diagnosing.to(quoted)
    accept_fee = quoted.to(repairing)
    decline_fee = quoted.to(repaired)  # nothing is repaired; the unit goes back as it came
    record_result = repairing.to(repaired)
    ship_back = repaired.to(shipped_back)
    complete = shipped_back.to(completed) | repaired.to(completed)  # from repaired: on site, or kept by the shop
    close = rejected.to(closed)
    withdraw = requested.to(closed) | approved.to(closed) | scheduled.to(closed)


class GuidanceMachine(StateMachine):
    """Technical guidance: instructions given (again if needed) → resolved, or converted into a repair or return."""

    requested = State(initial=True, value=S.REQUESTED.value)
    guided = State(value=S.GUIDED.value)
    resolved = State(final=True, value=S.RESOLVED.value)
    closed = State(final=True, value=S.CLOSED.value)

    give_guidance = requested.to(guided) | guided.to(guided)
    resolve = guided.to(resolved)
    convert = requested.to(closed) | guided.to(closed)
    withdraw = requested.to(closed) | guided.to(closed)


class CompensationMachine(StateMachine):
    """Compensation on its own: a grant approved → every grant issued (completed), or rejected / withdrawn."""

    requested = State(initial=True, value=S.REQUESTED.value)
    approved = State(value=S.APPROVED.value)
    rejected = State(value=S.REJECTED.value)
    completed = State(final=True, value=S.COMPLETED.value)
    closed = State(final=True, value=S.CLOSED.value)

    approve = requested.to(approved)
    reject = requested.to(rejected)
    complete = approved.to(completed)
    close = rejected.to(closed)
    withdraw = requested.to(closed) | approved.to(closed)


class ExchangeMachine(StateMachine):
    """换货, two modes chosen when the replacement is reserved (`case.exchange_mode`).

    Return first: reserve → instructions → customer ships → received → inspected → replacement shipped
    → completed (once delivered). Ship first (先发后退): reserve → replacement shipped → customer ships
    the return (by `return_due_at`) → received → inspected → completed. The mode guards pick the path.
    """

    requested = State(initial=True, value=S.REQUESTED.value)
    approved = State(value=S.APPROVED.value)
    rejected = State(value=S.REJECTED.value)
    replacement_reserved = State(value=S.REPLACEMENT_RESERVED.value)
    awaiting_return = State(value=S.AWAITING_RETURN.value)
    returning = State(value=S.RETURNING.value)
    received = State(value=S.RECEIVED.value)
    inspected = State(value=S.INSPECTED.value)
    replacement_shipped = State(value=S.REPLACEMENT_SHIPPED.value)
    completed = State(final=True, value=S.COMPLETED.value)
    closed = State(final=True, value=S.CLOSED.value)

    approve = requested.to(approved)
    reject = requested.to(rejected) | inspected.to(rejected)  # refused, or the return failed inspection
    reserve = approved.to(replacement_reserved)
    send_instructions = replacement_reserved.to(awaiting_return, unless="ship_first")
    ship_return = awaiting_return.to(returning) | replacement_shipped.to(returning, cond="ship_first")
    receive = returning.to(received)
    inspect = received.to(inspected)
    ship_replacement = inspected.to(replacement_shipped, unless="ship_first") | replacement_reserved.to(
        replacement_shipped, cond="ship_first"
    )
    complete = replacement_shipped.to(completed, unless="ship_first") | inspected.to(completed, cond="ship_first")
    close = rejected.to(closed)
    expire = awaiting_return.to(closed)  # the customer never shipped the return
    withdraw = requested.to(closed) | approved.to(closed) | replacement_reserved.to(closed) | awaiting_return.to(closed)
    # Ship first, and the return is overdue (the sweep cleared `return_due_at`): a person settles it.
    settle_unreturned = replacement_shipped.to(closed, cond=["ship_first", "return_lapsed"])

    def ship_first(self) -> bool:
        return bool(getattr(self.model, "exchange_mode", "") == ExchangeMode.SHIP_FIRST)

    def return_lapsed(self) -> bool:
        return getattr(self.model, "return_due_at", None) is None


class ReshipMachine(StateMachine):
    """补寄: approve → parts reserved → shipped (tracked) → completed once delivered."""

    requested = State(initial=True, value=S.REQUESTED.value)
    approved = State(value=S.APPROVED.value)
    rejected = State(value=S.REJECTED.value)
    replacement_reserved = State(value=S.REPLACEMENT_RESERVED.value)
    replacement_shipped = State(value=S.REPLACEMENT_SHIPPED.value)
    completed = State(final=True, value=S.COMPLETED.value)
    closed = State(final=True, value=S.CLOSED.value)

    approve = requested.to(approved)
    reject = requested.to(rejected)
    reserve = approved.to(replacement_reserved)
    ship_replacement = replacement_reserved.to(replacement_shipped)
    complete = replacement_shipped.to(completed)
    close = rejected.to(closed)
    withdraw = requested.to(closed) | approved.to(closed) | replacement_reserved.to(closed)


MACHINES: dict[str, type[StateMachine]] = {
    CaseType.REFUND_ONLY: RefundOnlyMachine,
    CaseType.RETURN_REFUND: ReturnRefundMachine,
    CaseType.REPAIR: RepairMachine,
    CaseType.GUIDANCE: GuidanceMachine,
    CaseType.COMPENSATION: CompensationMachine,
    CaseType.EXCHANGE: ExchangeMachine,
    CaseType.RESHIP: ReshipMachine,
}


def machine_for(case: AfterSalesCase) -> StateMachine:
    """The case's machine, reading and writing `case.state` (no database access)."""
    try:
        machine = MACHINES[case.case_type]
    except KeyError:
        message = _("%(type)s cases have no workflow yet.") % {"type": case.case_type}
        raise IllegalTransition(message, code="case.type_unsupported") from None
    return machine(model=case, state_field="state")


def step(case: AfterSalesCase, event: str) -> tuple[str, str]:
    """Move `case.state` along `event`, or raise IllegalTransition; returns (before, after)."""
    before = case.state
    key = (*_facts(case), event)
    after = _STEPS.get(key)
    if after is not None:  # the machines have no callbacks: a step only sets the state
        case.state = after
        return before, after
    machine = machine_for(case)
    try:
        machine.send(event)
    except TransitionNotAllowed:
        facts = {"number": case.number, "state": before, "event": event, "allowed": ", ".join(allowed_events(case))}
        raise IllegalTransition(
            _("Case %(number)s is %(state)s; '%(event)s' is not a step from there (allowed: %(allowed)s).") % facts
        ) from None
    _STEPS[key] = case.state
    return before, case.state


def _facts(case: AfterSalesCase) -> tuple[str, str, bool, bool]:
    """All that the machines' guards read of a case: the answer is the same for every case sharing them."""
    return (
        case.case_type,
        case.state,
        getattr(case, "exchange_mode", "") == ExchangeMode.SHIP_FIRST,
        getattr(case, "return_due_at", None) is None,
    )


# (type, state, ship first?, return deadline cleared?, event) -> the state after: building a machine costs
# ~1,200 Python calls, a tenth of a return flow's seven steps.
_STEPS: dict[tuple[str, str, bool, bool, str], str] = {}


# (type, state, ship first?, return deadline cleared?) -> allowed events. The guards read only those
# facts, so the answer is the same for every case that shares them; building a machine costs ~1,200
# Python calls, which a case page paid on every request.
_ALLOWED: dict[tuple[str, str, bool, bool], list[str]] = {}


def allowed_events(case: AfterSalesCase) -> list[str]:
    """The next steps the workflow allows from the case's state (for pages and the API)."""
    if case.case_type not in MACHINES:
        return []
    key = _facts(case)
    allowed = _ALLOWED.get(key)
    if allowed is None:  # mode guards (exchange) included
        allowed = _ALLOWED[key] = sorted({e.id for e in machine_for(case).enabled_events()})
    return list(allowed)
