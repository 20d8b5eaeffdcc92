"""The simulated responder: the local default for every response capability.

It changes nothing anywhere. It records what it would have done (in memory and in the log) and every result
it returns says SIMULATED, so a card, a timeline event or an export can never pass it off as a real action.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.core.ports import ActionOutcome, ActionResult, ContainmentKind
from connectors import ConnectorSettings

logger = logging.getLogger(__name__)

_VERBS = {
    ContainmentKind.EDR: ("contain host", "release host"),
    ContainmentKind.IDENTITY: ("disable account and revoke sessions", "enable account"),
    ContainmentKind.FIREWALL: ("block IP", "unblock IP"),
}


class Settings(ConnectorSettings):
    """``connectors.simulated``: nothing to configure (``enabled: false`` turns it off)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One thing the simulated responder was asked to do."""

    action: str
    target: str
    reason: str


@dataclass(slots=True)
class Journal:
    """What the simulated responders were asked to do, in order (shared by all of them)."""

    entries: list[Recorded] = field(default_factory=list)

    def record(self, action: str, target: str, reason: str) -> ActionResult:
        """Note one request and return its SIMULATED result."""
        self.entries.append(Recorded(action, target, reason))
        logger.info("SIMULATED %s %s (%s): nothing was changed", action, target, reason)
        return ActionResult(
            connector="simulated",
            action=action,
            target=target,
            outcome=ActionOutcome.SIMULATED,
            message=f"SIMULATED: would {action} {target}; no real system was changed",
        )


class SimulatedContainment:
    """Simulated contain / disable / block for one capability."""

    name = "simulated"

    def __init__(self, capability: ContainmentKind, journal: Journal) -> None:
        self.capability = capability
        self.journal = journal

    async def check(self) -> str:
        """Nothing to reach."""
        return f"simulated {self.capability} responder (changes nothing)"

    async def apply(self, target: str, *, reason: str, idempotency_key: str) -> ActionResult:
        """Record the action it would have taken."""
        return self.journal.record(_VERBS[self.capability][0], target, reason)

    async def revert(self, target: str, *, reason: str, undo: Mapping[str, Any]) -> ActionResult:
        """Record the undo it would have done."""
        return self.journal.record(_VERBS[self.capability][1], target, reason)


class SimulatedDesk:
    """Simulated ticketing and webhook delivery."""

    name = "simulated"

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def check(self) -> str:
        """Nothing to reach."""
        return "simulated ticketing and notifications (changes nothing)"

    async def create_ticket(
        self, *, title: str, description: str, severity: str, labels: tuple[str, ...], idempotency_key: str
    ) -> ActionResult:
        """Record the ticket it would have opened."""
        return self.journal.record("create ticket", title, f"severity {severity}")

    async def notify(self, event: Mapping[str, Any], *, idempotency_key: str) -> ActionResult:
        """Record the notification it would have sent."""
        return self.journal.record("send notification", str(event.get("type", "event")), idempotency_key)


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """One simulated responder per capability, sharing one journal."""
    journal = Journal()
    return [*(SimulatedContainment(kind, journal) for kind in ContainmentKind), SimulatedDesk(journal)]
