"""CaseService: turns stored alerts into grouped cases with a hash-chained timeline.

Grouping: an alert's fingerprint is its source, rule and key entities (``group_by`` per source). A firing alert
whose fingerprint matches an open case last seen within the window joins that case; if its severity is higher
than the case's, it opens a new case instead and says why. A resolved notice finds the case of its firing twin
and adds an event there. A resend (same source, external id and status) is stored once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson

from bot.core.errors import NotFound, UserInputError
from bot.core.events import (
    AlertAdded,
    AlertResolved,
    Assigned,
    CaseEventType,
    CaseOpened,
    CaseSplit,
    EventPayload,
    NoteAdded,
    SeverityChanged,
    StatusChanged,
    Tagged,
    TechniquesIdentified,
)
from bot.core.models import (
    Alert,
    AlertStatus,
    Case,
    CaseStatus,
    Observable,
    Severity,
    TimelineEvent,
    format_time,
    utcnow,
)
from bot.store import cases as repo
from bot.store import intel
from bot.store.tx import Tx, UnitOfWork

DEFAULT_GROUP_BY = ("rule", "host")


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What happened to one alert of a delivery."""

    alert_id: int
    case_id: int | None
    duplicate: bool = False
    opened: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form, as answered to the sender."""
        return {"alert_id": self.alert_id, "case_id": self.case_id, "duplicate": self.duplicate, "opened": self.opened}


def fingerprint(alert: Alert, group_by: Sequence[str]) -> str:
    """Hash the alert's source, rule and the values of its ``group_by`` keys into a grouping key.

    Keys are ``rule``, ``title`` or an indicator kind with an optional role (``host``, ``ip:src``, ``user``).
    """
    parts: list[Any] = [alert.source, alert.rule]
    for key in group_by:
        if key == "rule":
            continue
        if key == "title":
            parts.append(["title", alert.title])
            continue
        kind, _, role = key.partition(":")
        values = sorted({o.value.lower() for o in alert.observables if o.kind == kind and (not role or o.role == role)})
        parts.append([key, values])
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


@dataclass(frozen=True, slots=True)
class CardView:
    """The parts of a case its chat card shows."""

    case: Case
    link: str | None
    observables: list[Observable]
    verdicts: list[dict[str, Any]]
    techniques: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Delivery:
    alerts: tuple[Alert, ...]
    received: str
    since: str


@dataclass(slots=True)
class _Batch:
    """State of one set-based ingest: what is stored, what this batch adds, and the ids it hands out."""

    next_case_id: int
    next_alert_id: int
    stored: dict[tuple[str, str, str], tuple[int, int | None]]
    open_cases: dict[str, repo.CaseHead]
    timeline: repo.TimelineWriter = field(default_factory=lambda: repo.TimelineWriter({}))
    new_cases: list[tuple[int, Alert, str, str]] = field(default_factory=list)
    new_alerts: list[tuple[int, Alert, int | None, str]] = field(default_factory=list)
    case_updates: dict[int, tuple[int, str]] = field(default_factory=dict)

    def add_alert(self, key: tuple[str, str, str], alert: Alert, case_id: int | None, now: str) -> int:
        alert_id = self.next_alert_id
        self.next_alert_id += 1
        self.new_alerts.append((alert_id, alert, case_id, now))
        self.stored[key] = (alert_id, case_id)  # a repeat later in the batch is a duplicate
        return alert_id

    def touch(self, case_id: int, added: int, now: str) -> None:
        count, _ = self.case_updates.get(case_id, (0, now))
        self.case_updates[case_id] = (count + added, now)

    def open_case(
        self, alert: Alert, fp: str, now: str, actor: str, *, reason: str | None, split_from: int | None
    ) -> repo.CaseHead:
        case = repo.CaseHead(self.next_case_id, alert.severity, now, 0)
        self.next_case_id += 1
        self.new_cases.append((case.id, alert, fp, now))
        self.open_cases[fp] = case
        opened = CaseOpened(
            case_id=case.id,
            title=alert.title,
            severity=alert.severity,
            source=alert.source,
            rule=alert.rule,
            fingerprint=fp,
            reason=reason,
            split_from=split_from if reason is not None else None,
        )
        self.timeline.append(case.id, opened, actor, now)
        return case


class CaseService:
    """Opens, merges and reads cases; every change is a timeline event in the same transaction."""

    def __init__(
        self,
        db: UnitOfWork,
        *,
        window: timedelta = timedelta(hours=1),
        group_by: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._db = db
        self._window = window
        self._group_by = dict(group_by or {})

    async def ingest(self, alerts: Sequence[Alert], *, now: datetime | None = None) -> list[IngestOutcome]:
        """Store a delivery's alerts and group them into cases, atomically; return once committed.

        Concurrent deliveries are merged into one set-based writer job (see ``UnitOfWork.write_batched``).
        """
        moment = now or utcnow()
        delivery = _Delivery(tuple(alerts), format_time(moment), format_time(moment - self._window))
        return await self._db.write_batched(self._ingest_batch, delivery)

    def _ingest_batch(self, conn: Tx, deliveries: list[_Delivery]) -> list[list[IngestOutcome]]:
        """Ingest many deliveries with a fixed number of statements, deciding each alert in arrival order."""
        keys: set[tuple[str, str, str]] = set()
        fingerprints: dict[int, str] = {}
        for delivery in deliveries:
            for alert in delivery.alerts:
                keys.add((alert.source, alert.external_id, str(alert.status)))
                if alert.status is AlertStatus.RESOLVED:
                    keys.add((alert.source, alert.external_id, str(AlertStatus.FIRING)))
                else:
                    fingerprints[id(alert)] = fingerprint(alert, self._group_by.get(alert.source, DEFAULT_GROUP_BY))
        stored = repo.find_alerts_tx(conn, keys)
        open_cases = repo.open_cases_tx(conn, set(fingerprints.values()))
        touched = {c.id for c in open_cases.values()} | {case_id for _, case_id in stored.values() if case_id}
        batch = _Batch(*repo.next_ids_tx(conn), stored=stored, open_cases=open_cases)
        batch.timeline = repo.TimelineWriter(repo.timeline_heads_tx(conn, touched))

        results = [
            [self._decide(batch, alert, fingerprints.get(id(alert)), d.received, d.since) for alert in d.alerts]
            for d in deliveries
        ]
        repo.insert_cases_tx(conn, batch.new_cases)
        repo.insert_alerts_tx(conn, batch.new_alerts)
        repo.update_cases_tx(conn, batch.case_updates)
        batch.timeline.flush(conn)
        return results

    def _decide(self, batch: _Batch, alert: Alert, fp: str | None, now: str, since: str) -> IngestOutcome:
        key = (alert.source, alert.external_id, str(alert.status))
        if (existing := batch.stored.get(key)) is not None:
            return IngestOutcome(alert_id=existing[0], case_id=existing[1], duplicate=True)
        actor = f"source:{alert.source}"
        if alert.status is AlertStatus.RESOLVED:
            twin = batch.stored.get((alert.source, alert.external_id, str(AlertStatus.FIRING)))
            case_id = twin[1] if twin is not None else None
            alert_id = batch.add_alert(key, alert, case_id, now)
            if case_id is not None:
                resolved = AlertResolved(alert_id=alert_id, external_id=alert.external_id, title=alert.title)
                batch.timeline.append(case_id, resolved, actor, now)
                batch.touch(case_id, 0, now)
            return IngestOutcome(alert_id=alert_id, case_id=case_id)

        assert fp is not None
        case = batch.open_cases.get(fp)
        if case is not None and case.last_seen < since:
            case = None
        opened = False
        if case is None:
            case = batch.open_case(alert, fp, now, actor, reason=None, split_from=None)
            opened = True
        elif alert.severity.rank > case.severity.rank:
            reason = f"severity rose from {case.severity} to {alert.severity}; split from case {case.id}"
            old = case
            case = batch.open_case(alert, fp, now, actor, reason=reason, split_from=old.id)
            batch.timeline.append(old.id, CaseSplit(new_case_id=case.id, reason=reason), actor, now)
            batch.touch(old.id, 0, now)
            opened = True
        alert_id = batch.add_alert(key, alert, case.id, now)
        case.alert_count += 1
        case.last_seen = max(case.last_seen, now)
        batch.touch(case.id, 1, now)
        batch.timeline.append(case.id, _alert_event(alert, alert_id, case.alert_count), actor, now)
        return IngestOutcome(alert_id=alert_id, case_id=case.id, opened=opened)

    async def record(self, case_id: int, event: EventPayload, actor: str) -> TimelineEvent:
        """Append one event to a case timeline."""
        now = format_time(utcnow())
        return await self._db.write(partial(_record_tx, case_id=case_id, event=event, actor=actor, now=now))

    async def update(
        self,
        case_id: int,
        *,
        actor: str,
        status: CaseStatus | None = None,
        severity: Severity | None = None,
        assignee: str | None = None,
        tags: Sequence[str] = (),
        reason: str | None = None,
    ) -> list[str]:
        """Change case fields, each change a timeline event; return what changed.

        Raises:
            UserInputError: a status change the life cycle does not allow.
            NotFound: no such case.

        """
        now = format_time(utcnow())

        def change(conn: Tx) -> list[str]:
            fields = repo.case_fields_tx(conn, case_id)
            if fields is None:
                raise NotFound(f"no case {case_id}")
            changed: list[str] = []
            if status is not None and status is not fields.status:
                check_transition(fields.status, status)
                repo.set_case_field_tx(conn, case_id, "status", str(status), now)
                repo.append_event_tx(conn, case_id, StatusChanged(fields.status, status, reason), actor, now)
                changed.append("status")
            if severity is not None and severity is not fields.severity:
                repo.set_case_field_tx(conn, case_id, "severity", str(severity), now)
                repo.append_event_tx(conn, case_id, SeverityChanged(fields.severity, severity, reason), actor, now)
                changed.append("severity")
            if assignee is not None and assignee != fields.assignee:
                repo.set_case_field_tx(conn, case_id, "assignee", assignee, now)
                repo.append_event_tx(conn, case_id, Assigned(fields.assignee, assignee), actor, now)
                changed.append("assignee")
            added = [t for t in dict.fromkeys(tags) if t not in fields.tags]
            if added:
                repo.set_case_field_tx(conn, case_id, "tags", orjson.dumps([*fields.tags, *added]).decode(), now)
                repo.append_event_tx(conn, case_id, Tagged(tuple(added)), actor, now)
                changed.append("tags")
            return changed

        return await self._db.write(change)

    async def add_note(self, case_id: int, actor: str, text: str) -> TimelineEvent:
        """Add a note to a case."""
        await self.get(case_id)
        return await self.record(case_id, NoteAdded(text), actor)

    async def list_cases(self, *, status: CaseStatus | None = None, limit: int = 100) -> list[Case]:
        """Newest cases first."""
        return await repo.list_cases(self._db.reader, status=status, limit=limit)

    async def get(self, case_id: int) -> Case:
        """One case (NotFound when unknown)."""
        return await repo.get_case(self._db.reader, case_id)

    async def timeline(self, case_id: int) -> list[TimelineEvent]:
        """The case timeline, in order."""
        return await repo.timeline(self._db.reader, case_id)

    async def card_view(self, case_id: int) -> CardView:
        """What a case card shows, read without the case's full alert list and timeline (cards refresh often)."""
        reader = self._db.reader
        case = await self.get(case_id)
        techniques = [
            dict(t)
            for e in await repo.events_of_type(reader, case_id, CaseEventType.TECHNIQUES_IDENTIFIED)
            if isinstance(found := e.payload, TechniquesIdentified)
            for t in found.techniques
        ]
        return CardView(
            case=case,
            link=await repo.first_link(reader, case_id),
            observables=await repo.case_observables(reader, case_id),
            verdicts=[dict(v.report) for v in await intel.case_verdicts(reader, case_id)],
            techniques=techniques,
        )

    async def export(self, case_id: int) -> dict[str, Any]:
        """Everything known about a case: the case, its alerts, indicators and its timeline."""
        case = await self.get(case_id)
        alerts = await repo.case_alerts(self._db.reader, case_id)
        observables = await repo.case_observables(self._db.reader, case_id)
        verdicts = await intel.case_verdicts(self._db.reader, case_id)
        events = await self.timeline(case_id)
        return {
            "case": case.to_dict(),
            "alerts": [a.to_dict() for a in alerts],
            "observables": [o.to_dict() for o in observables],
            "verdicts": [dict(v.report) for v in verdicts],
            "timeline": [e.to_dict() for e in events],
        }

    async def verify(self, case_id: int) -> repo.ChainBreak | None:
        """Check a case's hash chain; the first broken link, or None."""
        await self.get(case_id)
        return repo.verify_chain(await self.timeline(case_id))


def check_transition(old: CaseStatus, new: CaseStatus) -> None:
    """Allow only the case life cycle's moves: new → triage → waiting → contained → closed, and reopening."""
    match (old, new):
        case (CaseStatus.CLOSED, CaseStatus.TRIAGE):
            return  # reopen
        case (CaseStatus.CLOSED, _):
            raise UserInputError("a closed case can only be reopened (to triage)")
        case (_, CaseStatus.NEW):
            raise UserInputError("a case cannot go back to new")
        case (_, _):
            return


def _record_tx(conn: Tx, *, case_id: int, event: EventPayload, actor: str, now: str) -> TimelineEvent:
    entry = repo.append_event_tx(conn, case_id, event, actor, now)
    repo.touch_case_tx(conn, case_id, now)
    return entry


def _alert_event(alert: Alert, alert_id: int, count: int) -> AlertAdded:
    return AlertAdded(
        alert_id=alert_id,
        alert_count=count,
        source=alert.source,
        format=alert.format,
        external_id=alert.external_id,
        title=alert.title,
        severity=alert.severity,
        time=format_time(alert.time),
        link=alert.link,
        observables=alert.observables,
    )
