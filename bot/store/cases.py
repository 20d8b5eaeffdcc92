"""Case, alert and timeline rows.

The ``*_tx`` functions run inside a writer job (a plain ``sqlite3`` connection, already in a transaction);
the ``async`` functions read through the aiosqlite reader. Timeline rows are only ever appended, each chained
to the previous one of its case (see :func:`bot.core.models.chain_hash`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bot.core.errors import NotFound
from bot.core.events import CaseEventType, EventPayload
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
from bot.store.db import Reader
from bot.store.tx import Tx

_CASE_COLUMNS = (
    "id, title, status, severity, assignee, source, rule, fingerprint, alert_count, "
    "first_seen, last_seen, created_at, updated_at, tags"
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
        tags=tuple(orjson.loads(row[13])),
    )


# --- writes (inside a writer job) -------------------------------------------------------------------------
#
# Ingest is set-based: a batch of deliveries reads its state with three queries and writes with five, whatever
# its size. Rows travel as one JSON array parameter expanded by json_each, so each statement has a constant
# text (prepared once) and runs as a single SQLite step.


@dataclass(slots=True)
class CaseHead:
    """What grouping needs to know about an open case."""

    id: int
    severity: Severity
    last_seen: str
    alert_count: int


def _json(rows: object) -> str:
    return orjson.dumps(rows).decode()


def find_alerts_tx(
    conn: Tx, keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[int, int | None]]:
    """Look up stored alerts by ``(source, external_id, status)``; return ``(alert_id, case_id)`` per key found."""
    rows = conn.execute(
        "SELECT a.source, a.external_id, a.status, a.id, a.case_id FROM json_each(?) AS k"
        " JOIN alerts AS a ON a.source = k.value ->> 0 AND a.external_id = k.value ->> 1 AND a.status = k.value ->> 2",
        (_json(list(keys)),),
    ).fetchall()
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def open_cases_tx(conn: Tx, fingerprints: Iterable[str]) -> dict[str, CaseHead]:
    """The newest open case per fingerprint.

    Single-writer assumption (``bot.store.tx``): nobody opens a case for these fingerprints between this read and
    the insert that follows it; a concurrent backend locks per fingerprint (or relies on a unique index on open
    cases' fingerprints and retries).
    """
    rows = conn.execute(
        "SELECT fingerprint, id, severity, last_seen, alert_count FROM cases"
        " WHERE status != 'closed' AND fingerprint IN (SELECT value FROM json_each(?)) ORDER BY id",
        (_json(list(fingerprints)),),
    ).fetchall()
    return {r[0]: CaseHead(r[1], Severity(r[2]), r[3], r[4]) for r in rows}  # later (newer) ids win


def timeline_heads_tx(conn: Tx, case_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """The last ``(seq, hash)`` of each case's timeline, with the cases held until the transaction ends.

    Chaining onto these heads is safe only while nobody else appends to the same cases: the lock says so where
    the chain is read (see :func:`lock_cases_tx` and ``bot.store.tx``).
    """
    case_ids = list(case_ids)
    lock_cases_tx(conn, case_ids)
    rows = conn.execute(
        "SELECT t.case_id, t.seq, t.hash FROM json_each(?) AS k JOIN timeline AS t ON t.case_id = k.value"
        " AND t.seq = (SELECT max(seq) FROM timeline WHERE case_id = k.value)",
        (_json(list(case_ids)),),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def next_ids_tx(conn: Tx) -> tuple[int, int]:
    """The next free case and alert ids.

    Single-writer assumption (``bot.store.tx``): ``max(id) + 1`` is free only because the one writer holds the
    write lock; a backend with concurrent writers hands ids out from identity columns instead.
    """
    row = conn.execute(
        "SELECT (SELECT coalesce(max(id), 0) FROM cases) + 1, (SELECT coalesce(max(id), 0) FROM alerts) + 1"
    ).fetchone()
    return int(row[0]), int(row[1])


def insert_cases_tx(conn: Tx, cases: Sequence[tuple[int, Alert, str, str]]) -> None:
    """Insert new cases ``(id, first alert, fingerprint, now)``; counts start at 0 and are set by the updates."""
    if not cases:
        return
    rows = [[i, a.title, str(a.severity), a.source, a.rule, fp, now] for i, a, fp, now in cases]
    conn.execute(
        "INSERT INTO cases (id, title, status, severity, source, rule, fingerprint, alert_count, first_seen,"
        " last_seen, created_at, updated_at) SELECT v ->> 0, v ->> 1, 'new', v ->> 2, v ->> 3, v ->> 4, v ->> 5, 0,"
        " v ->> 6, v ->> 6, v ->> 6, v ->> 6 FROM (SELECT value AS v FROM json_each(?))",
        (_json(rows),),
    )


def insert_alerts_tx(conn: Tx, alerts: Sequence[tuple[int, Alert, int | None, str]]) -> None:
    """Insert alerts ``(id, alert, case_id, received_at)`` and their observables."""
    if not alerts:
        return
    rows = [
        [
            i,
            case_id,
            a.source,
            a.format,
            a.external_id,
            str(a.status),
            a.title,
            a.description,
            str(a.severity),
            a.rule,
            a.link,
            format_time(a.time),
            received,
            a.raw,
        ]
        for i, a, case_id, received in alerts
    ]
    conn.execute(
        "INSERT INTO alerts (id, case_id, source, format, external_id, status, title, description, severity, rule,"
        " link, time, received_at, raw) SELECT v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6,"
        " v ->> 7, v ->> 8, v ->> 9, v ->> 10, v ->> 11, v ->> 12, v ->> 13 FROM (SELECT value AS v FROM json_each(?))",
        (_json(rows),),
    )
    observables = [
        [i, case_id, str(o.kind), o.value, o.role, int(o.internal)]
        for i, a, case_id, _ in alerts
        for o in a.observables
    ]
    if observables:
        conn.execute(
            "INSERT OR IGNORE INTO observables (alert_id, case_id, kind, value, role, internal)"
            " SELECT v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5 FROM (SELECT value AS v FROM json_each(?))",
            (_json(observables),),
        )


def update_cases_tx(conn: Tx, updates: Mapping[int, tuple[int, str]]) -> None:
    """Add ``count`` alerts to each case and move its last-seen/updated-at to ``at``: ``{case_id: (count, at)}``."""
    if not updates:
        return
    rows = [[case_id, count, at] for case_id, (count, at) in updates.items()]
    conn.execute(
        "UPDATE cases SET alert_count = alert_count + (u.v ->> 1),"
        " last_seen = CASE WHEN u.v ->> 1 > 0 THEN max(last_seen, u.v ->> 2) ELSE last_seen END,"
        " updated_at = u.v ->> 2 FROM (SELECT value AS v FROM json_each(?)) AS u WHERE cases.id = u.v ->> 0",
        (_json(rows),),
    )


@dataclass(slots=True)
class TimelineWriter:
    """Chains events onto their cases' timelines in memory, then appends them all with one statement."""

    heads: dict[int, tuple[int, str]]
    rows: list[list[Any]] = field(default_factory=list)

    def append(self, case_id: int, event: EventPayload, actor: str, at: str) -> TimelineEvent:
        """Chain one event onto ``case_id``'s timeline (written by :meth:`flush`)."""
        seq, prev_hash = self.heads.get(case_id, (0, GENESIS_HASH))
        type_ = str(event.type)
        entry = _chained(case_id, seq + 1, type_, at, actor, event.to_data(), prev_hash)
        self.heads[case_id] = (entry.seq, entry.hash)
        self.rows.append([case_id, entry.seq, type_, at, actor, _json(entry.data), prev_hash, entry.hash])
        return entry

    def flush(self, conn: Tx) -> None:
        """Insert the chained events."""
        if self.rows:
            conn.execute(
                "INSERT INTO timeline (case_id, seq, type, at, actor, data, prev_hash, hash)"
                " SELECT v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6, v ->> 7"
                " FROM (SELECT value AS v FROM json_each(?))",
                (_json(self.rows),),
            )
            self.rows = []


def _chained(
    case_id: int, seq: int, type_: str, at: str, actor: str, data: Mapping[str, Any], prev_hash: str
) -> TimelineEvent:
    # Round-trip through JSON so the hash covers exactly what is stored and exported.
    stored = orjson.loads(orjson.dumps(data))
    return TimelineEvent(
        case_id, seq, type_, at, actor, stored, prev_hash, chain_hash(prev_hash, type_, at, actor, stored)
    )


@dataclass(frozen=True, slots=True)
class CaseFields:
    """The fields of a case that people and playbooks change."""

    status: CaseStatus
    severity: Severity
    assignee: str | None
    tags: tuple[str, ...]


def case_fields_tx(conn: Tx, case_id: int) -> CaseFields | None:
    """A case's changeable fields, read inside the transaction that changes them."""
    lock_cases_tx(conn, [case_id])
    row = conn.execute("SELECT status, severity, assignee, tags FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        return None
    return CaseFields(CaseStatus(row[0]), Severity(row[1]), row[2], tuple(orjson.loads(row[3])))


_CHANGEABLE = frozenset({"status", "severity", "assignee", "tags"})


def set_case_field_tx(conn: Tx, case_id: int, name: str, value: str, at: str) -> None:
    """Set one changeable field (``tags`` as its JSON list) and mark the case updated."""
    if name not in _CHANGEABLE:
        raise ValueError(f"{name} is not a changeable case field")
    conn.execute(f"UPDATE cases SET {name} = ?, updated_at = ? WHERE id = ?", (value, at, case_id))  # noqa: S608


def lock_cases_tx(conn: Tx, case_ids: Iterable[int]) -> None:
    """Hold these cases until the transaction ends, before reading what will be changed or chained onto.

    A no-op on SQLite: its one writer already holds the database's write lock for the whole transaction. A
    backend with concurrent writers implements it as a row lock (``SELECT … FOR UPDATE``), so that two writers
    never extend one case's hash chain from the same head or decide from the same stale fields.
    """
    del conn, case_ids


def touch_case_tx(conn: Tx, case_id: int, at: str) -> None:
    """Mark a case as updated."""
    conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (at, case_id))


def append_event_tx(conn: Tx, case_id: int, event: EventPayload, actor: str, at: str) -> TimelineEvent:
    """Append one event to a case timeline, chained to the case's previous event."""
    writer = TimelineWriter(timeline_heads_tx(conn, [case_id]))
    entry = writer.append(case_id, event, actor, at)
    writer.flush(conn)
    return entry


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


async def list_cases(db: Reader, *, status: CaseStatus | None = None, limit: int = 100) -> list[Case]:
    """Newest cases first, optionally of one status."""
    where, args = ("WHERE status = ?", (str(status), limit)) if status else ("", (limit,))
    query = f"SELECT {_CASE_COLUMNS} FROM cases {where} ORDER BY id DESC LIMIT ?"  # noqa: S608 - constant parts
    async with db.execute(query, args) as cursor:
        return [_case(row) for row in await cursor.fetchall()]


async def get_case(db: Reader, case_id: int) -> Case:
    """One case, or NotFound."""
    async with db.execute(f"SELECT {_CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,)) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no case {case_id}")
    return _case(row)


async def case_alerts(db: Reader, case_id: int) -> list[StoredAlert]:
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


async def case_observables(db: Reader, case_id: int) -> list[Observable]:
    """Distinct indicators seen across a case's alerts, in first-seen order."""
    query = (
        "SELECT kind, value, role, internal FROM observables WHERE case_id = ?"
        " GROUP BY kind, value ORDER BY min(alert_id), kind, value"
    )
    async with db.execute(query, (case_id,)) as cursor:
        rows = await cursor.fetchall()
    return [Observable(ObservableKind(r[0]), r[1], r[2], bool(r[3])) for r in rows]


async def timeline(db: Reader, case_id: int) -> list[TimelineEvent]:
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


async def events_of_type(db: Reader, case_id: int, type_: CaseEventType) -> list[TimelineEvent]:
    """A case's timeline events of one type, in order (without reading the rest of the timeline)."""
    query = (
        "SELECT case_id, seq, type, at, actor, data, prev_hash, hash FROM timeline WHERE case_id = ? AND type = ?"
        " ORDER BY seq"
    )
    async with db.execute(query, (case_id, str(type_))) as cursor:
        rows = await cursor.fetchall()
    return [TimelineEvent(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5]), r[6], r[7]) for r in rows]


async def first_link(db: Reader, case_id: int) -> str | None:
    """The link of the case's first alert that has one."""
    query = "SELECT link FROM alerts WHERE case_id = ? AND link IS NOT NULL ORDER BY id LIMIT 1"
    async with db.execute(query, (case_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else str(row[0])
