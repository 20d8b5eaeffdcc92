"""CaseService: turns stored alerts into grouped cases with a hash-chained timeline.

Grouping: an alert's fingerprint is its source, rule and key entities (``group_by`` per source). A firing alert
whose fingerprint matches an open case last seen within the window joins that case; if its severity is higher
than the case's, it opens a new case instead and says why. A resolved notice finds the case of its firing twin
and adds an event there. A resend (same source, external id and status) is stored once.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from bot.core.models import Alert, AlertStatus, Case, CaseStatus, TimelineEvent, format_time, utcnow
from bot.store import cases as repo
from bot.store.db import Database

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


class CaseService:
    """Opens, merges and reads cases; every change is a timeline event in the same transaction."""

    def __init__(
        self,
        db: Database,
        *,
        window: timedelta = timedelta(hours=1),
        group_by: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._db = db
        self._window = window
        self._group_by = dict(group_by or {})

    async def ingest(self, alerts: Sequence[Alert], *, now: datetime | None = None) -> list[IngestOutcome]:
        """Store a delivery's alerts and group them into cases, atomically; return once committed."""
        received = format_time(now or utcnow())
        since = format_time((now or utcnow()) - self._window)
        return await self._db.write(lambda conn: [self._ingest_one(conn, a, received, since) for a in alerts])

    def _ingest_one(self, conn: sqlite3.Connection, alert: Alert, now: str, since: str) -> IngestOutcome:
        existing = repo.find_alert_tx(conn, alert.source, alert.external_id, str(alert.status))
        if existing is not None:
            return IngestOutcome(alert_id=existing[0], case_id=existing[1], duplicate=True)
        actor = f"source:{alert.source}"
        if alert.status is AlertStatus.RESOLVED:
            return self._resolve(conn, alert, now, actor)

        fp = fingerprint(alert, self._group_by.get(alert.source, DEFAULT_GROUP_BY))
        case = repo.find_open_case_tx(conn, fp, since)
        opened = False
        if case is None:
            case_id = self._open(conn, alert, fp, now, actor, reason=None)
            opened = True
        elif alert.severity.rank > case.severity.rank:
            reason = f"severity rose from {case.severity} to {alert.severity}; split from case {case.id}"
            case_id = self._open(conn, alert, fp, now, actor, reason=reason, split_from=case.id)
            repo.append_event_tx(conn, case.id, "case_split", actor, {"new_case_id": case_id, "reason": reason}, now)
            repo.touch_case_tx(conn, case.id, now)
            opened = True
        else:
            case_id = case.id
        alert_id = repo.insert_alert_tx(conn, alert, case_id, now)
        count = repo.add_alert_tx(conn, case_id, now)
        repo.append_event_tx(conn, case_id, "alert_added", actor, _alert_event(alert, alert_id, count), now)
        return IngestOutcome(alert_id=alert_id, case_id=case_id, opened=opened)

    @staticmethod
    def _open(
        conn: sqlite3.Connection,
        alert: Alert,
        fp: str,
        now: str,
        actor: str,
        *,
        reason: str | None,
        split_from: int | None = None,
    ) -> int:
        case_id = repo.insert_case_tx(conn, alert, fp, now)
        data: dict[str, Any] = {
            "case_id": case_id,
            "title": alert.title,
            "severity": str(alert.severity),
            "source": alert.source,
            "rule": alert.rule,
            "fingerprint": fp,
        }
        if reason is not None:
            data["reason"] = reason
            data["split_from"] = split_from
        repo.append_event_tx(conn, case_id, "case_opened", actor, data, now)
        return case_id

    @staticmethod
    def _resolve(conn: sqlite3.Connection, alert: Alert, now: str, actor: str) -> IngestOutcome:
        firing = repo.find_alert_tx(conn, alert.source, alert.external_id, str(AlertStatus.FIRING))
        case_id = firing[1] if firing is not None else None
        alert_id = repo.insert_alert_tx(conn, alert, case_id, now)
        if case_id is not None:
            data = {"alert_id": alert_id, "external_id": alert.external_id, "title": alert.title}
            repo.append_event_tx(conn, case_id, "alert_resolved", actor, data, now)
            repo.touch_case_tx(conn, case_id, now)
        return IngestOutcome(alert_id=alert_id, case_id=case_id)

    async def list_cases(self, *, status: CaseStatus | None = None, limit: int = 100) -> list[Case]:
        """Newest cases first."""
        return await repo.list_cases(self._db.reader, status=status, limit=limit)

    async def get(self, case_id: int) -> Case:
        """One case (NotFound when unknown)."""
        return await repo.get_case(self._db.reader, case_id)

    async def timeline(self, case_id: int) -> list[TimelineEvent]:
        """The case timeline, in order."""
        return await repo.timeline(self._db.reader, case_id)

    async def export(self, case_id: int) -> dict[str, Any]:
        """Everything known about a case: the case, its alerts, indicators and its timeline."""
        case = await self.get(case_id)
        alerts = await repo.case_alerts(self._db.reader, case_id)
        observables = await repo.case_observables(self._db.reader, case_id)
        events = await self.timeline(case_id)
        return {
            "case": case.to_dict(),
            "alerts": [a.to_dict() for a in alerts],
            "observables": [o.to_dict() for o in observables],
            "timeline": [e.to_dict() for e in events],
        }

    async def verify(self, case_id: int) -> repo.ChainBreak | None:
        """Check a case's hash chain; the first broken link, or None."""
        await self.get(case_id)
        return repo.verify_chain(await self.timeline(case_id))


def _alert_event(alert: Alert, alert_id: int, count: int) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "alert_count": count,
        "source": alert.source,
        "format": alert.format,
        "external_id": alert.external_id,
        "title": alert.title,
        "severity": str(alert.severity),
        "time": format_time(alert.time),
        "link": alert.link,
        "observables": [o.to_dict() for o in alert.observables],
    }
