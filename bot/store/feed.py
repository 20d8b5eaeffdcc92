"""The event feed's rows: timeline events by global position, and each subscriber's stored cursor."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from bot.core.models import TimelineEvent
from bot.store.db import Reader
from bot.store.tx import Tx


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A committed timeline event and its place in the feed (positions only grow)."""

    position: int
    event: TimelineEvent


async def events_after(db: Reader, position: int, *, limit: int = 500) -> list[FeedEvent]:
    """The events committed after ``position``, in commit order."""
    query = (
        "SELECT f.position, t.case_id, t.seq, t.type, t.at, t.actor, t.data, t.prev_hash, t.hash FROM feed AS f"
        " JOIN timeline AS t ON t.case_id = f.case_id AND t.seq = f.seq WHERE f.position > ? ORDER BY f.position"
        " LIMIT ?"
    )
    async with db.execute(query, (position, limit)) as cursor:
        rows = await cursor.fetchall()
    return [FeedEvent(r[0], TimelineEvent(r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6]), r[7], r[8])) for r in rows]


async def head(db: Reader) -> int:
    """The position of the newest event (0 when there is none)."""
    async with db.execute("SELECT coalesce(max(position), 0) FROM feed") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def cursor(db: Reader, subscriber: str) -> int | None:
    """Where ``subscriber`` stopped, or None when it never ran."""
    async with db.execute("SELECT position FROM feed_cursors WHERE subscriber = ?", (subscriber,)) as found:
        row = await found.fetchone()
    return None if row is None else int(row[0])


def set_cursor_tx(conn: Tx, subscriber: str, position: int, now: str) -> None:
    """Move ``subscriber``'s cursor forward (never back: a late, stale write cannot rewind it)."""
    conn.execute(
        "INSERT INTO feed_cursors (subscriber, position, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (subscriber) DO UPDATE SET position = max(position, excluded.position),"
        " updated_at = excluded.updated_at",
        (subscriber, position, now),
    )
