"""Incident channel rows, seen platform deliveries, manually opened cases, and the reads behind the digest.

The ``*_tx`` functions run inside a writer job (a plain ``sqlite3`` connection, already in a transaction); the
``async`` functions read through the aiosqlite reader. An incident row is claimed (status ``declaring``) before
its channel exists, so two declarations for one case cannot both create a channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bot.core.events import CaseOpened
from bot.core.models import ActionStatus, CaseStatus, IncidentStatus, Severity, TimelineEvent
from bot.store.cases import append_event_tx, next_ids_tx
from bot.store.db import Reader
from bot.store.tx import Tx

MANUAL_SOURCE = "chat"
MANUAL_RULE = "incident"


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """An incident as stored: its case, channel, pinned summary and role holders."""

    case_id: int
    title: str
    channel: str | None
    roles: dict[str, str]
    status: IncidentStatus
    last_update: str | None
    declared_by: str
    declared_at: str
    resolved_at: str | None


_COLUMNS = "case_id, title, channel, roles, status, last_update, declared_by, declared_at, resolved_at"


def _row(r: Sequence[Any]) -> IncidentRow:
    return IncidentRow(
        case_id=r[0],
        title=r[1],
        channel=r[2],
        roles=orjson.loads(r[3]),
        status=IncidentStatus(r[4]),
        last_update=r[5],
        declared_by=r[6],
        declared_at=r[7],
        resolved_at=r[8],
    )


# --- writes (inside a writer job) -------------------------------------------------------------------------


def open_case_tx(conn: Tx, *, title: str, severity: Severity, actor: str, now: str) -> TimelineEvent:
    """Open a case that no alert created (declared from chat) and chain its ``case_opened`` event."""
    case_id, _ = next_ids_tx(conn)
    fingerprint = f"manual:{case_id}"  # never equal to an alert fingerprint (those are sha256 hex)
    conn.execute(
        "INSERT INTO cases (id, title, status, severity, source, rule, fingerprint, alert_count, first_seen,"
        " last_seen, created_at, updated_at) VALUES (?, ?, 'new', ?, ?, ?, ?, 0, ?, ?, ?, ?)",
        (case_id, title, str(severity), MANUAL_SOURCE, MANUAL_RULE, fingerprint, now, now, now, now),
    )
    opened = CaseOpened(
        case_id=case_id,
        title=title,
        severity=severity,
        source=MANUAL_SOURCE,
        rule=MANUAL_RULE,
        fingerprint=fingerprint,
        opened_by=actor,
    )
    return append_event_tx(conn, case_id, opened, actor, now)


def case_head_tx(conn: Tx, case_id: int) -> tuple[str, str] | None:
    """A case's ``(status, title)``, or None when there is no such case."""
    row = conn.execute("SELECT status, title FROM cases WHERE id = ?", (case_id,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def get_tx(conn: Tx, case_id: int) -> IncidentRow | None:
    """One incident, inside a writer job."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE case_id = ?", (case_id,)).fetchone()  # noqa: S608
    return None if row is None else _row(row)


def claim_tx(
    conn: Tx, *, case_id: int, title: str, declared_by: str, now: str, stale_before: str
) -> tuple[IncidentRow, bool]:
    """Claim ``case_id`` for a new incident; return the row and whether this call claimed it.

    A claim still ``declaring`` from before ``stale_before`` (a crash while creating the channel) is taken over.
    """
    conn.execute(
        "DELETE FROM incidents WHERE case_id = ? AND status = 'declaring' AND declared_at < ?", (case_id, stale_before)
    )
    inserted = conn.execute(
        "INSERT INTO incidents (case_id, title, status, declared_by, declared_at) VALUES (?, ?, 'declaring', ?, ?)"
        " ON CONFLICT (case_id) DO NOTHING RETURNING case_id",
        (case_id, title, declared_by, now),
    ).fetchone()
    row = get_tx(conn, case_id)
    assert row is not None
    return row, inserted is not None


def release_tx(conn: Tx, *, case_id: int, declared_at: str) -> None:
    """Give up a claim whose channel could not be created."""
    conn.execute(
        "DELETE FROM incidents WHERE case_id = ? AND status = 'declaring' AND declared_at = ?", (case_id, declared_at)
    )


def activate_tx(conn: Tx, *, case_id: int, channel: str) -> None:
    """Record the created channel: the incident is active."""
    conn.execute("UPDATE incidents SET channel = ?, status = 'active' WHERE case_id = ?", (channel, case_id))


def set_last_update_tx(conn: Tx, *, case_id: int, text: str) -> None:
    """Keep the latest status text (the timeline keeps every one)."""
    conn.execute("UPDATE incidents SET last_update = ? WHERE case_id = ?", (text, case_id))


def set_role_tx(conn: Tx, *, case_id: int, role: str, user: str) -> str | None:
    """Give ``role`` to ``user``; return who held it before."""
    row = get_tx(conn, case_id)
    assert row is not None
    roles = dict(row.roles)
    previous = roles.get(role)
    roles[role] = user
    conn.execute("UPDATE incidents SET roles = ? WHERE case_id = ?", (orjson.dumps(roles).decode(), case_id))
    return previous


def resolve_tx(conn: Tx, *, case_id: int, now: str) -> bool:
    """Resolve an active incident; False when it was not active (the first resolve wins)."""
    cursor = conn.execute(
        "UPDATE incidents SET status = 'resolved', resolved_at = ? WHERE case_id = ? AND status = 'active'",
        (now, case_id),
    )
    return cursor.rowcount == 1


def mark_seen_tx(conn: Tx, *, event_id: str, at: str) -> bool:
    """Remember a platform delivery; False when it was seen before (then write nothing for it)."""
    cursor = conn.execute(
        "INSERT INTO seen_events (event_id, at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING", (event_id, at)
    )
    return cursor.rowcount == 1


# --- reads -----------------------------------------------------------------------------------------------


async def get(db: Reader, case_id: int) -> IncidentRow | None:
    """The incident of a case."""
    async with db.execute(f"SELECT {_COLUMNS} FROM incidents WHERE case_id = ?", (case_id,)) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return None if row is None else _row(row)


async def by_channel(db: Reader, channel: str) -> IncidentRow | None:
    """The incident whose channel is ``channel``."""
    async with db.execute(f"SELECT {_COLUMNS} FROM incidents WHERE channel = ?", (channel,)) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return None if row is None else _row(row)


@dataclass(frozen=True, slots=True)
class OpenCase:
    """The few fields of an open case a digest lists."""

    id: int
    title: str
    severity: Severity
    status: CaseStatus
    assignee: str | None


_SEVERITY_RANK = "CASE severity " + " ".join(f"WHEN '{s}' THEN {s.rank}" for s in Severity) + " ELSE -1 END"


async def open_cases(db: Reader, *, case_id: int | None = None, limit: int = 10) -> list[OpenCase]:
    """The most severe open cases (newest first within a severity), or just ``case_id`` when it is open."""
    where, args = (
        ("status != 'closed'", (limit,)) if case_id is None else ("status != 'closed' AND id = ?", (case_id, limit))
    )
    query = (
        f"SELECT id, title, severity, status, assignee FROM cases WHERE {where}"  # noqa: S608 - constant parts
        f" ORDER BY {_SEVERITY_RANK} DESC, id DESC LIMIT ?"
    )
    async with db.execute(query, args) as cursor:
        return [OpenCase(r[0], r[1], Severity(r[2]), CaseStatus(r[3]), r[4]) for r in await cursor.fetchall()]


async def open_case_counts(db: Reader, *, case_id: int | None = None) -> dict[Severity, int]:
    """How many cases are open, per severity."""
    where, args = ("status != 'closed'", ()) if case_id is None else ("status != 'closed' AND id = ?", (case_id,))
    query = f"SELECT severity, count(*) FROM cases WHERE {where} GROUP BY severity"  # noqa: S608 - constant parts
    async with db.execute(query, args) as cursor:
        return {Severity(r[0]): int(r[1]) for r in await cursor.fetchall()}


@dataclass(frozen=True, slots=True)
class RecentAction:
    """A containment action attempted recently."""

    id: int
    case_id: int | None
    action: str
    target: str
    status: ActionStatus
    attempted_at: str


async def actions_since(db: Reader, since: str, *, case_id: int | None = None) -> list[RecentAction]:
    """Containment actions attempted at or after ``since``, oldest first."""
    where, args = (
        ("attempted_at >= ?", (since,)) if case_id is None else ("attempted_at >= ? AND case_id = ?", (since, case_id))
    )
    query = f"SELECT id, case_id, action, target, status, attempted_at FROM actions WHERE {where} ORDER BY id"  # noqa: S608
    async with db.execute(query, args) as cursor:
        return [RecentAction(r[0], r[1], r[2], r[3], ActionStatus(r[4]), r[5]) for r in await cursor.fetchall()]
