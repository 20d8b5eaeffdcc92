"""EnrichmentService: every applicable intel lookup for a set of indicators, concurrently, under one deadline.

For each indicator it asks every lookup that handles its kind, except that an indicator marked internal
(private, loopback, link-local, reserved addresses) or under a configured internal domain is never given to an
external lookup. Cached answers are used unless a refresh is asked for. A lookup that fails or misses the
deadline is reported as a failure next to the answers that did arrive; nothing is hidden. The answers merge
into one verdict per indicator: an authoritative local list decides alone; otherwise the worst level wins and
the score is the highest given at that level.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from bot.core.errors import ConnectorAuthError, ConnectorError
from bot.core.events import IndicatorsEnriched, TechniquesIdentified
from bot.core.models import Observable, ObservableKind, format_time, utcnow
from bot.core.ports import IntelLookup, TechniqueCatalog, Verdict, VerdictLevel
from bot.store import cases as cases_repo
from bot.store import intel as store
from bot.store.tx import Tx, UnitOfWork

logger = logging.getLogger(__name__)

TECHNIQUE_TEXT_LIMIT = 65536
BATCH = 64  # queued alerts one enrichment worker takes at once


@dataclass(frozen=True, slots=True)
class Failure:
    """A source that could not answer, and why (safe to show)."""

    source: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """Plain JSON form."""
        return {"source": self.source, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class IndicatorReport:
    """Everything known about one indicator: the merged verdict and each source's part in it."""

    observable: Observable
    level: VerdictLevel
    score: int
    verdicts: tuple[Verdict, ...] = ()
    failures: tuple[Failure, ...] = ()
    skipped: tuple[Failure, ...] = ()
    cached: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "indicator": self.observable.to_dict(),
            "level": str(self.level),
            "score": self.score,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "failures": [f.to_dict() for f in self.failures],
            "skipped": [s.to_dict() for s in self.skipped],
            "cached": list(self.cached),
        }


def merge(verdicts: Sequence[Verdict]) -> tuple[VerdictLevel, int]:
    """Merge source verdicts into one level and score (see the module docstring)."""
    authoritative = [v for v in verdicts if v.authoritative]
    if authoritative:
        # An allow-list entry is a human decision: it beats a block-list entry and every vendor.
        decisive = [v for v in authoritative if v.level is VerdictLevel.BENIGN] or authoritative
        return decisive[0].level, max(v.score for v in decisive)
    if not verdicts:
        return VerdictLevel.UNKNOWN, 0
    level = max((v.level for v in verdicts), key=lambda level: level.rank)
    return level, max(v.score for v in verdicts if v.level is level)


@dataclass(slots=True)
class _Plan:
    observable: Observable
    ask: list[IntelLookup] = field(default_factory=list)
    skipped: list[Failure] = field(default_factory=list)


class EnrichmentService:
    """Looks indicators up across every configured intel source."""

    def __init__(
        self,
        lookups: Sequence[IntelLookup],
        db: UnitOfWork | None,
        *,
        deadline: timedelta = timedelta(seconds=10),
        cache_ttl: timedelta = timedelta(hours=24),
        negative_ttl: timedelta = timedelta(hours=1),
        internal_domains: Sequence[str] = (),
    ) -> None:
        self._lookups = list(lookups)
        self._db = db
        self._deadline = deadline.total_seconds()
        self._cache_ttl = cache_ttl
        self._negative_ttl = negative_ttl
        self._internal_domains = tuple(d.lower().strip(".") for d in internal_domains)
        # Single flight: concurrent requests for the same lookup share one vendor call.
        self._in_flight: dict[store.CacheKey, asyncio.Task[Verdict]] = {}

    @property
    def sources(self) -> list[str]:
        """Names of the configured lookups."""
        return [lookup.name for lookup in self._lookups]

    def is_internal(self, observable: Observable) -> bool:
        """True when the indicator must stay on this machine."""
        if observable.internal:
            return True
        if observable.kind in (ObservableKind.DOMAIN, ObservableKind.HOST, ObservableKind.EMAIL, ObservableKind.URL):
            host = _host_part(observable)
            return any(host == d or host.endswith("." + d) for d in self._internal_domains)
        return False

    def _plan(self, observable: Observable) -> _Plan:
        plan = _Plan(observable)
        internal = self.is_internal(observable)
        for lookup in self._lookups:
            if observable.kind not in lookup.kinds:
                continue
            if internal and lookup.external:
                plan.skipped.append(Failure(lookup.name, "internal indicator: never sent to an external service"))
                continue
            plan.ask.append(lookup)
        return plan

    async def enrich(self, observables: Sequence[Observable], *, refresh: bool = False) -> list[IndicatorReport]:
        """Enrich each indicator; see the module docstring for the rules."""
        started = utcnow()
        plans = [self._plan(o) for o in observables]
        keys = {
            (lookup.name, lookup.credential_id, str(p.observable.kind), p.observable.value): (i, lookup)
            for i, p in enumerate(plans)
            for lookup in p.ask
        }
        # Only external answers are cached: local lists are in memory and must take effect the moment they change.
        cacheable = [key for key, (_, lookup) in keys.items() if lookup.external]
        cached: dict[store.CacheKey, Verdict] = {}
        if cacheable and not refresh and self._db is not None:
            cached = await store.cached_verdicts(self._db.reader, cacheable, format_time(started))

        verdicts: list[list[Verdict]] = [[] for _ in plans]
        failures: list[list[Failure]] = [[] for _ in plans]
        from_cache: list[list[str]] = [[] for _ in plans]
        pending: dict[asyncio.Task[Verdict], tuple[store.CacheKey, int, IntelLookup]] = {}
        for key, (index, lookup) in keys.items():
            if key in cached:
                verdicts[index].append(cached[key])
                from_cache[index].append(lookup.name)
            else:
                pending[self._shared_lookup(key, lookup, plans[index].observable)] = (key, index, lookup)

        if pending:
            # Not cancelled at the deadline: a lookup may be shared with other requests, and a late answer
            # still lands in the cache for the next one.
            _, late = await asyncio.wait(pending, timeout=self._deadline)
            for task, (_key, index, lookup) in pending.items():
                if task in late:
                    failures[index].append(Failure(lookup.name, f"no answer within {self._deadline:g}s"))
                    continue
                outcome = self._outcome(task, lookup)
                if isinstance(outcome, Failure):
                    failures[index].append(outcome)
                    continue
                verdicts[index].append(outcome)

        reports = []
        for i, plan in enumerate(plans):
            level, score = merge(verdicts[i])
            reports.append(
                IndicatorReport(
                    observable=plan.observable,
                    level=level,
                    score=score,
                    verdicts=tuple(sorted(verdicts[i], key=lambda v: (-v.level.rank, -v.score, v.source))),
                    failures=tuple(failures[i]),
                    skipped=tuple(plan.skipped),
                    cached=tuple(from_cache[i]),
                )
            )
        return reports

    def _shared_lookup(self, key: store.CacheKey, lookup: IntelLookup, observable: Observable) -> asyncio.Task[Verdict]:
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.create_task(self._lookup_and_cache(key, lookup, observable), name=f"lookup {lookup.name}")
            self._in_flight[key] = task
            task.add_done_callback(partial(self._landed, key))
        return task

    def _landed(self, key: store.CacheKey, task: asyncio.Task[Verdict]) -> None:
        self._in_flight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here: a late failure nobody awaited is reported by its requester only

    async def _lookup_and_cache(self, key: store.CacheKey, lookup: IntelLookup, observable: Observable) -> Verdict:
        # A lookup nobody waits for any more still ends: the vendor's own timeout bounds it, and this caps it.
        async with asyncio.timeout(max(self._deadline * 3, 60)):
            verdict = await lookup.lookup(observable)
        if self._db is not None and lookup.external:
            # Cached before the lookup leaves the in-flight table, so no request can slip between the two.
            await self._db.write_batched(store.put_cache_tx, [self._cache_entry(key, verdict, utcnow())])
        return verdict

    @staticmethod
    def _outcome(task: asyncio.Task[Verdict], lookup: IntelLookup) -> Verdict | Failure:
        error = task.exception()
        if error is None:
            return task.result()
        if isinstance(error, ConnectorAuthError):
            return Failure(lookup.name, "credentials rejected; check the connector's key")
        if isinstance(error, ConnectorError):
            return Failure(lookup.name, f"unavailable: {error}")
        error_id = secrets.token_hex(4)
        logger.error("Lookup %s failed unexpectedly (error %s)", lookup.name, error_id, exc_info=error)
        return Failure(lookup.name, f"internal error (id {error_id})")

    def _cache_entry(self, key: store.CacheKey, verdict: Verdict, now: datetime) -> store.CacheEntry:
        ttl = self._negative_ttl if verdict.level is VerdictLevel.UNKNOWN else self._cache_ttl
        return store.CacheEntry(key, verdict, format_time(now), format_time(now + ttl))


def _host_part(observable: Observable) -> str:
    value = observable.value.lower()
    if observable.kind is ObservableKind.EMAIL:
        return value.rpartition("@")[2]
    if observable.kind is ObservableKind.URL:
        rest = value.split("://", 1)[-1]
        return rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2].split(":", 1)[0]
    return value.strip(".")


class CaseEnricher:
    """Enriches the indicators of newly stored alerts in the background and records the result on their cases.

    Intake calls :meth:`submit` after a delivery is committed (the sender already has its 2xx). Each indicator
    is enriched once per case: repeats from a flood of alerts into one case are skipped while the first is in
    flight or once it has a verdict. Workers write the merged verdicts and one ``indicators_enriched`` timeline
    event per batch. On start, indicators of open cases that never got a verdict (a crash after the 2xx) are
    queued again.
    """

    def __init__(
        self,
        service: EnrichmentService,
        db: UnitOfWork,
        *,
        workers: int = 8,
        techniques: TechniqueCatalog | None = None,
    ) -> None:
        self._service = service
        self._db = db
        self._workers = workers
        self._techniques = techniques
        self._queue: asyncio.Queue[tuple[int, tuple[Observable, ...], str]] = asyncio.Queue()
        self._claimed: set[tuple[int, str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the workers and re-queue indicators left unenriched by a previous run."""
        self._tasks = [asyncio.create_task(self._work(), name=f"enrich-worker-{n}") for n in range(self._workers)]
        leftovers = await store.unenriched_observables(self._db.reader)
        by_case: dict[int, list[Observable]] = {}
        for case_id, observable in leftovers:
            by_case.setdefault(case_id, []).append(observable)
        for case_id, observables in by_case.items():
            self._enqueue(case_id, observables)
        if leftovers:
            logger.info("Re-queued %d indicators left unenriched by the previous run", len(leftovers))

    def submit(self, case_id: int | None, observables: Sequence[Observable], text: str = "") -> None:
        """Queue a new alert's indicators (and its text, for ATT&CK technique ids) for its case (non-blocking)."""
        if case_id is not None:
            self._enqueue(case_id, observables, text[:TECHNIQUE_TEXT_LIMIT] if self._techniques else "")

    def _enqueue(self, case_id: int, observables: Sequence[Observable], text: str = "") -> None:
        new = []
        for observable in observables:
            key = (case_id, str(observable.kind), observable.value)
            if key not in self._claimed:
                self._claimed.add(key)
                new.append(observable)
        if new or text:
            self._queue.put_nowait((case_id, tuple(new), text))

    async def drain(self) -> None:
        """Wait until everything queued so far is enriched and recorded."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Stop the workers (queued work is picked up again at the next start)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Take whatever else is queued, so a flood into one case is one enrichment and one write, not hundreds.
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            by_case: dict[int, tuple[list[Observable], list[str]]] = {}
            for case_id, observables, text in batch:
                pending, texts = by_case.setdefault(case_id, ([], []))
                pending.extend(observables)
                if text:
                    texts.append(text)
            for case_id, (pending, texts) in by_case.items():
                try:
                    if pending:
                        await self.enrich_case(case_id, pending)
                    if texts:
                        await self._name_techniques(case_id, "\n".join(texts)[:TECHNIQUE_TEXT_LIMIT])
                except Exception:
                    # One failure must not stop the worker; the indicators stay unenriched and are retried at start.
                    logger.exception("Enrichment of case %s failed", case_id)
                    for observable in pending:
                        self._claimed.discard((case_id, str(observable.kind), observable.value))
            for _ in batch:
                self._queue.task_done()

    async def _name_techniques(self, case_id: int, text: str) -> None:
        assert self._techniques is not None
        found = await self._techniques.techniques_in(text)
        new = [t for t in found if (case_id, "technique", str(t["id"])) not in self._claimed]
        if not new:
            return
        self._claimed.update((case_id, "technique", str(t["id"])) for t in new)
        now = format_time(utcnow())
        await self._db.write(
            partial(
                cases_repo.append_event_tx,
                case_id=case_id,
                event=TechniquesIdentified(tuple(new)),
                actor="enrichment",
                at=now,
            )
        )

    async def enrich_case(self, case_id: int, observables: Sequence[Observable]) -> list[IndicatorReport]:
        """Enrich indicators and record their verdicts and one timeline event on the case."""
        reports = await self._service.enrich(observables)
        now = format_time(utcnow())
        verdicts = [
            store.CaseVerdict(case_id, r.observable.kind, r.observable.value, r.level, r.score, r.to_dict(), now)
            for r in reports
        ]
        event = IndicatorsEnriched(tuple(r.to_dict() for r in reports))

        def record(conn: Tx) -> None:
            store.put_case_verdicts_tx(conn, verdicts)
            cases_repo.append_event_tx(conn, case_id, event, "enrichment", now)

        await self._db.write(record)
        return reports
