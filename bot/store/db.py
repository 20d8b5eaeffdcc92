"""The database owner: migrations, one group-committing writer, and a reader connection.

Every write is a *job*, a plain function ``(sqlite3.Connection) -> T`` that runs inside a transaction on the
writer's own thread. The writer drains whatever jobs are queued, runs each in its own savepoint (one failing
job does not sink its neighbours) and commits them together: one fsync for a batch instead of one per
request, and a job's awaiter hears back only after that commit is durable.

aiosqlite would cost a thread hop per statement; a job that needs a dozen statements would pay a dozen.
So the writer owns a stdlib ``sqlite3`` connection on a dedicated single thread, and reads go through
aiosqlite.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.core.errors import StoreUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - item type of a batched job
R = TypeVar("R")
Job = Callable[[sqlite3.Connection], T]
BatchJob = Callable[[sqlite3.Connection, list[I]], list[R]]


@dataclass(slots=True)
class _Pending:
    job: Job[Any] | None
    future: asyncio.Future[Any] = field(repr=False)
    batch_job: BatchJob[Any, Any] | None = None
    item: Any = None


class Reader:
    """The read connection, one statement at a time.

    aiosqlite shares one connection between coroutines. A statement whose cursor is still open keeps its read
    snapshot, and another coroutine's query slipped in between ``execute`` and ``fetch`` would run in that old
    snapshot and miss a row committed a moment ago. Holding a lock from ``execute`` until the cursor is closed
    gives every read a fresh snapshot.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> AsyncIterator[aiosqlite.Cursor]:
        """Run one query; the cursor is closed (and the snapshot released) when the block ends."""
        async with self._lock:
            cursor = await self._conn.execute(sql, tuple(parameters))
            try:
                yield cursor
            finally:
                await cursor.close()


def migrations() -> list[tuple[int, str]]:
    """The packaged migrations, ``(version, sql)`` in order."""
    folder = resources.files("bot.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    """Owns the SQLite file: call :meth:`open`, then :meth:`write` and :meth:`reader`, then :meth:`close`."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "full",
        busy_timeout: timedelta = timedelta(seconds=5),
        max_batch: int = 256,
    ) -> None:
        self.path = path
        self._synchronous = synchronous.upper()
        self._busy_ms = int(busy_timeout.total_seconds() * 1000)
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soarbot-writer")
        self._writer: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._read: Reader | None = None
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._loop_task: asyncio.Task[None] | None = None
        self.batches = 0
        self.jobs = 0
        self._committed: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the event loop, cheaply) after each committed batch: the feed's wake-up."""
        self._committed.append(listener)

    async def open(self) -> None:
        """Create the file if needed, apply migrations, start the writer and open the reader."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        try:
            self._writer = await loop.run_in_executor(self._executor, self._open_writer)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open database {self.path}: {err}") from err
        self._reader = await aiosqlite.connect(self.path)
        self._reader.row_factory = aiosqlite.Row
        await self._reader.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        await self._reader.execute("PRAGMA query_only = ON")
        self._read = Reader(self._reader)
        self._loop_task = asyncio.create_task(self._run(), name="store-writer")

    def _open_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        self._migrate(conn)
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        for version, sql in migrations():
            if version <= current:
                continue
            logger.info("Applying database migration %04d", version)
            # executescript commits first, so wrap the script and the version bump in one transaction.
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")

    async def close(self) -> None:
        """Finish queued writes, then close both connections."""
        if self._loop_task is not None:
            await self._queue.join()
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
            # A job queued while the writer stopped would wait forever: tell its awaiter instead.
            while not self._queue.empty():
                late = self._queue.get_nowait()
                if not late.future.done():
                    late.future.set_exception(StoreUnavailable("the database was closed"))
                self._queue.task_done()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
            self._read = None
        if self._writer is not None:
            writer = self._writer
            self._writer = None
            await asyncio.get_running_loop().run_in_executor(self._executor, writer.close)
        self._executor.shutdown(wait=True)

    async def write(self, job: Job[T]) -> T:
        """Run ``job`` in a transaction with whatever else is queued; return once it is committed.

        Raises:
            StoreUnavailable: the batch could not be committed (disk full, locked, read-only).
            Exception: whatever ``job`` itself raised (its savepoint was rolled back).

        """
        if self._loop_task is None:
            raise StoreUnavailable("the database is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, future))
        return await future

    async def write_batched(self, job: BatchJob[I, R], item: I) -> R:
        """Like :meth:`write`, but every queued item of the same ``job`` is handled by one call.

        ``job(conn, items)`` must return one result per item, in order. Set-based jobs touch the database with
        a few statements per batch instead of a few per item; that matters because every SQLite step releases
        the GIL and getting it back from a busy event loop is what limits a threaded writer. If the merged call
        raises, each item is retried alone in its own savepoint, so one bad item fails only its own awaiter.
        """
        if self._loop_task is None:
            raise StoreUnavailable("the database is not open")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(None, future, job, item))
        return await future

    @property
    def reader(self) -> Reader:
        """The read connection (``query_only``), one statement at a time."""
        if self._read is None:
            raise StoreUnavailable("the database is not open")
        return self._read

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await loop.run_in_executor(self._executor, self._commit, batch)
            except sqlite3.Error as err:
                # One line with the cause; the traceback of a failed COMMIT says nothing more.
                logger.error("Database write failed for a batch of %d: %s", len(batch), err)  # noqa: TRY400
                failure = StoreUnavailable("the database cannot be written right now")
                outcomes = [(False, failure)] * len(batch)
            else:
                for listener in self._committed:
                    listener()
            for pending, (ok, value) in zip(batch, outcomes, strict=True):
                if pending.future.done():  # the awaiting request went away; its work is committed anyway
                    continue
                if ok:
                    pending.future.set_result(value)
                else:
                    pending.future.set_exception(value)
            self.batches += 1
            self.jobs += len(batch)
            for _ in batch:
                self._queue.task_done()

    def _commit(self, batch: list[_Pending]) -> list[tuple[bool, Any]]:
        conn = self._writer
        assert conn is not None
        outcomes: dict[int, tuple[bool, Any]] = {}
        merged: dict[BatchJob[Any, Any], list[int]] = {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            for index, pending in enumerate(batch):
                if pending.batch_job is not None:
                    merged.setdefault(pending.batch_job, []).append(index)
                else:
                    assert pending.job is not None
                    outcomes[index] = self._in_savepoint(conn, partial(pending.job, conn))
            for batch_job, indexes in merged.items():
                items = [batch[i].item for i in indexes]
                ok, value = self._in_savepoint(conn, partial(_run_batch_job, batch_job, conn, items))
                if ok:
                    outcomes.update((i, (True, v)) for i, v in zip(indexes, value, strict=True))
                    continue
                for i in indexes:  # isolate the failing item
                    single = self._in_savepoint(conn, partial(_run_batch_job, batch_job, conn, [batch[i].item]))
                    outcomes[i] = (True, single[1][0]) if single[0] else single
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return [outcomes[i] for i in range(len(batch))]

    @staticmethod
    def _in_savepoint(conn: sqlite3.Connection, call: Callable[[], Any]) -> tuple[bool, Any]:
        conn.execute("SAVEPOINT job")
        try:
            value = call()
        except Exception as err:  # noqa: BLE001 - the job's own error goes back to its awaiter
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return False, _translate(err)
        conn.execute("RELEASE job")
        return True, value


def _run_batch_job(job: BatchJob[Any, Any], conn: sqlite3.Connection, items: list[Any]) -> list[Any]:
    results = job(conn, items)
    if len(results) != len(items):  # checked inside the savepoint, so a faulty job leaves nothing behind
        raise RuntimeError(f"batch job {job!r} returned {len(results)} results for {len(items)} items")
    return results


def _translate(err: Exception) -> Exception:
    """Storage trouble inside a job (disk full, I/O error) means "retry later", not "your input is bad"."""
    if isinstance(err, sqlite3.Error) and not isinstance(err, sqlite3.IntegrityError):
        logger.error("Database error inside a write job: %s", err)
        failure = StoreUnavailable("the database cannot be written right now")
        failure.__cause__ = err
        return failure
    return err
