"""The engine's timers: one loop that expires, reminds and escalates approvals and undoes actions whose TTL ran out.

Timers are rows with a due time (approval ``expires_at``/``remind_at``, action ``revert_at``), so they survive
restarts; the loop only reads what is due. Each tick's work is a compare-and-set, so a tick racing a click
cannot act twice.
"""

from __future__ import annotations

import asyncio
import logging

from bot.core.models import format_time
from bot.store import approvals as approvals_store
from playbooks.engine.actions import ActionService
from playbooks.engine.approval_service import ApprovalService
from playbooks.engine.context import Services

logger = logging.getLogger(__name__)


class Timers:
    """The tick loop over due approvals and due reverts."""

    def __init__(
        self, services: Services, approvals: ApprovalService, actions: ActionService, *, every: float = 1.0
    ) -> None:
        self.services = services
        self.approvals = approvals
        self.actions = actions
        self._every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="playbook-timers")

    async def aclose(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def tick(self) -> None:
        """Expire, remind and escalate approvals; undo actions whose TTL ran out."""
        moment = self.services.clock()
        now = format_time(moment)
        for row in await approvals_store.due(self.services.db.reader, now):
            if row.expires_at <= moment:
                await self.approvals.expire(row, now)
            else:
                await self.approvals.remind(row, moment)
        await self.actions.revert_due(now)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the timer loop must survive a bad tick
                logger.exception("Playbook timer tick failed")
            await asyncio.sleep(self._every)
