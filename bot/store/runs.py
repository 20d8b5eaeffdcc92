"""Playbook runs, their step results, and containment actions (attempt recorded before the call).

Writes (``*_tx``) run inside writer jobs; reads go through the aiosqlite reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from bot.core.models import ActionStatus, RunStatus, StepStatus, parse_time
from bot.store.db import Reader
from bot.store.tx import Tx


@dataclass(frozen=True, slots=True)
class RunRow:
    """A playbook run as stored."""

    id: int
    playbook: str
    version: int
    case_id: int | None
    alert_id: int | None
    status: RunStatus
    context: dict[str, Any]
    requester: str
    error: str | None


@dataclass(frozen=True, slots=True)
class StepRow:
    """The stored outcome of one step (or one for_each item)."""

    step_key: str
    status: StepStatus
    result: Any
    attempts: int
    error: str | None


@dataclass(frozen=True, slots=True)
class ActionRow:
    """A containment action: attempted before the vendor call, finished after it."""

    id: int
    idempotency_key: str
    run_id: int | None
    step_key: str
    case_id: int | None
    action: str
    connector: str
    target: str
    status: ActionStatus
    result: dict[str, Any] | None
    undo: dict[str, Any] | None
    revert_at: datetime | None


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_run_tx(
    conn: Tx,
    *,
    playbook: str,
    version: int,
    case_id: int | None,
    alert_id: int | None,
    trigger_key: str,
    context: dict[str, Any],
    requester: str,
    now: str,
) -> int | None:
    """Start a run; None when this playbook already ran for ``trigger_key``."""
    row = conn.execute(
        "INSERT INTO runs (playbook, version, case_id, alert_id, trigger_key, status, context, requester,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)"
        " ON CONFLICT (playbook, trigger_key) DO NOTHING RETURNING id",
        (playbook, version, case_id, alert_id, trigger_key, _dumps(context), requester, now, now),
    ).fetchone()
    return None if row is None else int(row[0])


def set_run_status_tx(conn: Tx, run_id: int, status: RunStatus, now: str, error: str | None = None) -> None:
    """Move a run to ``status``."""
    conn.execute(
        "UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE id = ?", (str(status), error, now, run_id)
    )


def put_step_tx(
    conn: Tx,
    run_id: int,
    step_key: str,
    status: StepStatus,
    result: Any,
    now: str,
    *,
    attempts: int = 1,
    error: str | None = None,
) -> None:
    """Record (or replace) a step's outcome."""
    conn.execute(
        "INSERT OR REPLACE INTO run_steps (run_id, step_key, status, result, attempts, error, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, step_key, str(status), _dumps(result), attempts, error, now),
    )


_RUN_COLUMNS = "id, playbook, version, case_id, alert_id, status, context, requester, error"


def _run(row: Any) -> RunRow:
    return RunRow(row[0], row[1], row[2], row[3], row[4], RunStatus(row[5]), orjson.loads(row[6]), row[7], row[8])


async def get_run(db: Reader, run_id: int) -> RunRow | None:
    """One run."""
    async with db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return None if row is None else _run(row)


async def runs_with_status(db: Reader, status: RunStatus) -> list[RunRow]:
    """Runs in one status, oldest first."""
    query = f"SELECT {_RUN_COLUMNS} FROM runs WHERE status = ? ORDER BY id"  # noqa: S608 - constant columns
    async with db.execute(query, (str(status),)) as cursor:
        return [_run(row) for row in await cursor.fetchall()]


async def case_runs(db: Reader, case_id: int) -> list[RunRow]:
    """The runs of one case."""
    query = f"SELECT {_RUN_COLUMNS} FROM runs WHERE case_id = ? ORDER BY id"  # noqa: S608 - constant columns
    async with db.execute(query, (case_id,)) as cursor:
        return [_run(row) for row in await cursor.fetchall()]


async def steps(db: Reader, run_id: int) -> dict[str, StepRow]:
    """Every recorded step outcome of a run, by step key."""
    query = "SELECT step_key, status, result, attempts, error FROM run_steps WHERE run_id = ?"
    async with db.execute(query, (run_id,)) as cursor:
        rows = await cursor.fetchall()
    return {r[0]: StepRow(r[0], StepStatus(r[1]), orjson.loads(r[2]), r[3], r[4]) for r in rows}


def begin_action_tx(
    conn: Tx,
    *,
    key: str,
    run_id: int | None,
    step_key: str,
    case_id: int | None,
    action: str,
    connector: str,
    target: str,
    now: str,
) -> ActionRow | None:
    """Record that an action is about to be attempted; return the earlier record if the key was used before."""
    inserted = conn.execute(
        "INSERT INTO actions (idempotency_key, run_id, step_key, case_id, action, connector, target, status,"
        " attempted_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'attempted', ?) ON CONFLICT (idempotency_key) DO NOTHING"
        " RETURNING id",
        (key, run_id, step_key, case_id, action, connector, target, now),
    ).fetchone()
    if inserted is not None:
        return None
    return action_by_key_tx(conn, key)


def action_by_key_tx(conn: Tx, key: str) -> ActionRow | None:
    """An action by idempotency key."""
    row = conn.execute(f"SELECT {_ACTION_COLUMNS} FROM actions WHERE idempotency_key = ?", (key,)).fetchone()  # noqa: S608
    return None if row is None else _action(row)


def finish_action_tx(
    conn: Tx,
    key: str,
    status: ActionStatus,
    result: dict[str, Any],
    now: str,
    *,
    undo: dict[str, Any] | None = None,
    revert_at: str | None = None,
) -> None:
    """Record an action's outcome."""
    conn.execute(
        "UPDATE actions SET status = ?, result = ?, undo = ?, revert_at = ?, finished_at = ? WHERE idempotency_key = ?",
        (str(status), _dumps(result), None if undo is None else _dumps(undo), revert_at, now, key),
    )


def claim_revert_tx(conn: Tx, action_id: int) -> bool:
    """Claim a done action for undoing (compare-and-set), so only one undo calls the vendor."""
    cursor = conn.execute("UPDATE actions SET status = 'reverting' WHERE id = ? AND status = 'done'", (action_id,))
    return cursor.rowcount == 1


def release_revert_tx(conn: Tx, action_id: int, retry_at: str | None) -> None:
    """An undo failed: the action is done again, and a TTL undo is tried again at ``retry_at``."""
    conn.execute(
        "UPDATE actions SET status = 'done', revert_at = CASE WHEN revert_at IS NULL THEN NULL ELSE ? END,"
        " result = json_set(coalesce(result, '{}'), '$.revert_failures',"
        " coalesce(json_extract(result, '$.revert_failures'), 0) + 1) WHERE id = ? AND status = 'reverting'",
        (retry_at, action_id),
    )


def mark_reverted_tx(conn: Tx, action_id: int, result: dict[str, Any], now: str) -> bool:
    """Mark a claimed (or done) action as reverted (compare-and-set: only once)."""
    cursor = conn.execute(
        "UPDATE actions SET status = 'reverted', revert_at = NULL, result = json_set(coalesce(result, '{}'),"
        " '$.revert', json(?)), finished_at = ? WHERE id = ? AND status IN ('done', 'reverting')",
        (_dumps(result), now, action_id),
    )
    return cursor.rowcount == 1


_ACTION_COLUMNS = (
    "id, idempotency_key, run_id, step_key, case_id, action, connector, target, status, result, undo, revert_at"
)


def _action(row: Any) -> ActionRow:
    return ActionRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        ActionStatus(row[8]),
        orjson.loads(row[9]) if row[9] else None,
        orjson.loads(row[10]) if row[10] else None,
        None if row[11] is None else parse_time(row[11]),
    )


async def get_action(db: Reader, action_id: int) -> ActionRow | None:
    """One action."""
    async with db.execute(f"SELECT {_ACTION_COLUMNS} FROM actions WHERE id = ?", (action_id,)) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return None if row is None else _action(row)


async def due_reverts(db: Reader, now: str) -> list[ActionRow]:
    """Done actions whose TTL has run out."""
    query = (
        f"SELECT {_ACTION_COLUMNS} FROM actions WHERE status = 'done' AND revert_at IS NOT NULL"  # noqa: S608
        " AND revert_at <= ? ORDER BY revert_at"
    )
    async with db.execute(query, (now,)) as cursor:
        return [_action(row) for row in await cursor.fetchall()]


async def count_actions(db: Reader, *, case_id: int | None = None) -> int:
    """How many actions were attempted (optionally for one case)."""
    query, args = (
        ("SELECT count(*) FROM actions", ())
        if case_id is None
        else ("SELECT count(*) FROM actions WHERE case_id = ?", (case_id,))
    )
    async with db.execute(query, args) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0
