"""Domain values shared by every layer: alerts, observables, cases and timeline events."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from bot.core.events import DecodedPayload


class Severity(StrEnum):
    """Normalised alert and case severity, lowest first."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order of severities: info is 0, critical is 4."""
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, value: object, default: Severity | None = None) -> Severity:
        """Map a vendor's severity word or number onto our five levels.

        Words cover the vocabularies of the supported SIEMs (``warning``, ``informational``, ``page``, …);
        numbers are read on a 1–5 scale (1 info … 5 critical). Unknown values give ``default`` or raise.
        """
        if isinstance(value, bool):
            value = None
        if isinstance(value, int | float):
            number = int(value)
            if 1 <= number <= 5:
                return _SEVERITY_ORDER[number - 1]
        elif isinstance(value, str):
            word = value.strip().lower()
            if word in _SEVERITY_WORDS:
                return _SEVERITY_WORDS[word]
            if word.isdigit():
                return cls.parse(int(word), default)
        if default is not None:
            return default
        raise ValueError(f"unknown severity {value!r}")


_SEVERITY_ORDER = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
_SEVERITY_WORDS = {
    **{w: Severity.INFO for w in ("info", "informational", "information", "notice", "debug", "none", "ok")},
    **{w: Severity.LOW for w in ("low", "minor")},
    **{w: Severity.MEDIUM for w in ("medium", "moderate", "warning", "warn", "average")},
    **{w: Severity.HIGH for w in ("high", "major", "error", "severe", "important")},
    **{w: Severity.CRITICAL for w in ("critical", "crit", "page", "emergency", "fatal", "disaster", "urgent")},
}


class AlertStatus(StrEnum):
    """Whether a notification reports a problem or its end."""

    FIRING = "firing"
    RESOLVED = "resolved"


class ObservableKind(StrEnum):
    """The kinds of indicator soarbot extracts and enriches."""

    IP = "ip"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    USER = "user"
    HOST = "host"
    CVE = "cve"


@dataclass(frozen=True, slots=True)
class Observable:
    """One indicator found in an alert.

    ``role`` says where it was seen (``src``, ``dst``, …) when the format tells us. ``internal`` marks private,
    reserved, loopback and link-local addresses: those are never sent to an external service.
    """

    kind: ObservableKind
    value: str
    role: str | None = None
    internal: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"kind": str(self.kind), "value": self.value, "role": self.role, "internal": self.internal}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observable:
        """Read :meth:`to_dict` output (extra keys, such as a verdict, are ignored)."""
        return cls(ObservableKind(data["kind"]), str(data["value"]), data.get("role"), bool(data.get("internal")))


@dataclass(frozen=True, slots=True)
class Alert:
    """A normalised alert, as it is stored; ``raw`` is the sender's JSON for this alert, verbatim."""

    source: str
    format: str
    external_id: str
    title: str
    severity: Severity
    time: datetime
    rule: str
    raw: str
    description: str = ""
    status: AlertStatus = AlertStatus.FIRING
    link: str | None = None
    observables: tuple[Observable, ...] = ()


class CaseStatus(StrEnum):
    """Life cycle of a case: new → triage → waiting → contained → closed."""

    NEW = "new"
    TRIAGE = "triage"
    WAITING = "waiting"
    CONTAINED = "contained"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Case:
    """A case groups alerts that share a fingerprint within the grouping window."""

    id: int
    title: str
    status: CaseStatus
    severity: Severity
    source: str
    rule: str
    fingerprint: str
    alert_count: int
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    assignee: str | None = None
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (times as ISO 8601 UTC)."""
        return {
            "id": self.id,
            "title": self.title,
            "status": str(self.status),
            "severity": str(self.severity),
            "assignee": self.assignee,
            "source": self.source,
            "rule": self.rule,
            "fingerprint": self.fingerprint,
            "alert_count": self.alert_count,
            "first_seen": format_time(self.first_seen),
            "last_seen": format_time(self.last_seen),
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "tags": list(self.tags),
        }


class RunStatus(StrEnum):
    """Life cycle of a playbook run (stored in ``runs.status``)."""

    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"


class StepStatus(StrEnum):
    """The stored outcome of a step or a for_each item (``run_steps.status``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"


class ApprovalStatus(StrEnum):
    """Life cycle of an approval request (``approvals.status``): pending until decided or expired."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class Decision(StrEnum):
    """An approver's vote, and an approval's outcome (``approvals.outcome``, ``on_timeout``)."""

    APPROVE = "approve"
    DENY = "deny"


class ActionStatus(StrEnum):
    """Life cycle of a containment action (``actions.status``): recorded as attempted before the vendor call."""

    ATTEMPTED = "attempted"
    DONE = "done"
    FAILED = "failed"
    REVERTING = "reverting"
    REVERTED = "reverted"


class OutboxStatus(StrEnum):
    """Delivery state of an outbox row (``outbox.status``)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class IncidentStatus(StrEnum):
    """Life cycle of an incident (``incidents.status``): claimed while its channel is being created."""

    DECLARING = "declaring"
    ACTIVE = "active"
    RESOLVED = "resolved"


GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One append-only, hash-chained entry of a case timeline.

    ``hash = sha256(prev_hash + canonical_json({"type", "at", "actor", "data"}))``; the first entry of a case
    chains to ``GENESIS_HASH``.
    """

    case_id: int
    seq: int
    type: str
    at: str
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form, as exported."""
        return {
            "seq": self.seq,
            "type": self.type,
            "at": self.at,
            "actor": self.actor,
            "data": dict(self.data),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @property
    def payload(self) -> DecodedPayload:
        """The event's data as its typed payload (an ``UnknownEvent`` for a type this version does not know)."""
        # Imported here: bot.core.events builds on this module's values (Severity, CaseStatus, Observable).
        from bot.core.events import decode

        return decode(self.type, self.data)


def canonical_json(value: object) -> bytes:
    """Serialise with sorted keys and no insignificant whitespace, so equal data hashes equally."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, type_: str, at: str, actor: str, data: Mapping[str, Any]) -> str:
    """Hash one timeline entry onto the previous one."""
    body = canonical_json({"type": type_, "at": at, "actor": actor, "data": data})
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds and ``Z``: fixed width, so strings sort as times do."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Read a time written by :func:`format_time` (or any ISO 8601 with an offset)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Read ``90``, ``30s``, ``15m``, ``1h``, ``2d`` (a bare number is seconds)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])
    raise ValueError("expected a duration such as 30s, 15m, 1h or 2d")


# --- chat identities ---------------------------------------------------------------------------------------

DEFAULT_PLATFORM = "slack"
"""The platform a bare user id belongs to: configs written before Discord and the console name Slack users bare."""

PLATFORMS = frozenset({"slack", "discord", "discord-role", "console", "memory"})


@dataclass(frozen=True, slots=True)
class ChatUser:
    """A person on one chat surface: ``(platform, id)``.

    Its :attr:`key` is the one string that names the user everywhere else (``access.roles``, votes, approvers,
    timeline actors): ``platform:id``, except that a Slack user stays its bare id, so that existing configs,
    stored votes and exported timelines keep their meaning.
    """

    platform: str
    id: str

    @property
    def key(self) -> str:
        """``U123`` for Slack, ``discord:1234…`` or ``console:alice`` elsewhere."""
        return self.id if self.platform == DEFAULT_PLATFORM else f"{self.platform}:{self.id}"

    @classmethod
    def parse(cls, entry: str) -> ChatUser:
        """Read an ``access.roles`` entry: ``slack:U123``, ``discord:123…``, ``console:alice`` or a bare Slack id.

        Raises:
            ValueError: a ``platform:`` prefix that names no chat platform.

        """
        platform, sep, rest = entry.partition(":")
        if not sep:
            return cls(DEFAULT_PLATFORM, entry)
        if platform not in PLATFORMS or not rest:
            raise ValueError(f"{entry!r}: write a user as ID, or PLATFORM:ID with PLATFORM one of {sorted(PLATFORMS)}")
        return cls(platform, rest)


def user_key(platform: str, user_id: str) -> str:
    """The key of ``user_id`` on ``platform`` (see :class:`ChatUser`)."""
    return ChatUser(platform, user_id).key
