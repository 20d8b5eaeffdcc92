"""Approval requests and votes.

A decision is one compare-and-set (``... WHERE status = 'pending'``): the first decisive answer wins, and
repeats, retries and restarts cannot decide twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from bot.core.models import ApprovalStatus, Decision, format_time, parse_time
from bot.store.db import Reader
from bot.store.tx import Tx


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """An approval request as stored (its times parsed: aware datetimes, never text to compare)."""

    id: int
    run_id: int | None
    step_key: str
    case_id: int | None
    action: str
    target: str
    reason: str
    message: str
    requester: str
    policy: dict[str, Any]
    required: int
    critical: bool
    status: ApprovalStatus
    outcome: Decision | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    expires_at: datetime
    remind_at: datetime | None
    escalation_level: int
    created_at: datetime


_COLUMNS = (
    "id, run_id, step_key, case_id, action, target, reason, message, requester, policy, required, critical, status,"
    " outcome, decided_by, decided_at, decision_reason, expires_at, remind_at, escalation_level, created_at"
)


def _row(r: Any) -> ApprovalRow:
    return ApprovalRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        orjson.loads(r[9]),
        r[10],
        bool(r[11]),
        ApprovalStatus(r[12]),
        None if r[13] is None else Decision(r[13]),
        r[14],
        None if r[15] is None else parse_time(r[15]),
        r[16],
        parse_time(r[17]),
        None if r[18] is None else parse_time(r[18]),
        r[19],
        parse_time(r[20]),
    )


def insert_tx(
    conn: Tx,
    *,
    run_id: int | None,
    step_key: str,
    case_id: int | None,
    action: str,
    target: str,
    reason: str,
    message: str,
    requester: str,
    policy: dict[str, Any],
    required: int,
    critical: bool,
    expires_at: datetime,
    remind_at: datetime | None,
    now: str,
) -> tuple[ApprovalRow, bool]:
    """Create the approval for a step (once); return it and whether it is new."""
    inserted = conn.execute(
        "INSERT INTO approvals (run_id, step_key, case_id, action, target, reason, message, requester, policy,"
        " required, critical, status, expires_at, remind_at, created_at) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (run_id, step_key) DO NOTHING RETURNING id",
        (
            run_id,
            step_key,
            case_id,
            action,
            target,
            reason,
            message,
            requester,
            orjson.dumps(policy).decode(),
            required,
            int(critical),
            format_time(expires_at),
            None if remind_at is None else format_time(remind_at),
            now,
        ),
    ).fetchone()
    query = f"SELECT {_COLUMNS} FROM approvals WHERE run_id IS ? AND step_key = ?"  # noqa: S608 - constant
    row = conn.execute(query, (run_id, step_key)).fetchone()
    return _row(row), inserted is not None


def get_tx(conn: Tx, approval_id: int) -> ApprovalRow | None:
    """One approval, inside a writer job."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)).fetchone()  # noqa: S608
    return None if row is None else _row(row)


async def get(db: Reader, approval_id: int) -> ApprovalRow | None:
    """One approval."""
    async with db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return None if row is None else _row(row)


async def for_step(db: Reader, run_id: int, step_key: str) -> ApprovalRow | None:
    """The approval of one run step."""
    query = f"SELECT {_COLUMNS} FROM approvals WHERE run_id = ? AND step_key = ?"  # noqa: S608
    async with db.execute(query, (run_id, step_key)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _row(row)


async def pending(db: Reader, *, case_id: int | None = None) -> list[ApprovalRow]:
    """Undecided approvals, oldest first."""
    where, args = ("status = 'pending'", ()) if case_id is None else ("status = 'pending' AND case_id = ?", (case_id,))
    query = f"SELECT {_COLUMNS} FROM approvals WHERE {where} ORDER BY id"  # noqa: S608 - constant parts
    async with db.execute(query, args) as cursor:
        return [_row(r) for r in await cursor.fetchall()]


async def due(db: Reader, now: str) -> list[ApprovalRow]:
    """Pending approvals that have expired or whose reminder is due."""
    query = (
        f"SELECT {_COLUMNS} FROM approvals WHERE status = 'pending' AND (expires_at <= ? OR remind_at <= ?)"  # noqa: S608
        " ORDER BY id"
    )
    async with db.execute(query, (now, now)) as cursor:
        return [_row(r) for r in await cursor.fetchall()]


def add_vote_tx(conn: Tx, approval_id: int, user_id: str, vote: Decision, reason: str | None, now: str) -> bool:
    """Record one user's vote (a user votes once); True when it is new."""
    cursor = conn.execute(
        "INSERT INTO votes (approval_id, user_id, vote, reason, at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (approval_id, user_id) DO NOTHING",
        (approval_id, user_id, str(vote), reason, now),
    )
    return cursor.rowcount == 1


def approvals_count_tx(conn: Tx, approval_id: int) -> list[str]:
    """Who has voted to approve, in order."""
    rows = conn.execute(
        "SELECT user_id FROM votes WHERE approval_id = ? AND vote = 'approve' ORDER BY at, user_id", (approval_id,)
    ).fetchall()
    return [r[0] for r in rows]


async def votes(db: Reader, approval_id: int) -> list[tuple[str, Decision, str | None, str]]:
    """``(user, vote, reason, at)`` for an approval."""
    query = "SELECT user_id, vote, reason, at FROM votes WHERE approval_id = ? ORDER BY at, user_id"
    async with db.execute(query, (approval_id,)) as cursor:
        return [(r[0], Decision(r[1]), r[2], r[3]) for r in await cursor.fetchall()]


def decide_tx(
    conn: Tx,
    approval_id: int,
    status: ApprovalStatus,
    outcome: Decision,
    by: str,
    at: str,
    reason: str | None,
) -> bool:
    """Decide a pending approval; False when it was already decided (the first decision stands)."""
    cursor = conn.execute(
        "UPDATE approvals SET status = ?, outcome = ?, decided_by = ?, decided_at = ?, decision_reason = ?,"
        " remind_at = NULL WHERE id = ? AND status = 'pending'",
        (str(status), str(outcome), by, at, reason, approval_id),
    )
    return cursor.rowcount == 1


def reschedule_tx(conn: Tx, approval_id: int, remind_at: datetime | None, escalation_level: int) -> None:
    """Set the next reminder and the escalation level of a pending approval."""
    conn.execute(
        "UPDATE approvals SET remind_at = ?, escalation_level = ? WHERE id = ? AND status = 'pending'",
        (None if remind_at is None else format_time(remind_at), escalation_level, approval_id),
    )


async def for_run(db: Reader, run_id: int) -> list[ApprovalRow]:
    """Every approval a run asked for, in order."""
    query = f"SELECT {_COLUMNS} FROM approvals WHERE run_id = ? ORDER BY id"  # noqa: S608 - constant columns
    async with db.execute(query, (run_id,)) as cursor:
        return [_row(r) for r in await cursor.fetchall()]
