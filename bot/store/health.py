"""The readiness probe's write."""

from __future__ import annotations

from bot.store.tx import Tx


def probe_write_tx(conn: Tx, now: str) -> None:
    """Rewrite the one readiness row: committed and synced like any other write, or it fails like one."""
    conn.execute("INSERT INTO readiness (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at", (now,))
