"""A playbook engine over a real store, case service and enrichment, with recording chat and responders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cases import CaseService, IngestOutcome
from bot.chat.memory import MemoryChat
from bot.chat.surface import ChatSurface, open_surface
from bot.core.models import Alert, Observable, ObservableKind, Severity
from bot.core.ports import ContainmentKind, Verdict, VerdictLevel
from bot.enrichment import EnrichmentService
from bot.feed import EventFeed
from bot.incidents import IncidentService
from bot.store import approvals as approvals_store
from bot.store.approvals import ApprovalRow
from bot.store.db import Database
from playbooks.engine.approvals import Access, Guardrails
from playbooks.engine.loader import LoadedPlaybook, load_all, load_text
from playbooks.engine.registry import ActionRegistry, StepRegistry
from playbooks.engine.runner import Engine
from tests.factories import make_alert
from tests.fakes.intel import RecordingLookup
from tests.fakes.responders import RecordingContainment, Responders

BAD_IP = "203.0.113.66"
ALERTS_CHANNEL = "C-ALERTS"
RESPONDERS = [f"U{n:03d}" for n in range(60)]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Env:
    db: Database
    cases: CaseService
    engine: Engine
    chat: MemoryChat
    responders: Responders
    intel: RecordingLookup
    clock: Clock
    path: Path
    feed: EventFeed
    surface: ChatSurface

    async def shown(self) -> MemoryChat:
        """Let the chat surface present every committed event and deliver it; return what the surface shows."""
        assert await self.feed.settled()
        deadline = asyncio.get_running_loop().time() + 10
        while await self.surface.outbox.pending():  # passes: roots before replies, edits a second apart
            assert asyncio.get_running_loop().time() < deadline, "the surface did not deliver everything"
            await asyncio.sleep(min(await self.surface.outbox.deliver_due(), 0.2))
        return self.chat

    async def aclose(self) -> None:
        await self.engine.aclose()
        await self.feed.aclose()
        await self.db.close()

    @property
    def firewall(self) -> RecordingContainment:
        return self.responders.recorder(ContainmentKind.FIREWALL)

    async def alert(self, alert: Alert | None = None) -> IngestOutcome:
        alert = alert or malicious_ip_alert()
        [outcome] = await self.cases.ingest([alert], now=self.clock())
        await self.engine.trigger(alert, outcome)
        return outcome

    async def pending(self) -> list[ApprovalRow]:
        return await approvals_store.pending(self.db.reader)

    async def timeline_types(self, case_id: int) -> list[str]:
        return [e.type for e in await self.cases.timeline(case_id)]

    async def events(self, case_id: int, type_: str) -> list[dict[str, Any]]:
        """The data of every ``type_`` event on the case timeline (what chat renders its cards from)."""
        return [dict(e.data) for e in await self.cases.timeline(case_id) if e.type == type_]


def malicious_ip_alert(external_id: str = "a-1", ip: str = BAD_IP, **kwargs: Any) -> Alert:
    return make_alert(external_id, ip=ip, severity=Severity.HIGH, **kwargs)


def only(*names: str) -> list[LoadedPlaybook]:
    return [p for p in load_all() if p.playbook.name in names]


def playbook(text: str) -> list[LoadedPlaybook]:
    return [LoadedPlaybook(load_text(text, "test.yaml"), "test.yaml")]


EngineFactory = Callable[..., Engine]


async def build(
    path: Path,
    *,
    playbooks: list[LoadedPlaybook] | None = None,
    roles: dict[str, list[str]] | None = None,
    guardrails: Guardrails | None = None,
    clock: Clock | None = None,
    responders: Responders | None = None,
    intel: RecordingLookup | None = None,
    actions: ActionRegistry | None = None,
    steps: StepRegistry | None = None,
) -> Env:
    db = Database(path / "soarbot.db")
    await db.open()
    cases = CaseService(db)
    clock = clock or Clock()
    intel = intel or RecordingLookup(
        "intel", answers={BAD_IP: Verdict("intel", VerdictLevel.MALICIOUS, 95, summary="known C2")}
    )
    chat = MemoryChat(alerts_channel=ALERTS_CHANNEL)
    feed = EventFeed(db, clock=clock)
    surface = open_surface(
        chat, db=db, feed=feed, cases=cases, incidents=IncidentService(db, cases), per_second=1000, clock=clock
    )
    responders = responders or Responders()
    engine = Engine(
        db=db,
        cases=cases,
        enrichment=EnrichmentService([intel], db),
        responders=responders,
        playbooks=playbooks if playbooks is not None else only("malicious-ip"),
        access=Access(roles if roles is not None else {"responder": RESPONDERS, "lead": ["L001"]}),
        guardrails=guardrails,
        tick_every=3600,
        clock=clock,
        actions=actions,
        steps=steps,
    )
    await feed.start()
    await engine.start()
    return Env(db, cases, engine, chat, responders, intel, clock, path, feed, surface)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    built = await build(tmp_path)
    yield built
    await built.aclose()


def ip(value: str) -> Observable:
    return Observable(ObservableKind.IP, value)
