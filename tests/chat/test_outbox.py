"""The outbox: durable, coalescing, paced per channel, honours Retry-After, and never silently drops a card."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.chat.outbox import Outbox, card_to_dict, case_card_key
from bot.core.errors import ChatDeliveryError
from bot.core.models import format_time, utcnow
from bot.core.ports import Card, MessageRef
from bot.store import outbox as store
from bot.store.db import Database
from tests.factories import make_alert

NOW = "2026-01-01T00:00:00.000000Z"


@dataclass
class Recorder:
    """A Transport that records what it was asked to send, with optional scripted errors."""

    platform: str = "test"
    alerts_channel: str = "C-ALERTS"
    sent: list[tuple[str, str, str, str | None, float]] = field(default_factory=list)
    errors: list[ChatDeliveryError] = field(default_factory=list)
    pinned: list[tuple[str, str]] = field(default_factory=list)
    _ts: int = 0

    async def send(self, channel: str, card: Card, *, thread: str | None) -> str:
        self._fail()
        self._ts += 1
        ts = f"1700000000.{self._ts:06d}"
        self.sent.append(("post", channel, card.title, thread, time.monotonic()))
        return ts

    async def edit(self, channel: str, ts: str, card: Card) -> None:
        self._fail()
        self.sent.append(("update", channel, card.title, ts, time.monotonic()))

    async def send_private(self, channel: str, user: str, card: Card) -> None:
        self._fail()
        self.sent.append(("ephemeral", channel, card.text, user, time.monotonic()))

    async def pin(self, channel: str, message_id: str) -> None:
        self._fail()
        self.pinned.append((channel, message_id))

    def _fail(self) -> None:
        if self.errors:
            raise self.errors.pop(0)


async def drain(outbox: Outbox, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(await outbox.deliver_due())
        async with outbox._db.reader.execute("SELECT count(*) FROM outbox WHERE status = 'pending'") as cursor:
            if (await cursor.fetchone())[0] == 0:  # type: ignore[index]
                return
    raise AssertionError("outbox did not drain")


async def show_case(outbox: Outbox, case_id: int, card: Card) -> MessageRef:
    """Queue a case card as a chat surface does: posted once under its key, updated in place ever after."""

    def job(conn: Any) -> int:
        return store.show_tx(
            conn,
            platform=outbox.platform,
            channel="C-ALERTS",
            dedup_key=case_card_key(case_id),
            payload=card_to_dict(card),
            now=format_time(utcnow()),
            case_id=case_id,
        )

    row_id = await outbox._db.write(job)
    outbox.wake()
    return MessageRef(outbox.platform, "C-ALERTS", f"o:{row_id}")


@pytest.fixture
def transport() -> Recorder:
    return Recorder()


async def test_storm_of_updates_coalesces_into_a_few_calls(db: Database, transport: Recorder) -> None:
    outbox = Outbox(db, transport, per_second=20)
    for n in range(500):
        await show_case(outbox, 1, Card(title=f"case 1: {n + 1} alerts"))
    await drain(outbox)
    titles = [s[2] for s in transport.sent]
    assert len(transport.sent) <= 3
    assert titles[-1] == "case 1: 500 alerts"


async def test_paced_per_channel_but_not_across_channels(db: Database, transport: Recorder) -> None:
    outbox = Outbox(db, transport, per_second=5)
    for n in range(4):
        await outbox.post("C-ONE", Card(title=f"one {n}"))
        await outbox.post("C-TWO", Card(title=f"two {n}"))
    await drain(outbox)
    for channel in ("C-ONE", "C-TWO"):
        times = [s[4] for s in transport.sent if s[1] == channel]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 0.19  # at most 5 a second in one channel
    assert [s[2] for s in transport.sent if s[1] == "C-ONE"] == [f"one {n}" for n in range(4)]  # in order


async def test_rate_limit_holds_the_channel_and_loses_nothing(db: Database, transport: Recorder) -> None:
    transport.errors = [ChatDeliveryError("ratelimited", retry_after=1)]
    outbox = Outbox(db, transport, per_second=50)
    started = time.monotonic()
    for n in range(3):
        await outbox.post("C-ONE", Card(title=f"m{n}"))
    await drain(outbox)
    assert [s[2] for s in transport.sent] == ["m0", "m1", "m2"]
    assert transport.sent[0][4] - started >= 0.9  # waited out Retry-After


async def test_update_of_an_unsent_message_rewrites_it(db: Database, transport: Recorder) -> None:
    outbox = Outbox(db, transport)
    ref = await outbox.post("C-ONE", Card(title="first"))
    await outbox.update(ref, Card(title="second"))
    await drain(outbox)
    assert [(s[0], s[2]) for s in transport.sent] == [("post", "second")]


async def test_thread_replies_wait_for_their_case_card(db: Database, transport: Recorder) -> None:
    outbox = Outbox(db, transport, per_second=50)
    root = await show_case(outbox, 7, Card(title="Case 7: SSH brute force"))

    def reply_job(conn: Any) -> int:
        parent = store.find_tx(conn, "test", "case:7:card")
        payload = {"title": "approve?"}
        return store.enqueue_post_tx(conn, platform="test", channel="C-ALERTS", payload=payload, now=NOW, parent=parent)

    reply_id = await db.write(reply_job)
    transport.errors = [ChatDeliveryError("internal_error")]  # the root's first send fails: the reply must wait
    await drain(outbox)
    (root_op, _, root_title, _, _), (reply_op, _, reply_title, thread_ts, _) = transport.sent
    assert (root_op, root_title) == ("post", "Case 7: SSH brute force")
    assert (reply_op, reply_title, thread_ts) == ("post", "approve?", await outbox.resolve(root))
    assert await outbox.resolve(MessageRef("test", "C-ALERTS", f"o:{reply_id}")) == "1700000000.000002"


async def test_a_transient_failure_is_retried(db: Database, transport: Recorder) -> None:
    transport.errors = [ChatDeliveryError("internal_error")]
    outbox = Outbox(db, transport)
    await outbox.post("C-NEW", Card(title="hello"))
    await drain(outbox)
    assert [s[2] for s in transport.sent] == ["hello"]


async def test_permanent_failure_is_recorded_on_the_case(db: Database, transport: Recorder) -> None:
    from bot.cases import CaseService

    cases = CaseService(db)
    [outcome] = await cases.ingest([make_alert()])
    transport.errors = [ChatDeliveryError("channel_not_found", permanent=True)]
    outbox = Outbox(db, transport)
    await outbox.post("C-GONE", Card(title="lost?"), case_id=outcome.case_id)
    await drain(outbox)
    assert transport.sent == []
    [event] = [e for e in await cases.timeline(outcome.case_id or 0) if e.type == "chat_delivery_failed"]
    assert event.data["error"] == "channel_not_found"


async def test_queued_messages_survive_a_restart(tmp_path: Path, transport: Recorder) -> None:
    first = Database(tmp_path / "db.sqlite")
    await first.open()
    await Outbox(first, transport).post("C-ONE", Card(title="queued before the crash"))
    await first.close()  # never delivered
    second = Database(tmp_path / "db.sqlite")
    await second.open()
    outbox = Outbox(second, transport)
    await drain(outbox)
    await second.close()
    assert [s[2] for s in transport.sent] == ["queued before the crash"]


async def test_logical_refs_resolve_once_sent(db: Database, transport: Recorder) -> None:
    outbox = Outbox(db, transport)
    ref = await outbox.post("C-ONE", Card(title="x"))
    assert ref.id.startswith("o:") and await outbox.resolve(ref) is None
    await drain(outbox)
    assert await outbox.resolve(ref) == "1700000000.000001"
    assert await outbox.resolve(MessageRef("test", "C", "123.456")) == "123.456"


async def test_drained_waits_for_a_channels_queue(db: Database, transport: Recorder) -> None:
    outbox = Outbox(db, transport, per_second=50)
    await outbox.post("C-ONE", Card(title="final summary"))
    sender = asyncio.create_task(outbox.run())
    try:
        assert await outbox.drained("C-ONE", seconds=5)
        assert [s[2] for s in transport.sent] == ["final summary"]
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


async def test_an_update_queued_during_the_send_is_not_lost(db: Database, transport: Recorder) -> None:
    outbox = Outbox(db, transport, per_second=50)
    ref = await show_case(outbox, 1, Card(title="Case 1 v1 (1 alert)"))
    original_send = transport.send

    async def slow_send(channel: str, card: Card, *, thread: str | None) -> str:
        await show_case(outbox, 1, Card(title="Case 1 v2 (2 alerts)"))  # arrives while v1 is on the wire
        return await original_send(channel, card, thread=thread)

    transport.send = slow_send  # type: ignore[method-assign]
    await drain(outbox)
    assert [(s[0], s[2]) for s in transport.sent] == [
        ("post", "Case 1 v1 (1 alert)"),
        ("update", "Case 1 v2 (2 alerts)"),
    ]
    assert await outbox.resolve(ref) is not None


async def test_the_sender_survives_a_transport_that_raises(db: Database, transport: Recorder) -> None:
    real_send = transport.send

    async def broken_once(channel: str, card: Card, *, thread: str | None) -> str:
        if channel == "C-ONE":
            raise OSError("connection reset")
        return await real_send(channel, card, thread=thread)

    transport.send = broken_once  # type: ignore[method-assign]
    outbox = Outbox(db, transport, per_second=50)
    sender = asyncio.create_task(outbox.run())
    try:
        await outbox.post("C-ONE", Card(title="first"))
        await asyncio.sleep(0.3)
        assert not sender.done()
        await outbox.post("C-TWO", Card(title="later card"))
        for _ in range(100):
            if any(s[2] == "later card" for s in transport.sent):
                break
            await asyncio.sleep(0.05)
        assert any(s[2] == "later card" for s in transport.sent)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


async def test_a_paced_channel_does_not_make_the_sender_spin(db: Database, transport: Recorder) -> None:
    outbox = Outbox(db, transport, per_second=2)
    for n in range(3):
        await outbox.post("C-ONE", Card(title=f"m{n}"))
    passes = 0
    real = outbox.deliver_due

    async def counted() -> float:
        nonlocal passes
        passes += 1
        return await real()

    outbox.deliver_due = counted  # type: ignore[method-assign]
    sender = asyncio.create_task(outbox.run())
    try:
        await asyncio.sleep(1.3)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    assert len(transport.sent) == 3
    assert passes < 20  # one pass per pacing gap or wake-up, not one every 10 ms


async def test_one_message_is_edited_at_most_once_a_second_and_ends_on_the_latest(
    db: Database, transport: Recorder
) -> None:
    outbox = Outbox(db, transport, per_second=10)
    sender = asyncio.create_task(outbox.run())
    try:
        for n in range(25):  # a new version every 0.1 s for 2.5 s
            await show_case(outbox, 1, Card(title=f"case 1: {n + 1} alerts"))
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    edits = [s for s in transport.sent if s[0] == "update"]
    assert 1 <= len(edits) <= 4, [s[2] for s in edits]
    assert edits[-1][2] == "case 1: 25 alerts"
    times = [s[4] for s in transport.sent]
    assert all(later - earlier >= 0.95 for earlier, later in zip(times, times[1:], strict=False))
