"""Scheduled jobs (the only importer of APScheduler): the daily digest to ``chat.slack.digest_channel``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

logger = logging.getLogger(__name__)


class Scheduler:
    """Runs coroutine jobs on cron schedules in the event loop; a failing job is logged and runs again next time."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def daily(self, at: str, job: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run ``job`` every day at ``at`` (``HH:MM``, UTC)."""
        hour, _, minute = at.partition(":")
        self._scheduler.add_job(
            self._guarded,
            CronTrigger(hour=int(hour), minute=int(minute or 0), timezone="UTC"),
            args=(job, name),
            id=name,
            name=name,
            coalesce=True,
            misfire_grace_time=3600,
        )

    @staticmethod
    async def _guarded(job: Callable[[], Awaitable[None]], name: str) -> None:
        try:
            await job()
        except Exception:  # noqa: BLE001 - one failed run must not unschedule the job
            logger.exception("Scheduled job %s failed", name)

    def start(self) -> None:
        """Start firing jobs (needs a running event loop)."""
        self._scheduler.start()

    def stop(self) -> None:
        """Stop firing jobs."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
