"""A recording IntelLookup for core tests (rule 15: fake capability implementations that record calls)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.core.errors import ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel


@dataclass
class RecordingLookup:
    """Answers from a table, optionally slowly or with an error; records every indicator it was asked about."""

    name: str = "recording"
    answers: dict[str, Verdict] = field(default_factory=dict)
    delay: float = 0.0
    fail: bool = False
    external: bool = True
    kinds: frozenset[ObservableKind] = frozenset(ObservableKind)
    credential_id: str = "test"
    asked: list[str] = field(default_factory=list)

    async def check(self) -> str:
        return "ok"

    async def lookup(self, observable: Observable) -> Verdict:
        self.asked.append(observable.value)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectorUnavailable(f"{self.name}: HTTP 503")
        return self.answers.get(observable.value) or Verdict(self.name, VerdictLevel.UNKNOWN, summary="no data")
