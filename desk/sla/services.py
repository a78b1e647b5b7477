"""SLA clock (being built): start and update a ticket's targets."""

from __future__ import annotations

from typing import Any


def start_clock(ticket: Any) -> None:
    """Placeholder until the SLA engine lands in this same change."""


def on_ticket_changed(ticket: Any, *, policy_inputs_changed: bool = False) -> None:
    """Placeholder until the SLA engine lands in this same change."""
