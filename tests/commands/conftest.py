"""A CommandRouter over the real store, case service, enrichment and engine, with MemoryChat as chat and channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.chat.memory import MemoryChat
from bot.core.models import TimelineEvent
from bot.core.ports import CommandInvoked, Reply
from bot.intake.ioc import classify
from bot.store import approvals as approvals_store
from commands import CommandRouter, Services
from playbooks.engine.approvals import Access
from tests.factories import make_alert
from tests.playbooks.conftest import ALERTS_CHANNEL, Env, build, malicious_ip_alert

ROLES = {"responder": ["R1", "R2"], "lead": ["L1"], "viewer": ["V1"]}
ON_CALL = ["R2", "L1"]
ALERTS = ALERTS_CHANNEL
BOT = "UBOT"


@dataclass
class Soar:
    env: Env
    router: CommandRouter
    threads: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def chat(self) -> MemoryChat:
        return self.env.chat

    async def run(self, user: str, text: str, channel: str = ALERTS) -> Reply:
        reply = await self.router.dispatch(CommandInvoked("slack", user, text, channel))
        assert reply is not None
        return reply

    async def case(self, external_id: str = "a-1", **kwargs: Any) -> int:
        """A case from an ordinary alert (no playbook fires for it)."""
        [outcome] = await self.env.cases.ingest([make_alert(external_id, **kwargs)], now=self.env.clock())
        assert outcome.case_id is not None
        return outcome.case_id

    async def malicious_case(self) -> int:
        """A case whose playbook waits for a responder to approve blocking BAD_IP."""
        outcome = await self.env.alert(malicious_ip_alert())
        assert outcome.case_id is not None
        return outcome.case_id

    async def shown(self) -> MemoryChat:
        """What the chat surface shows once every committed event is presented and delivered."""
        return await self.env.shown()

    async def timeline(self, case_id: int) -> list[TimelineEvent]:
        return await self.env.cases.timeline(case_id)

    async def types(self, case_id: int) -> list[str]:
        return [e.type for e in await self.timeline(case_id)]

    async def verified(self, case_id: int) -> None:
        assert await self.env.cases.verify(case_id) is None

    async def pending(self) -> list[approvals_store.ApprovalRow]:
        return await approvals_store.pending(self.env.db.reader)


def make_router(env: Env, **overrides: object) -> CommandRouter:
    fields: dict[str, object] = {
        "cases": env.cases,
        "enrichment": env.engine.enrichment,
        "engine": env.engine,
        "access": Access(ROLES),
        "chat": env.surface.outbox,
        "channels": env.chat,
        "db": env.db,
        "classify": classify,
        "incident_responders": list(ON_CALL),
        "archive_on_resolve": True,
        "bot_user": lambda: BOT,
        "clock": env.clock,
    }
    fields.update(overrides)
    return CommandRouter(Services(**fields))  # type: ignore[arg-type]


@pytest.fixture
async def soar(tmp_path: Path) -> AsyncIterator[Soar]:
    env = await build(tmp_path, roles=ROLES)
    built = Soar(env, make_router(env))

    async def case_for_thread(platform: str, channel: str, thread_ts: str) -> int | None:
        return built.threads.get((channel, thread_ts))

    built.router.services.case_for_thread = case_for_thread
    yield built
    await env.aclose()
