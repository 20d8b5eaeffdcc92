"""Typed case events: the only thing the core emits.

Every change to a case is one entry appended to the case's hash-chained timeline (see
:class:`bot.core.models.TimelineEvent`). The entry's ``type`` is a :class:`CaseEventType` and its ``data`` is
written by one payload class here: a frozen dataclass per event type, whose :meth:`~_Payload.to_data` gives
exactly the JSON keys the timeline has always stored (exports and stored hash chains depend on them, so a key is
never renamed). Appending takes only these payloads; readers (chat cards, exports, digests) get them back with
:func:`decode`, which tolerates rows written by older versions.

A payload's fields are declared in the order of its JSON keys. Two field options (``metadata``) cover the
irregular keys: ``key`` names a JSON key that is not a valid field name (``from``), and ``omit_if_none`` leaves
a key out when it has no value (``case_opened`` carries ``reason`` only for a split).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints

from bot.core.models import (
    ActionStatus,
    ApprovalStatus,
    CaseStatus,
    Decision,
    Observable,
    RunStatus,
    Severity,
    StepStatus,
)
from bot.core.ports import ActionOutcome, ActionResult


class CaseEventType(StrEnum):
    """Every kind of timeline entry; the values are stored and exported, so they never change."""

    # Cases and alerts
    CASE_OPENED = "case_opened"
    CASE_SPLIT = "case_split"
    ALERT_ADDED = "alert_added"
    ALERT_RESOLVED = "alert_resolved"
    STATUS_CHANGED = "status_changed"
    SEVERITY_CHANGED = "severity_changed"
    ASSIGNED = "assigned"
    TAGGED = "tagged"
    NOTE_ADDED = "note_added"
    UNAUTHORIZED_ATTEMPT = "unauthorized_attempt"
    # Enrichment
    INDICATORS_ENRICHED = "indicators_enriched"
    TECHNIQUES_IDENTIFIED = "techniques_identified"
    # Incidents and the conversation as the case record
    INCIDENT_DECLARED = "incident_declared"
    INCIDENT_STATUS = "incident_status"
    INCIDENT_ROLE_ASSIGNED = "incident_role_assigned"
    INCIDENT_RESOLVED = "incident_resolved"
    INCIDENT_CHANNEL_ARCHIVED = "incident_channel_archived"
    CHAT_MESSAGE = "chat_message"
    CHAT_MESSAGE_EDITED = "chat_message_edited"
    CHAT_MESSAGE_DELETED = "chat_message_deleted"
    HIGHLIGHT = "highlight"
    CHAT_DELIVERY_FAILED = "chat_delivery_failed"
    # Playbooks
    PLAYBOOK_STARTED = "playbook_started"
    PLAYBOOK_FINISHED = "playbook_finished"
    STEP_FINISHED = "step_finished"
    NOTIFIED = "notified"
    TICKET_CREATED = "ticket_created"
    # Containment
    ACTION_ATTEMPTED = "action_attempted"
    ACTION_FINISHED = "action_finished"
    ACTION_FAILED = "action_failed"
    ACTION_REVERTED = "action_reverted"
    ACTION_REVERT_FAILED = "action_revert_failed"
    # Approvals
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_REMINDER = "approval_reminder"
    APPROVAL_ESCALATED = "approval_escalated"
    VOTE_RECORDED = "vote_recorded"
    APPROVAL_DECIDED = "approval_decided"
    APPROVAL_EXPIRED = "approval_expired"


def _key(name: str) -> dict[str, Any]:
    return {"key": name}


_OMIT_IF_NONE: dict[str, Any] = {"omit_if_none": True}


class _Payload:
    """Field-driven JSON mapping shared by every payload (no state of its own)."""

    __slots__ = ()
    type: ClassVar[CaseEventType]

    def to_data(self) -> dict[str, Any]:
        """The event's ``data`` as stored: plain JSON values under the historical keys, in their order."""
        data: dict[str, Any] = {}
        # Every alert appends an event on the ingest path: the field plan is worked out once per class, and plain
        # values skip the encoder.
        for name, key, omit_if_none, json_already in _plan(type(self)):
            value = getattr(self, name)
            if value is None:
                if not omit_if_none:
                    data[key] = None
            elif type(value) in _PLAIN:
                data[key] = value
            elif json_already:  # enrichment reports, results: the store's JSON round trip normalises them
                data[key] = list(value) if isinstance(value, tuple) else value
            else:
                data[key] = _encode(value)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Any:
        """Read stored ``data`` back: unknown keys are ignored and missing optional keys take their default.

        Raises:
            KeyError: a required key is missing.
            ValueError: a value is not one the field allows (an unknown status, say).

        """
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]  # every subclass is a dataclass
            key = f.metadata.get("key", f.name)
            if key in data:
                kwargs[f.name] = _convert(hints[f.name], data[key])
            elif f.default is MISSING and f.default_factory is MISSING:  # a required field
                raise KeyError(key)
        return cls(**kwargs)


_HINTS: dict[type, dict[str, Any]] = {}
_PLANS: dict[type, tuple[tuple[str, str, bool, bool], ...]] = {}
_PLAIN = frozenset({str, int, float, bool})


def _hints(cls: type) -> dict[str, Any]:
    # Resolved once per class: the annotations are strings (postponed evaluation).
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _is_json(hint: Any) -> bool:
    """True for fields that hold JSON already (``Mapping[str, Any]`` and tuples of them): stored as they are."""
    origin = get_origin(hint)
    if origin is Mapping:
        return True
    return origin is tuple and get_origin(get_args(hint)[0]) is Mapping


def _plan(cls: type) -> tuple[tuple[str, str, bool, bool], ...]:
    """``(field, JSON key, omit when None, JSON already)`` per field of a payload class, in order (worked out once)."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = _hints(cls)
        plan = tuple(
            (f.name, f.metadata.get("key", f.name), bool(f.metadata.get("omit_if_none")), _is_json(hints[f.name]))
            for f in fields(cls)
        )
        _PLANS[cls] = plan
    return plan


def _encode(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Observable):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _convert(hint: Any, value: Any) -> Any:
    """Turn a stored JSON value into the field's declared type."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in get_args(hint) if a is not type(None)]
        return _convert(inner, value)
    if origin is tuple:
        return tuple(_convert(get_args(hint)[0], v) for v in value)
    if hint is Any:
        return value
    if origin is Mapping or hint is Mapping:
        return dict(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if hint is Observable:
        return Observable.from_dict(value)
    if hint in (int, str, bool):
        return hint(value)
    raise TypeError(f"no conversion to {hint!r}")  # a payload field of a type this module does not map


# --- cases and alerts -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseOpened(_Payload):
    """A case was opened: by an alert (``reason``/``split_from`` when it split off), or from chat (``opened_by``)."""

    type: ClassVar[CaseEventType] = CaseEventType.CASE_OPENED
    case_id: int
    title: str
    severity: Severity
    source: str
    rule: str
    fingerprint: str
    reason: str | None = field(default=None, metadata=_OMIT_IF_NONE)
    split_from: int | None = field(default=None, metadata=_OMIT_IF_NONE)
    opened_by: str | None = field(default=None, metadata=_OMIT_IF_NONE)


@dataclass(frozen=True, slots=True)
class CaseSplit(_Payload):
    """A higher-severity alert opened ``new_case_id`` instead of joining this case."""

    type: ClassVar[CaseEventType] = CaseEventType.CASE_SPLIT
    new_case_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class AlertAdded(_Payload):
    """An alert joined the case (``alert_count`` is the case's count after it)."""

    type: ClassVar[CaseEventType] = CaseEventType.ALERT_ADDED
    alert_id: int
    alert_count: int
    source: str
    format: str
    external_id: str
    title: str
    severity: Severity
    time: str
    link: str | None
    observables: tuple[Observable, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertResolved(_Payload):
    """The sender said a firing alert of this case has ended."""

    type: ClassVar[CaseEventType] = CaseEventType.ALERT_RESOLVED
    alert_id: int
    external_id: str
    title: str


@dataclass(frozen=True, slots=True)
class StatusChanged(_Payload):
    """The case moved through its life cycle."""

    type: ClassVar[CaseEventType] = CaseEventType.STATUS_CHANGED
    from_: CaseStatus = field(metadata=_key("from"))
    to: CaseStatus
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SeverityChanged(_Payload):
    """The case's severity was changed."""

    type: ClassVar[CaseEventType] = CaseEventType.SEVERITY_CHANGED
    from_: Severity = field(metadata=_key("from"))
    to: Severity
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Assigned(_Payload):
    """The case got a new assignee (``from_`` is None when it had none)."""

    type: ClassVar[CaseEventType] = CaseEventType.ASSIGNED
    from_: str | None = field(metadata=_key("from"))
    to: str


@dataclass(frozen=True, slots=True)
class Tagged(_Payload):
    """Tags the case did not have yet were added."""

    type: ClassVar[CaseEventType] = CaseEventType.TAGGED
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NoteAdded(_Payload):
    """Someone wrote a note on the case."""

    type: ClassVar[CaseEventType] = CaseEventType.NOTE_ADDED
    text: str


@dataclass(frozen=True, slots=True)
class UnauthorizedAttempt(_Payload):
    """Someone without the role tried a command, an approval vote or an undo on this case.

    A refused command carries ``command`` and ``channel``; a refused vote ``approval_id`` and ``decision``; a
    refused undo ``action_id`` and ``decision="undo"``.
    """

    type: ClassVar[CaseEventType] = CaseEventType.UNAUTHORIZED_ATTEMPT
    user: str
    command: str | None = None
    channel: str | None = None
    approval_id: int | None = None
    action_id: int | None = None
    decision: str | None = None  # approve | deny | undo

    def to_data(self) -> dict[str, Any]:
        """The keys each kind of refusal has always written, in their order."""
        if self.command is not None:
            return {"user": self.user, "command": self.command, "channel": self.channel}
        subject = {"approval_id": self.approval_id} if self.approval_id is not None else {"action_id": self.action_id}
        return {**subject, "user": self.user, "decision": self.decision}


# --- enrichment -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndicatorsEnriched(_Payload):
    """The case's indicators were looked up; one report per indicator (the enrichment service's JSON form)."""

    type: ClassVar[CaseEventType] = CaseEventType.INDICATORS_ENRICHED
    indicators: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class TechniquesIdentified(_Payload):
    """MITRE ATT&CK techniques named in the case's alert text (id, name, tactics, url)."""

    type: ClassVar[CaseEventType] = CaseEventType.TECHNIQUES_IDENTIFIED
    techniques: tuple[Mapping[str, Any], ...]


# --- incidents and the conversation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentDeclared(_Payload):
    """An incident was declared; the channel fields are absent when no chat platform could open one."""

    type: ClassVar[CaseEventType] = CaseEventType.INCIDENT_DECLARED
    title: str
    channel: str | None = field(default=None, metadata=_OMIT_IF_NONE)
    channel_name: str | None = field(default=None, metadata=_OMIT_IF_NONE)
    severity: Severity | None = field(default=None, metadata=_OMIT_IF_NONE)
    members: tuple[str, ...] | None = field(default=None, metadata=_OMIT_IF_NONE)
    platform: str | None = field(default=None, metadata=_OMIT_IF_NONE)  # whose channels the channel is one of


@dataclass(frozen=True, slots=True)
class IncidentStatusPosted(_Payload):
    """A status update was posted to the incident."""

    type: ClassVar[CaseEventType] = CaseEventType.INCIDENT_STATUS
    text: str
    channel: str | None


@dataclass(frozen=True, slots=True)
class IncidentRoleAssigned(_Payload):
    """An incident role (commander, comms, …) changed hands."""

    type: ClassVar[CaseEventType] = CaseEventType.INCIDENT_ROLE_ASSIGNED
    role: str
    user: str
    previous: str | None
    channel: str | None


@dataclass(frozen=True, slots=True)
class IncidentResolved(_Payload):
    """The incident was resolved."""

    type: ClassVar[CaseEventType] = CaseEventType.INCIDENT_RESOLVED
    channel: str | None


@dataclass(frozen=True, slots=True)
class IncidentChannelArchived(_Payload):
    """The incident channel was archived after the incident was resolved."""

    type: ClassVar[CaseEventType] = CaseEventType.INCIDENT_CHANNEL_ARCHIVED
    channel: str


@dataclass(frozen=True, slots=True)
class _ChatMessage(_Payload):
    """A message of the case conversation (text redacted of secrets; ``redacted`` only when something was)."""

    platform: str
    channel: str
    author: str
    ts: str
    thread_ts: str | None
    permalink: str | None
    text: str
    redacted: bool | None = field(default=None, metadata=_OMIT_IF_NONE)


@dataclass(frozen=True, slots=True)
class ChatMessagePosted(_ChatMessage):
    """A message was posted in the incident channel or the case thread."""

    type: ClassVar[CaseEventType] = CaseEventType.CHAT_MESSAGE


@dataclass(frozen=True, slots=True)
class ChatMessageEdited(_ChatMessage):
    """A recorded message was edited (the original entry stays)."""

    type: ClassVar[CaseEventType] = CaseEventType.CHAT_MESSAGE_EDITED


@dataclass(frozen=True, slots=True)
class ChatMessageDeleted(_ChatMessage):
    """A recorded message was deleted (the original entry stays)."""

    type: ClassVar[CaseEventType] = CaseEventType.CHAT_MESSAGE_DELETED


@dataclass(frozen=True, slots=True)
class Highlight(_Payload):
    """A message was marked important with a 📌 reaction or a pin (``via``)."""

    type: ClassVar[CaseEventType] = CaseEventType.HIGHLIGHT
    platform: str
    channel: str
    author: str
    message_ts: str
    via: str  # reaction | pin


@dataclass(frozen=True, slots=True)
class ChatDeliveryFailed(_Payload):
    """A chat message about the case could not be delivered (``op`` is post, update or ephemeral)."""

    type: ClassVar[CaseEventType] = CaseEventType.CHAT_DELIVERY_FAILED
    platform: str
    channel: str
    op: str
    error: str
    title: str


# --- playbooks --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaybookStarted(_Payload):
    """A playbook run started for the case."""

    type: ClassVar[CaseEventType] = CaseEventType.PLAYBOOK_STARTED
    run_id: int
    playbook: str
    version: int


@dataclass(frozen=True, slots=True)
class PlaybookFinished(_Payload):
    """A playbook run completed or failed."""

    type: ClassVar[CaseEventType] = CaseEventType.PLAYBOOK_FINISHED
    run_id: int
    playbook: str
    status: RunStatus
    error: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StepFinished(_Payload):
    """A playbook step has an outcome."""

    type: ClassVar[CaseEventType] = CaseEventType.STEP_FINISHED
    run_id: int
    step: str
    status: StepStatus
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Notified(_Payload):
    """A playbook posted a notification card."""

    type: ClassVar[CaseEventType] = CaseEventType.NOTIFIED
    to: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class TicketCreated(_Payload):
    """A ticket was opened for the case (``reference`` is the ticket's key)."""

    type: ClassVar[CaseEventType] = CaseEventType.TICKET_CREATED
    connector: str
    action: str
    target: str
    outcome: ActionOutcome
    message: str = ""
    reference: str | None = None
    undo: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: ActionResult) -> TicketCreated:
        """The event for a ticketing connector's result (the same keys as ``ActionResult.to_dict``)."""
        return cls(
            result.connector,
            result.action,
            result.target,
            result.outcome,
            result.message,
            result.reference,
            result.undo,
        )


# --- containment ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionAttempted(_Payload):
    """A containment action is about to call the vendor (recorded before the call)."""

    type: ClassVar[CaseEventType] = CaseEventType.ACTION_ATTEMPTED
    action: str
    target: str
    connector: str
    key: str


@dataclass(frozen=True, slots=True)
class _ActionOutcome(_Payload):
    action_id: int
    action: str
    target: str
    connector: str
    status: ActionStatus
    result: Mapping[str, Any]
    revert_at: str | None = None
    # written since the event corridor: whether the card offers Undo (absent from older rows)
    reversible: bool | None = field(default=None, metadata=_OMIT_IF_NONE)


@dataclass(frozen=True, slots=True)
class ActionFinished(_ActionOutcome):
    """A containment action was done (``revert_at`` when it undoes itself)."""

    type: ClassVar[CaseEventType] = CaseEventType.ACTION_FINISHED


@dataclass(frozen=True, slots=True)
class ActionFailed(_ActionOutcome):
    """A containment action failed (``result`` holds the error)."""

    type: ClassVar[CaseEventType] = CaseEventType.ACTION_FAILED


@dataclass(frozen=True, slots=True)
class ActionReverted(_Payload):
    """A containment action was undone, by a person or by its TTL."""

    type: ClassVar[CaseEventType] = CaseEventType.ACTION_REVERTED
    action_id: int
    action: str
    target: str
    by: str
    result: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ActionRevertFailed(_Payload):
    """Undoing a containment action failed; it is tried again at ``next_try``."""

    type: ClassVar[CaseEventType] = CaseEventType.ACTION_REVERT_FAILED
    action_id: int
    error: str
    next_try: str


# --- approvals --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovalRequested(_Payload):
    """A gate or containment action waits for approval."""

    type: ClassVar[CaseEventType] = CaseEventType.APPROVAL_REQUESTED
    approval_id: int
    action: str
    target: str
    reason: str
    # written since the event corridor (the card's title); absent from older rows
    message: str | None = field(default=None, kw_only=True, metadata=_OMIT_IF_NONE)
    required: int
    critical: bool
    roles: tuple[str, ...]
    users: tuple[str, ...]
    expires_at: str
    requester: str


@dataclass(frozen=True, slots=True)
class ApprovalReminder(_Payload):
    """Approvers were reminded of a pending request."""

    type: ClassVar[CaseEventType] = CaseEventType.APPROVAL_REMINDER
    approval_id: int
    level: int
    # written since the event corridor, so the reminder card needs no lookup (absent from older rows)
    message: str | None = field(default=None, metadata=_OMIT_IF_NONE)
    expires_at: str | None = field(default=None, metadata=_OMIT_IF_NONE)


@dataclass(frozen=True, slots=True)
class ApprovalEscalated(_Payload):
    """A pending request was escalated to more roles or users."""

    type: ClassVar[CaseEventType] = CaseEventType.APPROVAL_ESCALATED
    approval_id: int
    level: int
    roles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    message: str | None = field(default=None, metadata=_OMIT_IF_NONE)  # as in ApprovalReminder
    expires_at: str | None = field(default=None, metadata=_OMIT_IF_NONE)


@dataclass(frozen=True, slots=True)
class VoteRecorded(_Payload):
    """An approver voted."""

    type: ClassVar[CaseEventType] = CaseEventType.VOTE_RECORDED
    approval_id: int
    user: str
    vote: Decision
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalDecided(_Payload):
    """A request was approved (enough approvals) or denied (one deny)."""

    type: ClassVar[CaseEventType] = CaseEventType.APPROVAL_DECIDED
    approval_id: int
    status: ApprovalStatus
    by: str
    reason: str | None
    approvers: tuple[str, ...]
    action: str
    target: str


@dataclass(frozen=True, slots=True)
class ApprovalExpired(_Payload):
    """Nobody decided in time; ``outcome`` is what the policy's ``on_timeout`` decided."""

    type: ClassVar[CaseEventType] = CaseEventType.APPROVAL_EXPIRED
    approval_id: int
    outcome: Decision
    action: str
    target: str


# --- reading back ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An entry whose type this version does not know, or whose data no longer fits its payload: kept as is."""

    type: str
    data: Mapping[str, Any]


EventPayload = (
    CaseOpened
    | CaseSplit
    | AlertAdded
    | AlertResolved
    | StatusChanged
    | SeverityChanged
    | Assigned
    | Tagged
    | NoteAdded
    | UnauthorizedAttempt
    | IndicatorsEnriched
    | TechniquesIdentified
    | IncidentDeclared
    | IncidentStatusPosted
    | IncidentRoleAssigned
    | IncidentResolved
    | IncidentChannelArchived
    | ChatMessagePosted
    | ChatMessageEdited
    | ChatMessageDeleted
    | Highlight
    | ChatDeliveryFailed
    | PlaybookStarted
    | PlaybookFinished
    | StepFinished
    | Notified
    | TicketCreated
    | ActionAttempted
    | ActionFinished
    | ActionFailed
    | ActionReverted
    | ActionRevertFailed
    | ApprovalRequested
    | ApprovalReminder
    | ApprovalEscalated
    | VoteRecorded
    | ApprovalDecided
    | ApprovalExpired
)
"""What may be appended to a timeline: one payload per :class:`CaseEventType`."""

DecodedPayload = EventPayload | UnknownEvent
"""What :func:`decode` reads back."""

PAYLOADS: Mapping[CaseEventType, type[EventPayload]] = {cls.type: cls for cls in get_args(EventPayload)}
"""The payload class of each event type."""


def decode(type: str, data: Mapping[str, Any]) -> DecodedPayload:
    """Read a stored entry's ``data`` as its typed payload.

    Rows of older versions decode too: unknown keys are ignored and missing optional keys defaulted. An unknown
    type, or data that does not fit its payload (a required key missing, a value outside its enum), gives an
    :class:`UnknownEvent` holding the raw data rather than an error, so one odd row cannot break a reader.
    """
    try:
        cls = PAYLOADS[CaseEventType(type)]
    except ValueError:
        return UnknownEvent(type, data)
    try:
        decoded: EventPayload = cls.from_data(data)
    except (KeyError, ValueError, TypeError):
        return UnknownEvent(type, data)
    return decoded
