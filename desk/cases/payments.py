"""Payment providers behind one small Protocol: refunds go out through one of these.

Like real providers (Alipay, WeChat Pay), each refund carries the shop's refund number and the
provider pays a given number at most once: sending it again returns the first result. That is
what makes a retried refund safe after a crash or a lost response.

- `manual`: finance pays by hand (bank transfer, platform back office) and marks it done.
- `simulated`: pays into its own table at once; for the demo and the tests, with fault injection.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import transaction

from desk.cases.models import SimulatedPayout

# The providers' caps (at most 50 partial refunds per payment, refunds within 365 days of payment, as
# Alipay and WeChat Pay) are data: `PolicyVersion.max_refunds_per_payment` and `refund_window_days`.

CONFIRMED, PENDING, FAILED = "confirmed", "pending", "failed"


class ProviderUnavailable(Exception):
    """The outcome is unknown (timeout, lost answer): retry with the same refund number."""


@dataclass(frozen=True)
class RefundOrder:
    refund_number: str
    payment_reference: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ProviderResult:
    status: str  # confirmed / pending (someone must finish it) / failed (declined, nothing paid)
    reference: str = ""
    message: str = ""


class PaymentProvider(Protocol):
    name: str

    def send_refund(self, order: RefundOrder) -> ProviderResult:
        """Pay `order` once per refund number; a repeat returns the first result."""
        ...

    def send_payout(self, order: RefundOrder) -> ProviderResult:
        """Transfer money to the customer (compensation, 打款) once per payout number, like refunds."""
        ...


class ManualProvider:
    """Nothing is sent: the refund waits for finance to pay it and mark it done."""

    name = "manual"

    def send_refund(self, order: RefundOrder) -> ProviderResult:
        return ProviderResult(PENDING, message="waiting for finance")

    def send_payout(self, order: RefundOrder) -> ProviderResult:
        return ProviderResult(PENDING, message="waiting for finance")


class SimulatedProvider:
    """Pays into SimulatedPayout at once. `fail_next` injects one fault into the next call:
    "decline" (refused, nothing paid), "down" (unreachable, nothing paid) or "lose_response"
    (paid, but the answer never arrives: the crash case a retry must survive)."""

    name = "simulated"

    def __init__(self) -> None:
        self.fail_next: str | None = None
        self.calls = 0

    def send_refund(self, order: RefundOrder) -> ProviderResult:
        self.calls += 1
        fault, self.fail_next = self.fail_next, None
        if fault == "down":
            raise ProviderUnavailable("simulated provider unreachable")
        if fault == "decline":
            return ProviderResult(FAILED, message="declined by the simulated provider")
        payout = self._pay_once(order)
        if payout.amount != order.amount:
            return ProviderResult(
                FAILED, reference=f"SIM{payout.pk}", message="refund number reused with another amount"
            )
        if fault == "lose_response":
            raise ProviderUnavailable("simulated provider: paid, answer lost")
        return ProviderResult(CONFIRMED, reference=f"SIM{payout.pk}")

    def send_payout(self, order: RefundOrder) -> ProviderResult:
        """The same books and faults as refunds: one payout per number (CP... for compensation)."""
        return self.send_refund(order)

    @staticmethod
    def _pay_once(order: RefundOrder) -> SimulatedPayout:
        with transaction.atomic():  # the provider's own books commit on their own
            first = SimulatedPayout(
                refund_number=order.refund_number, payment_reference=order.payment_reference, amount=order.amount
            )
            SimulatedPayout.objects.bulk_create([first], ignore_conflicts=True)  # a repeat keeps the first payout
            return SimulatedPayout.objects.get(refund_number=order.refund_number)


manual = ManualProvider()
simulated = SimulatedProvider()
_PROVIDERS: dict[str, PaymentProvider] = {manual.name: manual, simulated.name: simulated}


def get_provider(name: str | None = None) -> PaymentProvider:
    """The named provider, or the shop's default (`CASES_PAYMENT_PROVIDER`, "simulated" if unset)."""
    chosen = name or str(getattr(settings, "CASES_PAYMENT_PROVIDER", simulated.name))
    return _PROVIDERS[chosen]
