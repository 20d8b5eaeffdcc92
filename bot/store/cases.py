"""Case, alert and timeline rows.

The ``*_tx`` functions run inside a writer job (a plain ``sqlite3`` connection, already in a transaction);
the ``async`` functions read through the aiosqlite reader. Timeline rows are only ever appended, each chained
to the previous one of its case (see :func:`bot.core.models.chain_hash`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
import orjson

from bot.core.errors import NotFound
from bot.core.models import (
    GENESIS_HASH,
    Alert,
    Case,
    CaseStatus,
    Observable,
    ObservableKind,
    Severity,
    TimelineEvent,
    chain_hash,
    format_time,
    parse_time,
)

_CASE_COLUMNS = (
    "id, title, status, severity, assignee, source, rule, fingerprint, alert_count, "
    "first_seen, last_seen, created_at, updated_at"
)


def _case(row: Sequence[Any]) -> Case:
    return Case(
        id=row[0],
        title=row[1],
        status=CaseStatus(row[2]),
        severity=Severity(row[3]),
        assignee=row[4],
        source=row[5],
        rule=row[6],
        fingerprint=row[7],
        alert_count=row[8],
        first_seen=parse_time(row[9]),
        last_seen=parse_time(row[10]),
        created_at=parse_time(row[11]),
        updated_at=parse_time(row[12]),
    )


# --- writes (inside a writer job) -------------------------------------------------------------------------


def find_alert_tx(
    conn: sqlite3.Connection, source: str, external_id: str, status: str
) -> tuple[int, int | None] | None:
    """Return ``(alert_id, case_id)`` of a stored alert, or None."""
    row = conn.execute(
        "SELECT id, case_id FROM alerts WHERE source = ? AND external_id = ? AND status = ?",
        (source, external_id, status),
    ).fetchone()
    return None if row is None else (row[0], row[1])


def find_open_case_tx(conn: sqlite3.Connection, fingerprint: str, seen_since: str) -> Case | None:
    """Return the newest open case with ``fingerprint`` last seen at or after ``seen_since``."""
    row = conn.execute(
        f"SELECT {_CASE_COLUMNS} FROM cases WHERE fingerprint = ? AND status != 'closed' "  # noqa: S608 - constant
        "ORDER BY id DESC LIMIT 1",
        (fingerprint,),
    ).fetchone()
    if row is None or row[10] < seen_since:
        return None
    return _case(row)


def insert_case_tx(
    conn: sqlite3.Connection, alert: Alert, fingerprint: str, now: str, *, title: str | None = None
) -> int:
    """Open a case for ``alert`` and return its id (alert_count starts at 0; :func:`add_alert_tx` counts)."""
    cursor = conn.execute(
        "INSERT INTO cases (title, status, severity, source, rule, fingerprint, alert_count, first_seen,"
        " last_seen, created_at, updated_at) VALUES (?, 'new', ?, ?, ?, ?, 0, ?, ?, ?, ?)",
        (title or alert.title, str(alert.severity), alert.source, alert.rule, fingerprint, now, now, now, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def insert_alert_tx(conn: sqlite3.Connection, alert: Alert, case_id: int | None, received_at: str) -> int:
    """Store an alert and its observables; return the alert id."""
    cursor = conn.execute(
        "INSERT INTO alerts (case_id, source, format, external_id, status, title, description, severity, rule,"
        " link, time, received_at, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            case_id,
            alert.source,
            alert.format,
            alert.external_id,
            str(alert.status),
            alert.title,
            alert.description,
            str(alert.severity),
            alert.rule,
            alert.link,
            format_time(alert.time),
            received_at,
            alert.raw,
        ),
    )
    alert_id = cursor.lastrowid
    assert alert_id is not None
    conn.executemany(
        "INSERT OR IGNORE INTO observables (alert_id, case_id, kind, value, role, internal) VALUES (?, ?, ?, ?, ?, ?)",
        [(alert_id, case_id, str(o.kind), o.value, o.role, int(o.internal)) for o in alert.observables],
    )
    return alert_id


def add_alert_tx(conn: sqlite3.Connection, case_id: int, seen_at: str) -> int:
    """Count one more alert on a case and move its last-seen; return the new count."""
    row = conn.execute(
        "UPDATE cases SET alert_count = alert_count + 1, last_seen = max(last_seen, ?), updated_at = ?"
        " WHERE id = ? RETURNING alert_count",
        (seen_at, seen_at, case_id),
    ).fetchone()
    return int(row[0])


def touch_case_tx(conn: sqlite3.Connection, case_id: int, at: str) -> None:
    """Mark a case as updated."""
    conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (at, case_id))


def append_event_tx(
    conn: sqlite3.Connection, case_id: int, type_: str, actor: str, data: Mapping[str, Any], at: str
) -> TimelineEvent:
    """Append one event to a case timeline, chained to the case's previous event."""
    last = conn.execute(
        "SELECT seq, hash FROM timeline WHERE case_id = ? ORDER BY seq DESC LIMIT 1", (case_id,)
    ).fetchone()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    # Round-trip through JSON so the hash covers exactly what is stored and exported.
    stored = orjson.loads(orjson.dumps(data))
    digest = chain_hash(prev_hash, type_, at, actor, stored)
    conn.execute(
        "INSERT INTO timeline (case_id, seq, type, at, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (case_id, seq, type_, at, actor, orjson.dumps(stored).decode(), prev_hash, digest),
    )
    return TimelineEvent(case_id, seq, type_, at, actor, stored, prev_hash, digest)


# --- reads -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert row as read back (without its raw body)."""

    id: int
    case_id: int | None
    source: str
    format: str
    external_id: str
    status: str
    title: str
    severity: Severity
    rule: str
    link: str | None
    time: str
    received_at: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "id": self.id,
            "case_id": self.case_id,
            "source": self.source,
            "format": self.format,
            "external_id": self.external_id,
            "status": self.status,
            "title": self.title,
            "severity": str(self.severity),
            "rule": self.rule,
            "link": self.link,
            "time": self.time,
            "received_at": self.received_at,
        }


async def list_cases(db: aiosqlite.Connection, *, status: CaseStatus | None = None, limit: int = 100) -> list[Case]:
    """Newest cases first, optionally of one status."""
    where, args = ("WHERE status = ?", (str(status), limit)) if status else ("", (limit,))
    query = f"SELECT {_CASE_COLUMNS} FROM cases {where} ORDER BY id DESC LIMIT ?"  # noqa: S608 - constant parts
    async with db.execute(query, args) as cursor:
        return [_case(row) for row in await cursor.fetchall()]


async def get_case(db: aiosqlite.Connection, case_id: int) -> Case:
    """One case, or NotFound."""
    async with db.execute(f"SELECT {_CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,)) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no case {case_id}")
    return _case(row)


async def case_alerts(db: aiosqlite.Connection, case_id: int) -> list[StoredAlert]:
    """The alerts of a case, oldest first."""
    query = (
        "SELECT id, case_id, source, format, external_id, status, title, severity, rule, link, time, received_at"
        " FROM alerts WHERE case_id = ? ORDER BY id"
    )
    async with db.execute(query, (case_id,)) as cursor:
        rows = await cursor.fetchall()
    return [
        StoredAlert(r[0], r[1], r[2], r[3], r[4], r[5], r[6], Severity(r[7]), r[8], r[9], r[10], r[11]) for r in rows
    ]


async def case_observables(db: aiosqlite.Connection, case_id: int) -> list[Observable]:
    """Distinct indicators seen across a case's alerts, in first-seen order."""
    query = (
        "SELECT kind, value, role, internal FROM observables WHERE case_id = ?"
        " GROUP BY kind, value ORDER BY min(alert_id), kind, value"
    )
    async with db.execute(query, (case_id,)) as cursor:
        rows = await cursor.fetchall()
    return [Observable(ObservableKind(r[0]), r[1], r[2], bool(r[3])) for r in rows]


async def timeline(db: aiosqlite.Connection, case_id: int) -> list[TimelineEvent]:
    """A case's timeline in order."""
    query = "SELECT case_id, seq, type, at, actor, data, prev_hash, hash FROM timeline WHERE case_id = ? ORDER BY seq"
    async with db.execute(query, (case_id,)) as cursor:
        rows = await cursor.fetchall()
    return [TimelineEvent(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5]), r[6], r[7]) for r in rows]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where a timeline's hash chain first fails, and why."""

    seq: int
    reason: str


def verify_chain(events: Sequence[TimelineEvent | Mapping[str, Any]]) -> ChainBreak | None:
    """Recompute every link of a timeline; return the first broken one, or None when intact.

    Accepts stored events or exported dicts (``type``, ``at``, ``actor``, ``data``, ``prev_hash``, ``hash``).
    """
    expected_prev = GENESIS_HASH
    for index, item in enumerate(events, start=1):
        entry = item.to_dict() if isinstance(item, TimelineEvent) else dict(item)
        seq = entry.get("seq", index)
        try:
            type_, at, actor, data = entry["type"], entry["at"], entry["actor"], entry["data"]
            prev_hash, digest = entry["prev_hash"], entry["hash"]
        except KeyError as err:
            return ChainBreak(seq, f"missing field {err.args[0]}")
        if seq != index:
            return ChainBreak(index, f"sequence number {seq} where {index} was expected (an entry is missing)")
        if prev_hash != expected_prev:
            return ChainBreak(seq, "prev_hash does not match the previous entry's hash")
        if chain_hash(prev_hash, type_, at, actor, data) != digest:
            return ChainBreak(seq, "hash does not match the entry's content")
        expected_prev = digest
    return None
