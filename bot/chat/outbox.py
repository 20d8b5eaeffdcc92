"""The chat outbox: a durable, paced, coalescing queue in front of one chat platform.

There is one outbox per configured platform. Its rows are keyed by ``(platform, dedup key)`` (an approval card
exists once on each surface, and is updated on each), and each platform's sender delivers only its own rows, so
one platform being down or rate limited never holds another. The rows are written by that platform's
:class:`bot.chat.surface.ChatSurface`, a subscriber of the event feed, and by commands answering in a channel.

``post`` returns a logical message reference at once (``o:<row id>``) and the sender delivers it later, so a
card is never lost in a restart and a playbook never waits on Slack. Updates to one message coalesce: an
update to a message that is not sent yet rewrites it, and a queued update is replaced by a newer one, so a
storm of alerts into one case becomes a handful of ``chat.update`` calls. Sending is paced per channel
(``per_second``, Slack allows about one message a second); a rate-limit answer holds the whole channel until its
``Retry-After``; transient errors are retried with backoff; permanent ones (no such channel, archived) fail the
row, are logged, and are written to the case timeline so they are visible, not silent. The platform side is a
:class:`bot.core.ports.ChatTransport`, whose cut-off is documented there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from bot.core.errors import ChatDeliveryError
from bot.core.events import ChatDeliveryFailed
from bot.core.models import OutboxStatus, format_time, parse_time, utcnow
from bot.core.ports import Button, ButtonStyle, Card, ChatTransport, MessageRef
from bot.store import outbox as store
from bot.store.cases import append_event_tx
from bot.store.outbox import OutboxRow
from bot.store.tx import UnitOfWork

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# One message is edited at most this often: a storm into one case becomes one edit a second carrying the latest
# version (the versions in between coalesce), and a platform's edit quota is spent on news, not on every alert.
EDIT_GAP = 1.0


def card_to_dict(card: Card) -> dict[str, Any]:
    """The stored form of a card."""
    return {
        "title": card.title,
        "text": card.text,
        "fields": [list(f) for f in card.fields],
        "buttons": [
            {"label": b.label, "action": b.action, "value": b.value, "style": str(b.style)} for b in card.buttons
        ],
        "footer": card.footer,
        "severity": card.severity,
    }


def card_from_dict(data: Mapping[str, Any]) -> Card:
    """Read :func:`card_to_dict` output."""
    return Card(
        title=data["title"],
        text=data.get("text", ""),
        fields=tuple((str(k), str(v)) for k, v in data.get("fields", [])),
        buttons=tuple(
            Button(b["label"], b["action"], b["value"], ButtonStyle(b.get("style", "default")))
            for b in data.get("buttons", [])
        ),
        footer=data.get("footer", ""),
        severity=data.get("severity"),
    )


def case_card_key(case_id: int) -> str:
    """The outbox key of a case's one alert card."""
    return f"case:{case_id}:card"


@dataclass(slots=True)
class _Pace:
    last: float = 0.0


class Outbox:
    """ChatOut for one platform, backed by the outbox table; :meth:`run` is its sender."""

    def __init__(
        self,
        db: UnitOfWork,
        transport: ChatTransport,
        *,
        per_second: float = 1.0,
        clock: Any = utcnow,
        settled: Callable[[], Awaitable[bool]] | None = None,
        edit_gap: float = EDIT_GAP,
    ) -> None:
        self._db = db
        self._settled = settled  # "has this platform's presenter seen every committed event?" (before draining)
        self._transport = transport
        self.platform = transport.platform
        self._interval = 1.0 / per_second
        self._clock = clock
        self._wake = asyncio.Event()
        self._paces: dict[str, _Pace] = {}
        self._edit_gap = edit_gap
        self._touched: dict[int, float] = {}  # message row id → when it was last posted or edited (loop time)

    def wake(self) -> None:
        """New rows are committed: the sender looks now instead of at its next due time."""
        self._wake.set()

    # --- ChatOut ------------------------------------------------------------------------------------------

    async def post(self, destination: str, card: Card, *, case_id: int | None = None) -> MessageRef:
        """Queue ``card`` for ``destination`` (``alerts`` or a channel): a command's answer shared in a channel.

        Case cards and their threads are the surface's (``bot.chat.surface``), presented from case events.
        """
        now = format_time(self._clock())
        payload = card_to_dict(card)
        channel = self._transport.alerts_channel if destination == "alerts" else destination

        def job(conn: Any) -> int:
            return store.enqueue_post_tx(
                conn, platform=self.platform, channel=channel, payload=payload, now=now, case_id=case_id
            )

        row_id = await self._db.write(job)
        self._wake.set()
        return MessageRef(self.platform, channel, f"o:{row_id}")

    async def update(self, ref: MessageRef, card: Card) -> None:
        """Queue a new version of a message (coalesced with any version still waiting)."""
        if not ref.id.startswith("o:"):
            return
        now = format_time(self._clock())
        await self._db.write(
            partial(store.enqueue_update_tx, message_id=int(ref.id[2:]), payload=card_to_dict(card), now=now)
        )
        self._wake.set()

    async def whisper(self, user: str, text: str, *, where: MessageRef | None = None) -> None:
        """Queue a message only ``user`` sees (in ``where``'s channel, else the alerts channel)."""
        now = format_time(self._clock())
        channel = where.conversation if where is not None else self._transport.alerts_channel
        payload = card_to_dict(Card(title="", text=text))
        await self._db.write(
            partial(
                store.enqueue_ephemeral_tx, platform=self.platform, channel=channel, user=user, payload=payload, now=now
            )
        )
        self._wake.set()

    async def drained(self, channel: str, *, seconds: float = 10.0) -> bool:
        """Wait until nothing is queued for ``channel`` (before archiving it); False if that took too long."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        if self._settled is not None and not await self._settled():
            return False
        while await store.pending_in_channel(self._db.reader, self.platform, channel):
            if loop.time() >= deadline:
                return False
            self._wake.set()
            await asyncio.sleep(0.1)
        return True

    async def pending(self) -> int:
        """How many of this platform's rows still wait to be sent."""
        return await store.pending_count(self._db.reader, self.platform)

    async def resolve(self, ref: MessageRef) -> str | None:
        """The platform message id of a logical reference, once it is sent."""
        if not ref.id.startswith("o:"):
            return ref.id
        row = await store.get(self._db.reader, int(ref.id[2:]))
        return row.message_id if row is not None else None

    # --- sender -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver queued rows forever (cancel to stop; undelivered rows wait in the table for the next start)."""
        while True:
            self._wake.clear()
            try:
                wait = await self.deliver_due()
            except Exception:  # noqa: BLE001 - the sender must outlive a bad pass (a database hiccup, a bug)
                logger.exception("Outbox pass failed; trying again shortly")
                wait = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def deliver_due(self) -> float:
        """Send every row that may go now; return how long until the next one could."""
        moment = self._clock()
        rows = await store.due(self._db.reader, self.platform, format_time(moment))
        soonest = 5.0
        held: set[str] = set()
        loop = asyncio.get_running_loop()
        for row in rows:
            if row.channel in held:
                continue
            if row.op == "update" and row.target is not None:
                wait = self._touched.get(row.target, float("-inf")) + self._edit_gap - loop.time()
                if wait > 0:  # too soon after this message's last send: newer versions may still coalesce into it
                    soonest = min(soonest, wait)
                    continue
            pace = self._paces.setdefault(row.channel, _Pace())
            gap = pace.last + self._interval - asyncio.get_running_loop().time()
            if gap > 0:
                held.add(row.channel)
                soonest = min(soonest, gap)
                continue
            outcome = await self._deliver(row)
            if outcome == "sent":
                pace.last = loop.time()
                soonest = min(soonest, self._interval)
                if row.op != "ephemeral":
                    self._touch(row.target if row.op == "update" and row.target is not None else row.id, pace.last)
            elif outcome == "wait":
                held.add(row.channel)
            elif outcome == "later":
                soonest = min(soonest, 0.05)  # joined or rescheduled: look again soon
        next_at = await store.next_due_at(self._db.reader, self.platform, format_time(moment))
        if next_at is not None:
            # Rows already due but held (pacing, a parent not sent yet) are covered by the gaps above; only a
            # future due time can bring the next pass forward, so a paced channel does not make the sender spin.
            until = (parse_time(next_at) - self._clock()).total_seconds()
            if until > 0:
                soonest = min(soonest, until)
        return max(soonest, 0.01)

    def _touch(self, message: int, at: float) -> None:
        self._touched[message] = at
        if len(self._touched) > 1_000:  # only recent sends matter: forget those past the gap
            self._touched = {m: t for m, t in self._touched.items() if at - t < self._edit_gap}

    async def _deliver(self, row: OutboxRow) -> str:
        """Send one row; return ``sent``, ``wait`` (blocked on something), ``failed`` or ``later``."""
        card = card_from_dict(row.payload)
        target_id = None  # the thread's root for a reply, the message itself for an edit
        if row.target is not None:
            target = await store.get(self._db.reader, row.target)
            if target is None or target.status is OutboxStatus.FAILED:
                await self._fail(row, "the message it belongs to could not be sent")
                return "failed"
            if target.status is not OutboxStatus.SENT:
                return "wait"  # the parent (or the post being updated) goes first
            target_id = target.message_id
        try:
            sent_id = None
            if row.op == "post":
                sent_id = await self._transport.send(row.channel, card, thread=target_id)
            elif row.op == "update":
                assert target_id is not None
                await self._transport.edit(row.channel, target_id, card)
            else:
                await self._transport.send_private(row.channel, row.user_id or "", card)
        except ChatDeliveryError as err:
            return await self._handle(row, err)
        except Exception as err:  # noqa: BLE001 - a broken delivery must not stop the sender
            logger.exception("Delivering outbox row %s failed unexpectedly", row.id)
            return await self._retry(row, f"internal error: {err.__class__.__name__}")
        now = format_time(self._clock())

        def sent(conn: Any) -> None:
            current = store.payload_tx(conn, row.id)
            # The row keeps what was actually sent, so "is this version new?" compares against the platform's copy.
            store.mark_sent_tx(conn, row.id, sent_id, now, row.payload)
            if current is not None and current != row.payload and row.op != "ephemeral":
                # A newer version arrived while this one was on its way: send it as an update.
                store.enqueue_update_tx(conn, row.id if row.op == "post" else row.target or row.id, current, now)

        await self._db.write(sent)
        if row.pin and sent_id is not None:
            try:
                await self._transport.pin(row.channel, sent_id)
            except ChatDeliveryError as err:  # the message is out; an unpinned summary is a cosmetic loss
                logger.warning("Could not pin %s message %s in %s: %s", self.platform, sent_id, row.channel, err.code)
        return "sent"

    async def _handle(self, row: OutboxRow, err: ChatDeliveryError) -> str:
        if err.retry_after is not None:
            until = format_time(self._clock() + timedelta(seconds=err.retry_after))
            logger.info("%s rate limited in %s for %.0fs", self.platform, row.channel, err.retry_after)
            await self._db.write(
                partial(store.hold_channel_tx, platform=self.platform, channel=row.channel, until=until)
            )
            return "wait"
        if err.permanent:
            await self._fail(row, err.code)
            return "failed"
        return await self._retry(row, err.code)

    async def _retry(self, row: OutboxRow, error: str) -> str:
        if row.attempts + 1 >= MAX_ATTEMPTS:
            await self._fail(row, f"{error} (gave up after {MAX_ATTEMPTS} attempts)")
            return "failed"
        delay = min(60.0, 2.0**row.attempts)
        next_at = format_time(self._clock() + timedelta(seconds=delay))
        await self._db.write(partial(store.reschedule_tx, row_id=row.id, next_at=next_at, error=error))
        return "later"

    async def _fail(self, row: OutboxRow, error: str) -> None:
        logger.warning("Could not deliver a %s message to %s: %s", self.platform, row.channel, error)
        now = format_time(self._clock())

        def job(conn: Any) -> None:
            store.mark_failed_tx(conn, row.id, error)
            if row.case_id is not None:
                event = ChatDeliveryFailed(
                    platform=self.platform,
                    channel=row.channel,
                    op=row.op,
                    error=error,
                    title=row.payload.get("title", ""),
                )
                append_event_tx(conn, row.case_id, event, "soarbot", now)

        await self._db.write(job)
