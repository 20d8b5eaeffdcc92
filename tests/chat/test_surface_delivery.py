"""Review tests of the event feed, the chat surface and the outbox: lost cards, ordering, isolation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cases import CaseService
from bot.chat.memory import MemoryChat
from bot.chat.outbox import MAX_ATTEMPTS, Outbox
from bot.chat.surface import ChatSurface, open_surface
from bot.core.errors import ChatDeliveryError, StoreUnavailable
from bot.core.events import Notified
from bot.core.models import Decision, Severity
from bot.core.ports import Card
from bot.feed import EventFeed, FeedEvent
from bot.incidents import IncidentService
from bot.store import feed as feed_store
from bot.store.db import Database
from tests.chat.test_outbox import Recorder
from tests.factories import make_alert
from tests.playbooks.conftest import build, only

LOADING = "Loading the case…"


async def shown(feed: EventFeed, surface: ChatSurface, chat: MemoryChat) -> MemoryChat:
    assert await feed.settled()
    for _ in range(50):
        await surface.outbox.deliver_due()
        if not await surface.outbox.pending():
            break
    return chat


async def test_a_reply_on_a_case_older_than_the_surface_threads_under_the_real_case_card(
    db: Database, cases: CaseService
) -> None:
    """Bug: a surface that starts at the head (a platform added to a running deployment) creates the case card as a
    'Loading the case…' placeholder when the first thread reply of an existing case arrives, and nothing rewrites
    it until some later card event happens (maybe never): the thread's root stays a placeholder."""
    [outcome] = await cases.ingest([make_alert()])
    assert outcome.case_id is not None
    chat = MemoryChat(platform="other", alerts_channel="C-OTHER")
    feed = EventFeed(db)
    surface = open_surface(chat, db=db, feed=feed, cases=cases, incidents=IncidentService(db, cases), per_second=1000)
    await feed.start()  # no cursor yet: starts at the head, the case's history is not replayed
    try:
        await cases.record(outcome.case_id, Notified(to="case", title="Heads up", text="look at this"), "soarbot")
        await shown(feed, surface, chat)
        [reply] = chat.titled("Heads up")
        assert reply.thread is not None
        root = chat.messages[reply.thread]
        assert root.card.text != LOADING, "the thread's root is still the placeholder"
    finally:
        await feed.aclose()


async def test_a_case_card_that_failed_during_an_outage_is_posted_on_the_next_change(tmp_path: Path) -> None:
    """Bug: when a case card's post exhausts its retries (an outage of a couple of minutes), show_tx/enqueue_update_tx
    keep finding the failed post and queue *updates* of it, which fail at once ("the message it belongs to could not
    be sent"), each appending a chat_delivery_failed event: the case never gets a card on that platform again, and
    every thread reply (approvals included) fails with it."""
    env = await build(tmp_path, playbooks=[])
    try:
        env.chat.down = True
        [outcome] = await env.cases.ingest([make_alert()], now=env.clock())
        assert outcome.case_id is not None
        assert await env.feed.settled()
        for _ in range(MAX_ATTEMPTS + 1):
            await env.surface.outbox.deliver_due()
            env.clock.advance(timedelta(minutes=2))
        assert await env.surface.outbox.pending() == 0  # given up
        env.chat.down = False
        await env.cases.update(outcome.case_id, actor="U001", severity=Severity.CRITICAL)
        await env.cases.record(outcome.case_id, Notified(to="case", title="Heads up", text="look"), "soarbot")
        chat = await env.shown()
        assert chat.titled("Heads up"), "the thread reply was never sent"
        assert [m for m in chat.in_channel("C-ALERTS") if m.thread is None], "the case card was never posted"
    finally:
        await env.aclose()


async def test_a_backlog_in_one_channel_does_not_starve_another(db: Database) -> None:
    """Bug: store.outbox.due() returns the platform's 100 oldest due rows; when one channel has more than 100 rows
    waiting on its pace, a row for another channel is not in the list and waits for the backlog to drain below 100
    (minutes at one message a second), although sending is meant to be paced per channel, not across channels."""
    transport = Recorder()
    outbox = Outbox(db, transport, per_second=2)
    for n in range(150):
        await outbox.post("C-BUSY", Card(title=f"busy {n}"))
    await outbox.post("C-INCIDENT", Card(title="incident summary"))
    deadline = asyncio.get_running_loop().time() + 2.0
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(min(await outbox.deliver_due(), 0.1))
        if any(s[1] == "C-INCIDENT" for s in transport.sent):
            break
    assert any(s[1] == "C-INCIDENT" for s in transport.sent), "the other channel's row never went out"


class Flaky:
    """A subscriber whose handle fails for a while (a transient fault: a locked read, a restarting dependency)."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[int] = []

    async def handle(self, events: Sequence[FeedEvent]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("transient")
        self.seen += [e.position for e in events]

    def committed(self) -> None:
        pass


async def test_a_poison_event_is_skipped_and_the_rest_of_its_batch_delivered(db: Database, cases: CaseService) -> None:
    """Pins: a batch that fails is split, the failing event is retried alone and skipped, the others go through and
    the stored cursor passes all of them (settled() then holds)."""
    feed = EventFeed(db)
    flaky = Flaky(failures=1)  # the whole batch fails once; split, each event then goes through
    feed.subscribe(flaky)
    await feed.start()
    try:
        await cases.ingest([make_alert("a-1", host="h1"), make_alert("a-2", host="h2", ip="203.0.113.9")])
        assert await feed.settled(seconds=10)
        head = await feed_store.head(db.reader)
        assert flaky.seen and flaky.seen[-1] == head
        assert await feed_store.cursor(db.reader, "flaky") == head
    finally:
        await feed.aclose()


async def test_a_transient_handle_failure_does_not_lose_the_event(db: Database, cases: CaseService) -> None:
    """Bug (policy): EventFeed._deliver cannot tell a poison event from a transient fault: three failed attempts in
    1.5 s (0.5 s + 1 s back-off) move the cursor past the event for ever, so a short outage of anything handle reads
    (the database reader, a read model) silently drops cards; when handle fails on every attempt the subscriber
    skips the whole feed, event by event, instead of stalling."""
    feed = EventFeed(db)
    flaky = Flaky(failures=4)  # the batch once, then its first event three times alone
    feed.subscribe(flaky)
    await feed.start()
    try:
        await cases.ingest([make_alert()])
        head = await feed_store.head(db.reader)
        assert await feed.settled(seconds=10)
        assert sorted(flaky.seen) == list(range(1, head + 1)), "an event was skipped after a 1.5 s transient failure"
    finally:
        await feed.aclose()


class BrokenWrites:
    """The feed's view of the store while writes fail (disk full, a locked file) and reads still work."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.broken = False

    @property
    def reader(self):  # type: ignore[no-untyped-def]
        return self._db.reader

    def on_commit(self, listener):  # type: ignore[no-untyped-def]
        self._db.on_commit(listener)

    async def write(self, job):  # type: ignore[no-untyped-def]
        if self.broken:
            raise StoreUnavailable("the database cannot be written right now")
        return await self._db.write(job)


async def test_a_write_failure_while_skipping_an_event_does_not_end_the_subscription(
    db: Database, cases: CaseService
) -> None:
    """Bug: EventFeed._deliver commits the cursor past a failed event outside any try (bot/feed.py, the skip path).
    When the store cannot be written for a couple of seconds, every attempt fails, then the skip's own commit raises
    StoreUnavailable out of _follow and the subscriber's task ends for good: that platform gets no card again until
    the process restarts, and settled() never holds (a read failure, by contrast, is survived)."""
    store = BrokenWrites(db)
    feed = EventFeed(store)  # type: ignore[arg-type]
    flaky = Flaky(failures=0)
    feed.subscribe(flaky)
    await feed.start()
    try:
        store.broken = True
        await cases.ingest([make_alert("a-1")])
        await asyncio.sleep(2.5)  # the attempts and the skip have run into the broken store
        store.broken = False
        await cases.ingest([make_alert("a-2", host="other-host", ip="198.51.100.7")])
        assert await feed.settled(seconds=5), "the subscriber stopped following the feed"
    finally:
        await feed.aclose()


async def test_a_rate_limit_on_one_platform_holds_only_that_platform(db: Database) -> None:
    """Pins: two platforms share the table and even a channel name; one answering Retry-After holds its own rows
    only, and each sender sends only its own platform's rows."""
    first, second = Recorder(platform="one"), Recorder(platform="two")
    first.errors = [ChatDeliveryError("ratelimited", retry_after=30)]
    one, two = Outbox(db, first, per_second=50), Outbox(db, second, per_second=50)
    await one.post("C-SHARED", Card(title="for one"))
    await two.post("C-SHARED", Card(title="for two"))
    await one.deliver_due()
    await two.deliver_due()
    await one.deliver_due()
    assert [s[2] for s in second.sent] == ["for two"]
    assert first.sent == []  # still held by its own Retry-After
    assert await one.pending() == 1 and await two.pending() == 0


async def test_an_approval_decided_before_its_card_was_sent_shows_once_with_the_decision(tmp_path: Path) -> None:
    """Pins: while the platform is down the approval is requested and decided; when it is back there is one card,
    in the case card's thread, showing the decision and no buttons."""
    env = await build(tmp_path, playbooks=only("malicious-ip"))
    try:
        env.chat.down = True
        await env.alert()
        [approval] = await env.pending()
        await env.engine.vote(approval.id, "U001", Decision.APPROVE)
        assert await env.feed.settled()
        env.chat.down = False
        env.clock.advance(timedelta(minutes=5))  # past the back-off of the failed attempts
        chat = await env.shown()
        cards = [m for m in chat.posted if m.card.title.startswith("Block ")]
        assert len(cards) == 1
        [card] = cards
        assert card.card.buttons == () and "Approved by U001" in card.card.footer
        root = chat.messages[card.thread or ""]
        assert root.thread is None and root.card.text != LOADING
    finally:
        await env.aclose()


class Poisoned:
    """A subscriber that can never handle one event (a bug), and handles every other one."""

    name = "poisoned"

    def __init__(self, bad: int) -> None:
        self.bad = bad
        self.seen: list[int] = []

    async def handle(self, events: Sequence[FeedEvent]) -> None:
        if any(e.position == self.bad for e in events):
            raise RuntimeError("cannot present this one")
        self.seen += [e.position for e in events]

    def committed(self) -> None:
        pass


async def test_an_event_that_always_fails_is_skipped_after_its_attempts_and_the_rest_delivered(
    db: Database, cases: CaseService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.feed

    monkeypatch.setattr(bot.feed, "ATTEMPTS", 3)
    monkeypatch.setattr(bot.feed, "POISON_PAUSE_MAX", 0.01)
    await cases.ingest([make_alert("a-0", host="h0")])
    bad = await feed_store.head(db.reader) + 1  # the first event of the next delivery
    feed = EventFeed(db)
    poisoned = Poisoned(bad)
    feed.subscribe(poisoned)
    await feed.start()
    try:
        await cases.ingest([make_alert("a-1", host="h1"), make_alert("a-2", host="h2", ip="203.0.113.9")])
        head = await feed_store.head(db.reader)
        assert await feed.settled(seconds=10)
        assert bad not in poisoned.seen
        assert sorted(poisoned.seen) == [p for p in range(bad + 1, head + 1)]
        assert await feed_store.cursor(db.reader, "poisoned") == head
    finally:
        await feed.aclose()
