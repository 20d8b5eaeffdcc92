"""Incident channels for cases, the chat conversation as part of the case record, and the digest's reads.

Declaring an incident claims the case (one incident per case), creates a channel named after the case, invites
the declarer and the configured responders. Every change is a timeline event of the case; each chat surface
presents those events (the pinned summary, kept current, and the announcement), so nothing is posted from here.
Messages and reactions in an incident channel (or in a case thread) are appended to the timeline once per
platform delivery: the delivery id is marked seen in the same write job as the event, so a retry can never write
twice.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bot.cases import CaseService
from bot.core.errors import NotFound, UserInputError
from bot.core.events import (
    EventPayload,
    IncidentChannelArchived,
    IncidentDeclared,
    IncidentResolved,
    IncidentRoleAssigned,
    IncidentStatusPosted,
)
from bot.core.models import (
    Case,
    CaseStatus,
    Decision,
    IncidentStatus,
    Severity,
    TimelineEvent,
    format_time,
    utcnow,
)
from bot.core.ports import ChatChannels
from bot.store import approvals as approvals_store
from bot.store import incidents as store
from bot.store.approvals import ApprovalRow
from bot.store.cases import append_event_tx, touch_case_tx
from bot.store.tx import Tx, UnitOfWork

logger = logging.getLogger(__name__)

CHANNEL_NAME_LIMIT = 80
TOPIC_LIMIT = 250
DEFAULT_SEVERITY = Severity.HIGH
# A claim older than this whose channel never appeared (a crash mid-declaration) may be taken over.
STALE_CLAIM = timedelta(minutes=5)

_NOT_NAME = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def channel_name(case_id: int, title: str) -> str:
    """The wanted channel name for an incident: ``inc-<case>-<slug of title>``, at most 80 characters.

    Channel names may hold lowercase letters, digits, ``-`` and ``_`` only; accents are folded to ASCII and
    anything else becomes a dash.
    """
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    slug = _DASHES.sub("-", _NOT_NAME.sub("-", folded)).strip("-_")
    name = f"inc-{case_id}-{slug}" if slug else f"inc-{case_id}"
    return name[:CHANNEL_NAME_LIMIT].rstrip("-_")


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident: the case it belongs to, its channel and who holds which role."""

    case_id: int
    title: str
    channel: str | None
    roles: Mapping[str, str]
    status: IncidentStatus
    last_update: str | None
    declared_by: str
    declared_at: str
    resolved_at: str | None

    @property
    def active(self) -> bool:
        """True while the incident is open."""
        return self.status is IncidentStatus.ACTIVE

    @classmethod
    def from_row(cls, row: store.IncidentRow) -> Incident:
        """Read a stored row."""
        return cls(
            case_id=row.case_id,
            title=row.title,
            channel=row.channel,
            roles=dict(row.roles),
            status=row.status,
            last_update=row.last_update,
            declared_by=row.declared_by,
            declared_at=row.declared_at,
            resolved_at=row.resolved_at,
        )


def _topic(case: Case, text: str) -> str:
    return f"Case #{case.id} · {case.severity} · {' '.join(text.split())}"[:TOPIC_LIMIT]


class IncidentService:
    """Declares, updates and resolves incidents, and writes chat messages into case timelines."""

    def __init__(
        self,
        db: UnitOfWork,
        cases: CaseService,
        *,
        channels: ChatChannels | None = None,
        responders: Sequence[str] = (),
        archive_on_resolve: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._cases = cases
        self._channels = channels
        self._responders = list(responders)
        self._archive = archive_on_resolve
        self._clock = clock

    def _now(self) -> str:
        return format_time(self._clock())

    # --- reads --------------------------------------------------------------------------------------------

    async def get(self, case_id: int) -> Incident | None:
        """The incident of a case, if one was declared."""
        row = await store.get(self._db.reader, case_id)
        return None if row is None else Incident.from_row(row)

    async def for_channel(self, channel: str) -> Incident | None:
        """The incident whose channel is ``channel``."""
        row = await store.by_channel(self._db.reader, channel)
        return None if row is None else Incident.from_row(row)

    # --- life cycle ---------------------------------------------------------------------------------------

    async def declare(
        self, *, title: str, actor: str, case_id: int | None = None, severity: Severity | None = None
    ) -> Incident:
        """Declare an incident for ``case_id`` (or for a new case titled ``title``) and open its channel.

        Raises:
            UserInputError: no channel support, a missing title, a closed case, or an incident already declared.
            NotFound: no such case.

        """
        if self._channels is None:
            raise UserInputError("Incident channels need a chat platform that can create channels.")
        title = title.strip()
        if case_id is None and not title:
            raise UserInputError("Give the incident a title: `incident declare <title> [--severity S]`.")
        moment = self._clock()
        now = format_time(moment)
        claimed_case, row, claimed = await self._db.write(
            partial(
                self._claim_tx,
                case_id=case_id,
                title=title,
                severity=severity or DEFAULT_SEVERITY,
                actor=actor,
                now=now,
                stale_before=format_time(moment - STALE_CLAIM),
            )
        )
        if not claimed:
            if row.status is IncidentStatus.DECLARING:
                raise UserInputError(f"An incident channel for case {claimed_case} is being created right now.")
            raise UserInputError(
                f"Case {claimed_case} already has an incident ({row.status}) in channel {row.channel}."
            )
        case = await self._cases.get(claimed_case)
        wanted = channel_name(case.id, row.title)
        members = list(dict.fromkeys([actor, *self._responders]))
        shown_severity = severity or case.severity
        try:
            channel = await self._channels.create_channel(
                wanted,
                topic=f"Case #{case.id} · {shown_severity} · declared by {actor}"[:TOPIC_LIMIT],
                purpose=f"Incident for case #{case.id}: {row.title}"[:TOPIC_LIMIT],
                members=members,
            )
        except Exception as err:
            # The platform's own errors are not ours to know (ChatChannels names none): log the cause, give the
            # claim back, and tell the declarer how to retry without opening a second case.
            logger.warning("Could not create incident channel %s for case %s", wanted, case.id, exc_info=True)
            await self._db.write(partial(store.release_tx, case_id=case.id, declared_at=row.declared_at))
            raise UserInputError(
                f"The chat platform could not create the incident channel for case {case.id} right now; "
                f"nothing else changed. Try again with `incident declare --case {case.id}`."
            ) from err

        await self._cases.update(
            case.id,
            actor=actor,
            severity=severity,
            status=CaseStatus.TRIAGE if case.status is CaseStatus.NEW else None,
            reason="incident declared",
        )
        declared = IncidentDeclared(
            title=row.title,
            channel=channel,
            channel_name=wanted,
            severity=shown_severity,
            members=tuple(members),
            platform=self._channels.platform,
        )
        await self._db.write(
            partial(self._activate_tx, case_id=case.id, channel=channel, actor=actor, event=declared, now=self._now())
        )
        # The pinned summary and the announcement are presented from the incident_declared event by each chat
        # surface (bot.chat.surface); this service only keeps the record and the channel.
        logger.info("Incident declared for case %s in channel %s", case.id, channel)
        return await self._require(case.id)

    @staticmethod
    def _claim_tx(
        conn: Tx,
        *,
        case_id: int | None,
        title: str,
        severity: Severity,
        actor: str,
        now: str,
        stale_before: str,
    ) -> tuple[int, store.IncidentRow, bool]:
        if case_id is None:
            case_id = store.open_case_tx(conn, title=title, severity=severity, actor=actor, now=now).case_id
        else:
            head = store.case_head_tx(conn, case_id)
            if head is None:
                raise NotFound(f"There is no case {case_id}.")
            status, case_title = head
            if status == str(CaseStatus.CLOSED):
                raise UserInputError(f"Case {case_id} is closed; reopen it before declaring an incident.")
            title = title or case_title
        row, claimed = store.claim_tx(
            conn, case_id=case_id, title=title, declared_by=actor, now=now, stale_before=stale_before
        )
        return case_id, row, claimed

    @staticmethod
    def _activate_tx(conn: Tx, *, case_id: int, channel: str, actor: str, event: IncidentDeclared, now: str) -> None:
        store.activate_tx(conn, case_id=case_id, channel=channel)
        append_event_tx(conn, case_id, event, actor, now)
        touch_case_tx(conn, case_id, now)

    async def post_status(self, case_id: int, text: str, actor: str) -> Incident:
        """Record a status update, show it on the pinned summary and in the channel topic."""
        now = self._now()

        def job(conn: Tx) -> None:
            row = self._active_tx(conn, case_id)
            store.set_last_update_tx(conn, case_id=case_id, text=text)
            append_event_tx(conn, case_id, IncidentStatusPosted(text=text, channel=row.channel), actor, now)
            touch_case_tx(conn, case_id, now)

        await self._db.write(job)
        incident, case = await self._current(case_id)
        if self._channels is not None and incident.channel is not None:
            try:
                await self._channels.set_topic(incident.channel, _topic(case, text))
            except Exception as err:  # noqa: BLE001 - the update is recorded; the topic is cosmetic
                logger.warning("Could not set the topic of incident channel %s: %s", incident.channel, err)
        return incident

    async def assign_role(self, case_id: int, role: str, user: str, actor: str) -> tuple[Incident, str | None]:
        """Give an incident role (commander, comms, scribe, …) to ``user``; return the incident and who had it."""
        now = self._now()

        def job(conn: Tx) -> str | None:
            row = self._active_tx(conn, case_id)
            previous = store.set_role_tx(conn, case_id=case_id, role=role, user=user)
            event = IncidentRoleAssigned(role=role, user=user, previous=previous, channel=row.channel)
            append_event_tx(conn, case_id, event, actor, now)
            touch_case_tx(conn, case_id, now)
            return previous

        previous = await self._db.write(job)
        incident, _ = await self._current(case_id)
        return incident, previous

    async def resolve(self, case_id: int, actor: str) -> tuple[Incident, bool]:
        """Resolve the incident, close its case, and archive the channel when configured; True when archived."""
        now = self._now()

        def job(conn: Tx) -> None:
            row = store.get_tx(conn, case_id)
            if row is None:
                raise UserInputError(f"Case {case_id} has no incident.")
            if not store.resolve_tx(conn, case_id=case_id, now=now):
                raise UserInputError(f"The incident of case {case_id} is {row.status}; there is nothing to resolve.")
            append_event_tx(conn, case_id, IncidentResolved(channel=row.channel), actor, now)
            touch_case_tx(conn, case_id, now)

        await self._db.write(job)
        await self._cases.update(case_id, actor=actor, status=CaseStatus.CLOSED, reason="incident resolved")
        incident, case = await self._current(case_id)
        archived = False
        if self._archive and self._channels is not None and incident.channel is not None:
            try:
                await self._channels.archive(incident.channel)
            except Exception as err:  # noqa: BLE001 - the incident is resolved; archiving can be done by hand
                logger.warning("Could not archive incident channel %s: %s", incident.channel, err)
            else:
                archived = True
                await self._cases.record(case.id, IncidentChannelArchived(channel=incident.channel), actor)
        return incident, archived

    # --- the conversation as the case record -------------------------------------------------------------

    async def record_once(
        self, case_id: int, *, delivery: str, event: EventPayload, actor: str
    ) -> TimelineEvent | None:
        """Append a chat event to a case timeline unless ``delivery`` was recorded before (then None)."""
        now = self._now()

        def job(conn: Tx) -> TimelineEvent | None:
            if not store.mark_seen_tx(conn, event_id=delivery, at=now):
                return None
            entry = append_event_tx(conn, case_id, event, actor, now)
            touch_case_tx(conn, case_id, now)
            return entry

        return await self._db.write(job)

    # --- helpers ------------------------------------------------------------------------------------------

    @staticmethod
    def _active_tx(conn: Tx, case_id: int) -> store.IncidentRow:
        row = store.get_tx(conn, case_id)
        if row is None:
            raise UserInputError(f"Case {case_id} has no incident; declare one with `incident declare`.")
        if row.status is not IncidentStatus.ACTIVE:
            raise UserInputError(f"The incident of case {case_id} is {row.status}.")
        return row

    async def _require(self, case_id: int) -> Incident:
        incident = await self.get(case_id)
        assert incident is not None
        return incident

    async def _current(self, case_id: int) -> tuple[Incident, Case]:
        """The incident and its case as stored now."""
        return await self._require(case_id), await self._cases.get(case_id)


# --- the reads behind /soar approvals and /soar digest ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Digest:
    """What a digest shows: open cases by severity, pending approvals, and recent containment actions."""

    since: str
    counts: Mapping[Severity, int]
    open_cases: Sequence[store.OpenCase]
    pending: Sequence[ApprovalRow]
    actions: Sequence[store.RecentAction]


class Overview:
    """Read-only views across cases, approvals and actions, for chat commands."""

    def __init__(self, db: UnitOfWork) -> None:
        self._db = db

    async def pending_approvals(self, *, case_id: int | None = None) -> list[tuple[ApprovalRow, list[str]]]:
        """Undecided approval requests, oldest first, each with who has approved so far."""
        rows = await approvals_store.pending(self._db.reader, case_id=case_id)
        result = []
        for row in rows:
            votes = await approvals_store.votes(self._db.reader, row.id)
            result.append((row, [user for user, vote, _, _ in votes if vote is Decision.APPROVE]))
        return result

    async def approval(self, approval_id: int) -> tuple[ApprovalRow, list[str]] | None:
        """One approval request with its approvers so far."""
        row = await approvals_store.get(self._db.reader, approval_id)
        if row is None:
            return None
        votes = await approvals_store.votes(self._db.reader, row.id)
        return row, [user for user, vote, _, _ in votes if vote is Decision.APPROVE]

    async def digest(self, *, since: datetime, case_id: int | None = None, top: int = 10) -> Digest:
        """The digest of every open case (listing the ``top`` most severe), or of one case."""
        reader = self._db.reader
        start = format_time(since)
        return Digest(
            since=start,
            counts=await store.open_case_counts(reader, case_id=case_id),
            open_cases=await store.open_cases(reader, case_id=case_id, limit=top),
            pending=await approvals_store.pending(reader, case_id=case_id),
            actions=await store.actions_since(reader, start, case_id=case_id),
        )
