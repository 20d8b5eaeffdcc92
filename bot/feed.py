"""The event feed: the one way out of the core.

Every change to a case is a timeline event committed in the same transaction as the change itself, and every
timeline event has a global position in commit order (``bot/store/migrations/0006_event_feed.sql``). Surfaces
(each chat platform's presenter, later digests and metrics) are *subscribers*: each tails the feed from its own
stored cursor, so a subscriber that was down, slow or killed resumes exactly where it stopped.

Delivery is at least once, and exactly once for what a subscriber writes to the database: ``handle`` returns a
write job, and the job and the cursor move commit together. A crash before that commit replays the batch; a crash
after it never does. Side effects outside the database (a chat API call) must be idempotent on their own (the
outbox keys every message).

The wake-up is in-process (the store calls :meth:`EventFeed.wake` after each commit); there is no second log.
A subscriber that sees no cursor starts at the current head: adding a chat platform to a running deployment does
not replay its history into that platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from functools import partial
from typing import Protocol

from bot.core.errors import StoreUnavailable
from bot.core.models import format_time, utcnow
from bot.core.tasks import TaskSupervisor
from bot.store import feed as store
from bot.store.feed import FeedEvent
from bot.store.tx import Tx, UnitOfWork

logger = logging.getLogger(__name__)

__all__ = ["EventFeed", "FeedEvent", "Subscriber"]

WriteJob = Callable[[Tx], None]
# A batch that keeps failing is split; an event that fails this often alone (about two minutes of pauses) is
# skipped, loudly. The store being unavailable never counts: that waits as long as it takes.
ATTEMPTS = 10
POISON_PAUSE_MAX = 30.0
TRANSIENT_PAUSE_MAX = 2.0


class _Outcome(Enum):
    DONE = "done"
    UNAVAILABLE = "unavailable"  # the store could not be read or written: try the same batch again
    FAILED = "failed"


class Subscriber(Protocol):
    """A consumer of the feed. ``name`` keys its stored cursor, so it must stay the same across restarts."""

    name: str

    async def handle(self, events: Sequence[FeedEvent]) -> WriteJob | None:
        """Look at a batch of events (in order); return the database work to commit with the cursor, if any.

        Must be idempotent: after a crash the same batch may be handled again.
        """
        ...

    def committed(self) -> None:
        """The work of the last ``handle`` is committed (e.g. wake the sender that reads it)."""
        ...


class EventFeed:
    """Runs every subscriber on its own task, each from its own cursor."""

    def __init__(
        self, db: UnitOfWork, *, batch: int = 500, idle_poll: float = 5.0, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = db
        self._batch = batch
        self._idle_poll = idle_poll  # a safety net only: commits wake the subscribers at once
        self._clock = clock
        self._subscribers: dict[str, Subscriber] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._positions: dict[str, int] = {}
        self._tasks = TaskSupervisor()
        db.on_commit(self.wake)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a subscriber (before :meth:`start`)."""
        if subscriber.name in self._subscribers:
            raise ValueError(f"a feed subscriber named {subscriber.name!r} exists already")
        self._subscribers[subscriber.name] = subscriber
        self._wakes[subscriber.name] = asyncio.Event()

    @property
    def subscribers(self) -> list[str]:
        """The subscribers' names."""
        return list(self._subscribers)

    async def start(self) -> None:
        """Load each cursor (a new subscriber starts at the head) and start following."""
        for name, subscriber in self._subscribers.items():
            position = await store.cursor(self._db.reader, name)
            if position is None:
                position = await store.head(self._db.reader)
                now = format_time(self._clock())
                await self._db.write(partial(store.set_cursor_tx, subscriber=name, position=position, now=now))
            self._positions[name] = position
            self._tasks.spawn(self._follow(subscriber, position), name=f"feed-{name}")

    async def aclose(self) -> None:
        """Stop following (cursors are stored; the next start resumes from them)."""
        await self._tasks.aclose()

    def wake(self) -> None:
        """Something was committed: let every subscriber look."""
        for event in self._wakes.values():
            event.set()

    def position(self, name: str) -> int | None:
        """How far ``name`` has handled the feed (None before :meth:`start`)."""
        return self._positions.get(name)

    async def settled(self, *, seconds: float = 10.0, names: Sequence[str] | None = None) -> bool:
        """Wait until the subscribers (or ``names``) have handled everything committed so far; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        target = await store.head(self._db.reader)
        wanted = list(names) if names is not None else list(self._subscribers)
        # Polling is fine: this is for tests, shutdown and archiving a channel, never the hot path.
        while any(self._positions.get(n, 0) < target for n in wanted):
            if loop.time() >= deadline:
                return False
            self.wake()
            await asyncio.sleep(0.02)
        return True

    async def _follow(self, subscriber: Subscriber, position: int) -> None:
        wake = self._wakes[subscriber.name]
        while True:
            wake.clear()
            try:
                events = await store.events_after(self._db.reader, position, limit=self._batch)
            except Exception:  # noqa: BLE001 - a read hiccup must not end the subscription
                logger.exception("Feed subscriber %s could not read the feed", subscriber.name)
                events = []
            if not events:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=self._idle_poll)
                continue
            position = await self._deliver(subscriber, events)
            self._positions[subscriber.name] = position

    async def _deliver(self, subscriber: Subscriber, events: Sequence[FeedEvent]) -> int:
        """Hand ``events`` over and commit the cursor with the subscriber's work; return the new position.

        The store being unavailable is a passing fault: the same batch is tried again, with a growing pause, for
        as long as it takes; nothing is skipped. Any other failure may be one bad event: the batch is split to find
        it, and only an event that keeps failing for minutes is skipped, with an error in the log.
        """
        failures = 0
        while True:
            outcome = await self._attempt(subscriber, events)
            if outcome is _Outcome.DONE:
                return events[-1].position
            if outcome is _Outcome.UNAVAILABLE:
                await asyncio.sleep(min(TRANSIENT_PAUSE_MAX, 0.5 * 2**failures))
                failures += 1
                continue
            if len(events) > 1:  # find the one that fails; the others go through
                for event in events:
                    await self._deliver(subscriber, [event])
                return events[-1].position
            failures += 1
            if failures >= ATTEMPTS:
                break
            await asyncio.sleep(min(POISON_PAUSE_MAX, 0.5 * 2 ** (failures - 1)))
        event = events[0]
        logger.error(
            "Feed subscriber %s skipped event %s (case %s, %s) after %d failures",
            subscriber.name,
            event.position,
            event.event.case_id,
            event.event.type,
            ATTEMPTS,
        )
        while True:  # the skip itself must commit, or the subscriber would stop here
            try:
                await self._commit(subscriber.name, None, event.position)
            except StoreUnavailable:
                await asyncio.sleep(TRANSIENT_PAUSE_MAX)
                continue
            return event.position

    async def _attempt(self, subscriber: Subscriber, events: Sequence[FeedEvent]) -> _Outcome:
        try:
            job = await subscriber.handle(events)
            await self._commit(subscriber.name, job, events[-1].position)
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as err:
            logger.warning("Feed subscriber %s waits for the store: %s", subscriber.name, err)
            return _Outcome.UNAVAILABLE
        except Exception:  # noqa: BLE001 - one bad batch must not end the subscription
            logger.exception("Feed subscriber %s failed on events up to %s", subscriber.name, events[-1].position)
            return _Outcome.FAILED
        if job is not None:
            subscriber.committed()
        return _Outcome.DONE

    async def _commit(self, name: str, job: WriteJob | None, position: int) -> None:
        now = format_time(self._clock())

        def commit(conn: Tx) -> None:
            if job is not None:
                job(conn)
            store.set_cursor_tx(conn, name, position, now)

        await self._db.write(commit)
