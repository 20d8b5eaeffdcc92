"""The writer: migrations, group commit, per-job isolation, and failure as StoreUnavailable."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.errors import StoreUnavailable
from bot.store.db import Database, migrations


async def test_migrations_set_user_version_and_wal(db: Database) -> None:
    async with db.reader.execute("PRAGMA user_version") as cursor:
        (version,) = await cursor.fetchone()  # type: ignore[misc]
    assert version == migrations()[-1][0]
    async with db.reader.execute("PRAGMA journal_mode") as cursor:
        (mode,) = await cursor.fetchone()  # type: ignore[misc]
    assert mode == "wal"


async def test_reopen_does_not_reapply_migrations(tmp_path: Path) -> None:
    for _ in range(2):
        database = Database(tmp_path / "x.db")
        await database.open()
        await database.close()


async def test_concurrent_writes_are_committed_in_batches(db: Database) -> None:
    def job(n: int):
        return lambda conn: conn.execute(
            "INSERT INTO cases (title, status, severity, source, rule, fingerprint, first_seen, last_seen,"
            " created_at, updated_at) VALUES (?, 'new', 'low', 's', 'r', 'f', 't', 't', 't', 't') RETURNING id",
            (f"case {n}",),
        ).fetchone()[0]

    ids = await asyncio.gather(*(db.write(job(n)) for n in range(200)))
    assert len(set(ids)) == 200
    # Group commit: 200 concurrent writers needed far fewer transactions than writers.
    assert db.batches < 50
    async with db.reader.execute("SELECT count(*) FROM cases") as cursor:
        (count,) = await cursor.fetchone()  # type: ignore[misc]
    assert count == 200


async def test_failing_job_is_isolated_from_its_batch(db: Database) -> None:
    def good(conn: sqlite3.Connection) -> int:
        conn.execute(
            "INSERT INTO cases (title, status, severity, source, rule, fingerprint, first_seen, last_seen,"
            " created_at, updated_at) VALUES ('ok', 'new', 'low', 's', 'r', 'f', 't', 't', 't', 't')"
        )
        return 1

    def bad(conn: sqlite3.Connection) -> int:
        good(conn)  # this insert must be rolled back with the failing job
        raise ValueError("boom")

    results = await asyncio.gather(db.write(good), db.write(bad), db.write(good), return_exceptions=True)
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], ValueError)
    async with db.reader.execute("SELECT count(*) FROM cases") as cursor:
        (count,) = await cursor.fetchone()  # type: ignore[misc]
    assert count == 2


async def test_locked_database_raises_store_unavailable(tmp_path: Path) -> None:
    database = Database(tmp_path / "locked.db", busy_timeout=timedelta(milliseconds=50))
    await database.open()
    blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            await database.write(lambda conn: conn.execute("DELETE FROM cases"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # Once the lock is gone the writer works again.
    assert await database.write(lambda conn: 7) == 7
    await database.close()


async def test_timeline_rejects_updates_and_deletes(db: Database) -> None:
    def tamper(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO cases (id, title, status, severity, source, rule, fingerprint, first_seen, last_seen,"
            " created_at, updated_at) VALUES (1, 'c', 'new', 'low', 's', 'r', 'f', 't', 't', 't', 't')"
        )
        conn.execute("INSERT INTO timeline VALUES (1, 1, 'x', 't', 'a', '{}', 'p', 'h')")
        conn.execute("UPDATE timeline SET data = '{\"x\": 1}'")

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await db.write(tamper)


async def test_batched_items_share_one_call_and_a_bad_item_fails_alone(db: Database) -> None:
    calls: list[list[int]] = []

    def insert(conn: sqlite3.Connection, items: list[int]) -> list[int]:
        calls.append(list(items))
        for n in items:
            if n == 13:
                raise ValueError("unlucky")
            conn.execute(
                "INSERT INTO cases (title, status, severity, source, rule, fingerprint, first_seen, last_seen,"
                " created_at, updated_at) VALUES (?, 'new', 'low', 's', 'r', 'f', 't', 't', 't', 't')",
                (f"case {n}",),
            )
        return [n * 10 for n in items]

    results = await asyncio.gather(*(db.write_batched(insert, n) for n in range(20)), return_exceptions=True)
    assert isinstance(results[13], ValueError)
    assert [r for i, r in enumerate(results) if i != 13] == [n * 10 for n in range(20) if n != 13]
    assert len(calls[0]) > 1  # merged first, then retried one by one after the failure
    async with db.reader.execute("SELECT count(*) FROM cases") as cursor:
        (count,) = await cursor.fetchone()  # type: ignore[misc]
    assert count == 19  # the merged attempt left nothing behind; every good item was written once


async def test_batched_job_with_wrong_result_count_writes_nothing(db: Database) -> None:
    def broken(conn: sqlite3.Connection, items: list[int]) -> list[int]:
        conn.execute(
            "INSERT INTO cases (title, status, severity, source, rule, fingerprint, first_seen, last_seen,"
            " created_at, updated_at) VALUES ('x', 'new', 'low', 's', 'r', 'f', 't', 't', 't', 't')"
        )
        return []

    with pytest.raises(RuntimeError, match="returned 0 results"):
        await db.write_batched(broken, 1)
    async with db.reader.execute("SELECT count(*) FROM cases") as cursor:
        (count,) = await cursor.fetchone()  # type: ignore[misc]
    assert count == 0


async def test_a_read_after_a_commit_sees_it_even_while_others_read(db: Database) -> None:
    stop = asyncio.Event()

    async def poll() -> None:  # other coroutines reading all the time, as the app's tasks do
        while not stop.is_set():
            async with db.reader.execute("SELECT count(*) FROM cases") as cursor:
                await asyncio.sleep(0)
                await cursor.fetchone()

    pollers = [asyncio.create_task(poll()) for _ in range(3)]
    missed = 0
    try:
        for n in range(100):
            case_id = await db.write(
                lambda conn, n=n: conn.execute(
                    "INSERT INTO cases (title, status, severity, source, rule, fingerprint, first_seen, last_seen,"
                    " created_at, updated_at) VALUES (?, 'new', 'low', 's', 'r', 'f', 't', 't', 't', 't') RETURNING id",
                    (f"c{n}",),
                ).fetchone()[0]
            )
            async with db.reader.execute("SELECT id FROM cases WHERE id = ?", (case_id,)) as cursor:
                missed += (await cursor.fetchone()) is None
    finally:
        stop.set()
        await asyncio.gather(*pollers)
    assert missed == 0
