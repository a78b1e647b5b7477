"""What webhook receivers get about an after-sales case with each `case.*` event (docs/webhooks.md).

The event's own `before`/`after`/`data` are as they were when it happened; the `case` block adds
the facts an integrator needs to act without a second call: number, type, order number, amounts
and the refund. It is read when the delivery is sent, except `state`, which is the state this
event left the case in (so a retried delivery never reports a later state as this event's).
"""

from __future__ import annotations

from typing import Any

from desk.cases.models import AfterSalesCase
from desk.core.models import Event


def case_payload(event: Event) -> dict[str, Any]:
    if event.subject_id is None:
        return {}
    case = AfterSalesCase.objects.select_related("order").filter(pk=event.subject_id).first()
    if case is None:
        return {}
    refund = case.refunds.order_by("-pk").first()
    refund_number = event.data.get("refund") or (refund.refund_number if refund is not None else None)
    return {
        "case": {
            "id": case.pk,
            "number": case.number,
            "type": case.case_type,
            "state": event.after.get("state", case.state),
            "reason": case.reason,
            "order": {"id": case.order_id, "number": case.order.number},
            "customer_id": case.customer_id,
            "ticket_id": case.ticket_id,
            "amounts": {
                "currency": case.currency,
                "goods": str(case.goods_amount),
                "shipping_refund": str(case.shipping_refund),
                "restocking_fee": str(case.restocking_fee),
                "refund": str(case.refund_amount),
                "compensation": str(case.compensation_amount),
            },
            "refund_number": refund_number,
            "return_tracking": {"carrier": case.return_carrier, "number": case.return_tracking_number}
            if case.return_tracking_number
            else None,
        }
    }
