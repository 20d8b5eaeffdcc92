"""The store seam: what services see of the database, so that a second backend can stand behind it.

Services never name a driver. They hand :class:`UnitOfWork.write` a *job*, a plain function of one :class:`Tx`
(an open transaction), and call the repository functions of ``bot.store`` inside it (``*_tx``); reads go
through ``UnitOfWork.reader``. The SQLite :class:`bot.store.db.Database` implements this with one writer thread
and group commit; ``sqlite3.Connection`` is a :class:`Tx` as it is.

Assumptions that hold today only because one thread writes, and where they live (a backend with concurrent
writers must honour each one where it says so):

- **Ids are handed out as ``max(id) + 1``** (``bot.store.cases.next_ids_tx``): a second writer needs identity
  columns (or a sequence) instead, and the ingest job must read the ids it was given back.
- **A case's hash chain is extended by reading its head and appending after it**
  (``bot.store.cases.timeline_heads_tx``, ``append_event_tx``, ``TimelineWriter``): every append first calls
  :func:`bot.store.cases.lock_cases_tx`, a no-op here, which a concurrent backend implements as a row lock on
  the cases (``SELECT … FOR UPDATE``), so two writers never chain onto the same head.
- **Grouping reads the open case per fingerprint, then inserts** (``bot.store.cases.open_cases_tx``): two writers
  could open two cases for one fingerprint; the same per-fingerprint lock (or a unique partial index on open
  cases' fingerprints with retry) is needed.
- **Feed positions are in commit order** (migration 0006): positions come from the appending transaction, which
  is the only one running. With concurrent writers a position must be taken under the same lock as the chain,
  or readers could pass a position that commits late.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from bot.store.db import Reader

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - item type of a batched job
R = TypeVar("R")


class TxCursor(Protocol):
    """The result of one statement inside a transaction."""

    @property
    def rowcount(self) -> int:
        """Rows changed by an INSERT, UPDATE or DELETE."""
        ...

    @property
    def lastrowid(self) -> int | None:
        """The id of the row an INSERT made."""
        ...

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...


class Tx(Protocol):
    """One open transaction, as a write job sees it (repository functions take it as ``conn``)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> TxCursor:
        """Run one statement with positional parameters."""
        ...


Job = Callable[[Tx], T]
BatchJob = Callable[[Tx, list[I]], list[R]]


class UnitOfWork(Protocol):
    """The database as services use it: durable write jobs, a reader, and a wake-up after each commit."""

    async def write(self, job: Callable[[Tx], T]) -> T:
        """Run ``job`` in a transaction; return its result once the transaction is durably committed."""
        ...

    async def write_batched(self, job: Callable[[Tx, list[I]], list[R]], item: I) -> R:
        """Like :meth:`write`, with every queued item of the same ``job`` handled by one call."""
        ...

    @property
    def reader(self) -> Reader:
        """Reads, one statement at a time, each in a fresh snapshot."""
        ...

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each commit (the event feed's wake-up)."""
        ...
