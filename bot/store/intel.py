"""The threat-intel cache and per-case verdicts.

Cache keys are ``(connector, credential_id, kind, value)``; rows expire at ``expires_at`` (answers that found
nothing are kept for less time than answers that did). Reads take one query for any number of keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from bot.store.db import Reader
from bot.store.tx import Tx

CacheKey = tuple[str, str, str, str]
"""``(connector, credential_id, kind, value)``."""


async def cached_verdicts(db: Reader, keys: Iterable[CacheKey], now: str) -> dict[CacheKey, Verdict]:
    """Unexpired cached verdicts for ``keys``."""
    query = (
        "SELECT c.connector, c.credential_id, c.kind, c.value, c.verdict FROM json_each(?) AS k"
        " JOIN intel_cache AS c ON c.connector = k.value ->> 0 AND c.credential_id = k.value ->> 1"
        " AND c.kind = k.value ->> 2 AND c.value = k.value ->> 3 WHERE c.expires_at > ?"
    )
    async with db.execute(query, (orjson.dumps(list(keys)).decode(), now)) as cursor:
        rows = await cursor.fetchall()
    return {(r[0], r[1], r[2], r[3]): Verdict.from_dict(orjson.loads(r[4])) for r in rows}


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One verdict to cache until ``expires_at``."""

    key: CacheKey
    verdict: Verdict
    fetched_at: str
    expires_at: str


def put_cache_tx(conn: Tx, batches: list[list[CacheEntry]]) -> list[None]:
    """Upsert cache entries (a batched writer job: one statement for all queued batches)."""
    rows = [
        [*entry.key, orjson.dumps(entry.verdict.to_dict()).decode(), entry.fetched_at, entry.expires_at]
        for batch in batches
        for entry in batch
    ]
    if rows:
        conn.execute(
            "INSERT INTO intel_cache (connector, credential_id, kind, value, verdict, fetched_at, expires_at)"
            " SELECT v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6 FROM (SELECT value AS v FROM"
            " json_each(?)) WHERE true ON CONFLICT DO UPDATE SET verdict = excluded.verdict,"
            " fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
            (orjson.dumps(rows).decode(),),
        )
    return [None] * len(batches)


def purge_cache_tx(conn: Tx, now: str) -> int:
    """Delete expired cache rows; return how many."""
    return conn.execute("DELETE FROM intel_cache WHERE expires_at <= ?", (now,)).rowcount


@dataclass(frozen=True, slots=True)
class CaseVerdict:
    """The merged verdict of one indicator on one case, with its per-source report."""

    case_id: int
    kind: ObservableKind
    value: str
    level: VerdictLevel
    score: int
    report: Mapping[str, Any]
    enriched_at: str


def put_case_verdicts_tx(conn: Tx, verdicts: Sequence[CaseVerdict]) -> None:
    """Store (replace) the merged verdicts of indicators on their cases."""
    rows = [
        [v.case_id, str(v.kind), v.value, str(v.level), v.score, orjson.dumps(v.report).decode(), v.enriched_at]
        for v in verdicts
    ]
    if rows:
        conn.execute(
            "INSERT OR REPLACE INTO case_verdicts (case_id, kind, value, level, score, report, enriched_at)"
            " SELECT v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6 FROM (SELECT value AS v FROM"
            " json_each(?))",
            (orjson.dumps(rows).decode(),),
        )


async def case_verdicts(db: Reader, case_id: int) -> list[CaseVerdict]:
    """The merged verdicts of a case's indicators, worst first."""
    query = (
        "SELECT case_id, kind, value, level, score, report, enriched_at FROM case_verdicts WHERE case_id = ?"
        " ORDER BY score DESC, kind, value"
    )
    async with db.execute(query, (case_id,)) as cursor:
        rows = await cursor.fetchall()
    return [
        CaseVerdict(r[0], ObservableKind(r[1]), r[2], VerdictLevel(r[3]), r[4], orjson.loads(r[5]), r[6]) for r in rows
    ]


async def unenriched_observables(db: Reader, *, limit: int = 5000) -> list[tuple[int, Observable]]:
    """Indicators of open cases that have no verdict yet (after a restart, their enrichment is redone)."""
    query = (
        "SELECT o.case_id, o.kind, o.value, o.role, o.internal FROM observables AS o"
        " JOIN cases AS c ON c.id = o.case_id AND c.status != 'closed'"
        " WHERE NOT EXISTS (SELECT 1 FROM case_verdicts AS v WHERE v.case_id = o.case_id AND v.kind = o.kind"
        " AND v.value = o.value) GROUP BY o.case_id, o.kind, o.value LIMIT ?"
    )
    async with db.execute(query, (limit,)) as cursor:
        rows = await cursor.fetchall()
    return [(r[0], Observable(ObservableKind(r[1]), r[2], r[3], bool(r[4]))) for r in rows]
