"""Recording containment responders for engine tests (real vendors are tested against their own fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import ConnectorUnavailable
from bot.core.ports import ActionOutcome, ActionResult, Containment, ContainmentKind, Notifier, Ticketing


@dataclass
class RecordingContainment:
    capability: ContainmentKind
    name: str = "recorder"
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_times: int = 0
    delay: float = 0.0

    async def check(self) -> str:
        return "ok"

    async def apply(self, target: str, *, reason: str, idempotency_key: str) -> ActionResult:
        self.calls.append(("apply", target))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectorUnavailable(f"{self.name}: HTTP 503")
        return ActionResult(self.name, "apply", target, ActionOutcome.DONE, "done", reference="r1", undo={"id": "r1"})

    async def revert(self, target: str, *, reason: str, undo: Mapping[str, Any]) -> ActionResult:
        self.calls.append(("revert", target))
        return ActionResult(self.name, "revert", target, ActionOutcome.DONE, "reverted")

    def applied(self) -> list[str]:
        return [t for verb, t in self.calls if verb == "apply"]


@dataclass
class Responders:
    containment: dict[ContainmentKind, Containment] = field(
        default_factory=lambda: {k: RecordingContainment(k) for k in ContainmentKind}  # type: ignore[misc]
    )
    ticketing: Ticketing | None = None
    notifier: Notifier | None = None

    def recorder(self, kind: ContainmentKind) -> RecordingContainment:
        found = self.containment[kind]
        assert isinstance(found, RecordingContainment)
        return found
