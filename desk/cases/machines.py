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
from desk.cases.models import AfterSalesCase, CaseState, CaseType

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


MACHINES: dict[str, type[StateMachine]] = {
    CaseType.REFUND_ONLY: RefundOnlyMachine,
    CaseType.RETURN_REFUND: ReturnRefundMachine,
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
    machine = machine_for(case)
    try:
        machine.send(event)
    except TransitionNotAllowed:
        facts = {"number": case.number, "state": before, "event": event, "allowed": ", ".join(allowed_events(case))}
        raise IllegalTransition(
            _("Case %(number)s is %(state)s; '%(event)s' is not a step from there (allowed: %(allowed)s).") % facts
        ) from None
    return before, case.state


def allowed_events(case: AfterSalesCase) -> list[str]:
    """The next steps the workflow allows from the case's state (for pages and the API)."""
    if case.case_type not in MACHINES:
        return []
    return sorted({e.id for e in machine_for(case).allowed_events})
