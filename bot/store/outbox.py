"""Outbox rows: messages to send, their coalesced updates, and what was sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from bot.core.models import OutboxStatus
from bot.store.db import Reader
from bot.store.tx import Tx


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message operation waiting to be (or already) sent."""

    id: int
    platform: str
    op: str
    channel: str
    target: int | None
    user_id: str | None
    dedup_key: str | None
    case_id: int | None
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    next_at: str
    error: str | None
    message_id: str | None  # the platform's id of a sent post (column ts)
    pin: bool = False


_COLUMNS = (
    "id, platform, op, channel, target, user_id, dedup_key, case_id, payload, status, attempts, next_at, error, ts, pin"
)


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        orjson.loads(r[8]),
        OutboxStatus(r[9]),
        r[10],
        r[11],
        r[12],
        r[13],
        bool(r[14]),
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def enqueue_post_tx(
    conn: Tx,
    *,
    platform: str,
    channel: str,
    payload: dict[str, Any],
    now: str,
    dedup_key: str | None = None,
    case_id: int | None = None,
    parent: int | None = None,
    pin: bool = False,
) -> int:
    """Queue a new message; with a ``dedup_key`` this platform used already, return that message's id instead."""
    if dedup_key is not None:
        found = find_tx(conn, platform, dedup_key)
        if found is not None:
            return found
    cursor = conn.execute(
        "INSERT INTO outbox (platform, op, channel, target, dedup_key, case_id, payload, status, next_at, created_at,"
        " pin) VALUES (?, 'post', ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        (platform, channel, parent, dedup_key, case_id, _dumps(payload), now, now, int(pin)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def find_tx(conn: Tx, platform: str, dedup_key: str) -> int | None:
    """The post this platform made under ``dedup_key``, if any."""
    found = conn.execute("SELECT id FROM outbox WHERE platform = ? AND dedup_key = ?", (platform, dedup_key)).fetchone()
    return None if found is None else int(found[0])


def show_tx(
    conn: Tx,
    *,
    platform: str,
    channel: str,
    dedup_key: str,
    payload: dict[str, Any],
    now: str,
    case_id: int | None = None,
    parent: int | None = None,
    pin: bool = False,
) -> int:
    """Post the message kept under ``dedup_key`` the first time, and update that one message ever after."""
    found = find_tx(conn, platform, dedup_key)
    if found is None:
        return enqueue_post_tx(
            conn,
            platform=platform,
            channel=channel,
            payload=payload,
            now=now,
            dedup_key=dedup_key,
            case_id=case_id,
            parent=parent,
            pin=pin,
        )
    status = conn.execute("SELECT status FROM outbox WHERE id = ?", (found,)).fetchone()[0]
    if status == OutboxStatus.FAILED:
        # It never reached the platform (an outage outlasted its retries): the next version is posted afresh,
        # and replies in its thread wait for it again.
        conn.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, error = NULL, next_at = ?, payload = ?, target = ?"
            " WHERE id = ?",
            (now, _dumps(payload), parent, found),
        )
        return found
    enqueue_update_tx(conn, found, payload, now)
    return found


def enqueue_update_tx(conn: Tx, message_id: int, payload: dict[str, Any], now: str) -> None:
    """Change a message: rewrite it while unsent, else queue (or replace the queued) update.

    A version equal to the newest one already queued or sent changes nothing, so re-presenting an unchanged card
    (a replayed event, an event that does not show on the card) costs no platform call.
    """
    post = conn.execute("SELECT status, platform, channel, case_id FROM outbox WHERE id = ?", (message_id,)).fetchone()
    if post is None:
        return
    newest = conn.execute(
        "SELECT payload FROM outbox WHERE (id = ? OR (op = 'update' AND target = ?)) AND status != 'failed'"
        " ORDER BY id DESC LIMIT 1",
        (message_id, message_id),
    ).fetchone()
    if newest is not None and orjson.loads(newest[0]) == payload:
        return
    if post[0] == OutboxStatus.PENDING:
        conn.execute("UPDATE outbox SET payload = ? WHERE id = ?", (_dumps(payload), message_id))
        return
    replaced = conn.execute(
        "UPDATE outbox SET payload = ? WHERE op = 'update' AND target = ? AND status = 'pending'",
        (_dumps(payload), message_id),
    ).rowcount
    if not replaced:
        conn.execute(
            "INSERT INTO outbox (platform, op, channel, target, case_id, payload, status, next_at, created_at)"
            " VALUES (?, 'update', ?, ?, ?, ?, 'pending', ?, ?)",
            (post[1], post[2], message_id, post[3], _dumps(payload), now, now),
        )


def enqueue_ephemeral_tx(conn: Tx, *, platform: str, channel: str, user: str, payload: dict[str, Any], now: str) -> int:
    """Queue a message only ``user`` sees."""
    cursor = conn.execute(
        "INSERT INTO outbox (platform, op, channel, user_id, payload, status, next_at, created_at)"
        " VALUES (?, 'ephemeral', ?, ?, ?, 'pending', ?, ?)",
        (platform, channel, user, _dumps(payload), now, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def due(db: Reader, platform: str, now: str, *, per_channel: int = 5, limit: int = 500) -> list[OutboxRow]:
    """A platform's pending rows whose time has come, oldest first: at most ``per_channel`` of each channel.

    A pass sends a channel's rows one pacing gap apart anyway, so a backlog in one channel must not fill the pass
    and hide another channel's rows (an incident summary behind a storm of case cards).
    """
    query = (
        f"SELECT {_COLUMNS} FROM (SELECT *, row_number() OVER (PARTITION BY channel ORDER BY id) AS nth"  # noqa: S608
        " FROM outbox WHERE platform = ? AND status = 'pending' AND next_at <= ?) WHERE nth <= ? ORDER BY id LIMIT ?"
    )
    async with db.execute(query, (platform, now, per_channel, limit)) as cursor:
        return [_row(r) for r in await cursor.fetchall()]


async def get(db: Reader, message_id: int) -> OutboxRow | None:
    """One row."""
    async with db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (message_id,)) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return None if row is None else _row(row)


async def next_due_at(db: Reader, platform: str, now: str) -> str | None:
    """When a platform's next pending row falls due after ``now`` (rows due already are the sender's to weigh)."""
    query = "SELECT min(next_at) FROM outbox WHERE platform = ? AND status = 'pending' AND next_at > ?"
    async with db.execute(query, (platform, now)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


def payload_tx(conn: Tx, row_id: int) -> dict[str, Any] | None:
    """A row's payload as it is now (it may have been rewritten while it was being sent)."""
    row = conn.execute("SELECT payload FROM outbox WHERE id = ?", (row_id,)).fetchone()
    return None if row is None else dict(orjson.loads(row[0]))


def mark_sent_tx(
    conn: Tx, row_id: int, message_id: str | None, now: str, payload: dict[str, Any] | None = None
) -> None:
    """Record a successful send (the message id of a post, and the version that went out when given)."""
    conn.execute(
        "UPDATE outbox SET status = 'sent', ts = coalesce(?, ts), sent_at = ?, error = NULL,"
        " payload = coalesce(?, payload) WHERE id = ?",
        (message_id, now, None if payload is None else _dumps(payload), row_id),
    )


def reschedule_tx(conn: Tx, row_id: int, next_at: str, error: str | None) -> None:
    """Try a row again later."""
    conn.execute(
        "UPDATE outbox SET next_at = ?, attempts = attempts + 1, error = ? WHERE id = ?", (next_at, error, row_id)
    )


def hold_channel_tx(conn: Tx, platform: str, channel: str, until: str) -> None:
    """Hold every pending row of a channel until ``until`` (the platform said it is rate limited)."""
    conn.execute(
        "UPDATE outbox SET next_at = max(next_at, ?) WHERE status = 'pending' AND platform = ? AND channel = ?",
        (until, platform, channel),
    )


def mark_failed_tx(conn: Tx, row_id: int, error: str) -> None:
    """Give up on a row (a permanent error)."""
    conn.execute(
        "UPDATE outbox SET status = 'failed', error = ?, attempts = attempts + 1 WHERE id = ?", (error, row_id)
    )


async def case_for_message(db: Reader, platform: str, channel: str, message_id: str) -> int | None:
    """The case a sent message (e.g. a thread's root) belongs to."""
    query = "SELECT case_id FROM outbox WHERE platform = ? AND channel = ? AND ts = ? AND op = 'post'"
    async with db.execute(query, (platform, channel, message_id)) as cursor:
        row = await cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


async def pending_in_channel(db: Reader, platform: str, channel: str) -> int:
    """How many rows still wait to go to ``channel``."""
    query = "SELECT count(*) FROM outbox WHERE status = 'pending' AND platform = ? AND channel = ?"
    async with db.execute(query, (platform, channel)) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def pending_count(db: Reader, platform: str) -> int:
    """How many rows still wait to go out on ``platform``."""
    query = "SELECT count(*) FROM outbox WHERE status = 'pending' AND platform = ?"
    async with db.execute(query, (platform,)) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0
