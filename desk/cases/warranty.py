"""The repair warranty check (保修): a pure function of the unit's facts, like `policy.evaluate`.

The period is the product's override (`ProductRule.warranty_months`) or the policy version's
`warranty_months`, counted like the policy's warranty rule: from the day the goods were signed for
(or paid, if no delivery is known) to the end of the same day that many months later. A unit needs
its serial number to be checked, and damage the customer caused (人为损坏) voids the warranty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from desk.cases.policy import MESSAGES as POLICY_MESSAGES
from desk.cases.policy import _add_months, _day, _end_of, _stamp

SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-/.]{3,63}$")

MESSAGES: dict[str, Any] = {
    "warranty_open": POLICY_MESSAGES["warranty_open"],
    "warranty_passed": POLICY_MESSAGES["warranty_passed"],
    "no_serial": _("Warranty: the unit's serial number is missing or unreadable — not covered"),
    "human_damage": _("Warranty: damage caused by use or accident (人为损坏) is not covered — not covered"),
}


@dataclass(frozen=True)
class WarrantyVerdict:
    in_warranty: bool
    rule: str
    params: dict[str, str] = field(default_factory=dict)
    ends: datetime | None = None

    @property
    def message(self) -> str:
        """The sentence in the active language."""
        return str(MESSAGES[self.rule]) % self.params


def warranty_months(policy_months: int, product_months: list[int | None]) -> int:
    """A product's override wins (the shortest if several units differ), else the policy's period."""
    overrides = [m for m in product_months if m is not None]
    return min(overrides) if overrides else policy_months


def check_warranty(
    *,
    months: int,
    purchased_at: datetime,
    now: datetime,
    serial_number: str,
    human_damage: bool = False,
) -> WarrantyVerdict:
    """Is this unit covered now? Serial first, then the period, then what the diagnosis found."""
    if not SERIAL.match(serial_number.strip()):
        return WarrantyVerdict(False, "no_serial")
    purchased = _day(purchased_at)
    ends = _end_of(_add_months(purchased, months))
    params = {"months": str(months), "purchased": purchased.isoformat(), "ends": _stamp(ends)}
    if now > ends:
        return WarrantyVerdict(False, "warranty_passed", params, ends)
    if human_damage:
        return WarrantyVerdict(False, "human_damage", params, ends)
    return WarrantyVerdict(True, "warranty_open", params, ends)
