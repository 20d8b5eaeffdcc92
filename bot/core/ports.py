"""Capability contracts between the core and connectors, and the values that cross them.

A connector implements one small Protocol per capability: ``IntelLookup`` for threat intelligence,
``Containment`` for reversible response actions (isolate a host, disable an account, block an IP) and
``Ticketing`` / ``Notifier`` for one-way side effects. Every connector also has ``check()`` for
``soarbot check-config --probe``. Vendors' JSON never crosses this line: connectors return these types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from bot.core.models import Observable, ObservableKind


class VerdictLevel(StrEnum):
    """How bad an indicator looks, least bad first."""

    UNKNOWN = "unknown"
    BENIGN = "benign"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        """Order used when merging: malicious outranks suspicious outranks benign outranks unknown."""
        return list(VerdictLevel).index(self)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One source's opinion of one indicator.

    ``score`` is 0–100 confidence that the indicator is malicious. ``summary`` is one human line ("8/90 engines
    flag it"), ``facts`` a few key values (country, ASN, tags), ``link`` the vendor's page for it.
    ``authoritative`` marks local allow/block lists, which override every other source when merging.
    """

    source: str
    level: VerdictLevel
    score: int = 0
    summary: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    link: str | None = None
    authoritative: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "source": self.source,
            "level": str(self.level),
            "score": self.score,
            "summary": self.summary,
            "facts": dict(self.facts),
            "link": self.link,
            "authoritative": self.authoritative,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Read :meth:`to_dict` output back (cache rows)."""
        return cls(
            source=str(data["source"]),
            level=VerdictLevel(data["level"]),
            score=int(data.get("score", 0)),
            summary=str(data.get("summary", "")),
            facts=dict(data.get("facts") or {}),
            link=data.get("link"),
            authoritative=bool(data.get("authoritative", False)),
        )


class ActionOutcome(StrEnum):
    """What a response action did."""

    DONE = "done"  # the vendor changed state
    ALREADY = "already"  # the vendor was already in the wanted state (idempotent success)
    SIMULATED = "simulated"  # the simulated responder recorded it; nothing was changed anywhere


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The result of a successful response action (failures raise ``ConnectorError``).

    ``reference`` is the vendor's id for what was done (a rule id, an action id) and ``undo`` what
    ``revert`` needs to reverse it, when the vendor needs more than the target.
    """

    connector: str
    action: str
    target: str
    outcome: ActionOutcome
    message: str = ""
    reference: str | None = None
    undo: Mapping[str, Any] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        """True when nothing real happened."""
        return self.outcome is ActionOutcome.SIMULATED

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "connector": self.connector,
            "action": self.action,
            "target": self.target,
            "outcome": str(self.outcome),
            "message": self.message,
            "reference": self.reference,
            "undo": dict(self.undo),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionResult:
        """Read :meth:`to_dict` output back (timeline events carry results in that form)."""
        return cls(
            connector=str(data.get("connector", "")),
            action=str(data.get("action", "")),
            target=str(data.get("target", "")),
            outcome=ActionOutcome(data.get("outcome", "done")),
            message=str(data.get("message") or ""),
            reference=data.get("reference"),
            undo=dict(data.get("undo") or {}),
        )


class ContainmentKind(StrEnum):
    """The reversible response capabilities, and the indicator kind each acts on."""

    EDR = "edr"  # contain / release a host
    IDENTITY = "identity"  # disable (and revoke sessions) / enable an account
    FIREWALL = "firewall"  # block / unblock an IP

    @property
    def target_kind(self) -> ObservableKind:
        """The indicator kind this capability takes."""
        return {
            ContainmentKind.EDR: ObservableKind.HOST,
            ContainmentKind.IDENTITY: ObservableKind.USER,
            ContainmentKind.FIREWALL: ObservableKind.IP,
        }[self]


@runtime_checkable
class Connector(Protocol):
    """What every connector has: a name and a probe."""

    name: str

    async def check(self) -> str:
        """Prove credentials and reachability; return a short description (raises ConnectorError)."""
        ...


@runtime_checkable
class IntelLookup(Connector, Protocol):
    """Threat-intelligence lookups.

    ``kinds`` says which indicator kinds it answers for; ``external`` whether the indicator leaves this machine
    (internal indicators are never given to an external lookup). ``credential_id`` is a non-secret
    fingerprint of the credentials, so rotating a key misses the cache.
    """

    kinds: frozenset[ObservableKind]
    external: bool
    credential_id: str

    async def lookup(self, observable: Observable) -> Verdict:
        """Look one indicator up; "no data" is a Verdict with level UNKNOWN, failures raise ConnectorError."""
        ...


@runtime_checkable
class Containment(Connector, Protocol):
    """A reversible response action on one target. Never retried blind: idempotent by the vendor's semantics."""

    capability: ContainmentKind

    async def apply(self, target: str, *, reason: str, idempotency_key: str) -> ActionResult:
        """Contain / disable / block ``target``."""
        ...

    async def revert(self, target: str, *, reason: str, undo: Mapping[str, Any]) -> ActionResult:
        """Release / enable / unblock ``target`` (``undo`` is what ``apply`` returned in its result)."""
        ...


@runtime_checkable
class Ticketing(Connector, Protocol):
    """Open a ticket in a case system."""

    async def create_ticket(
        self, *, title: str, description: str, severity: str, labels: tuple[str, ...], idempotency_key: str
    ) -> ActionResult:
        """Create one ticket and return its key in ``reference``."""
        ...


@runtime_checkable
class Notifier(Connector, Protocol):
    """Send an event to an outside endpoint (a generic webhook)."""

    async def notify(self, event: Mapping[str, Any], *, idempotency_key: str) -> ActionResult:
        """Deliver ``event`` once."""
        ...


class Responders(Protocol):
    """The response side of the connector registry, as the playbook engine sees it."""

    containment: dict[ContainmentKind, Containment]
    ticketing: Ticketing | None
    notifier: Notifier | None


# --- chat, platform-neutral -------------------------------------------------------------------------------


class ButtonAction(StrEnum):
    """What a button does: every surface sends these back through the command router's one front door."""

    APPROVE = "approval.approve"
    DENY = "approval.deny"
    UNDO = "action.undo"
    OPEN_INCIDENT = "incident.open"


class ButtonStyle(StrEnum):
    """How a button looks."""

    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Button:
    """A button on a card; ``action`` names the handler (``approval.approve``), ``value`` its argument."""

    label: str
    action: str
    value: str
    style: ButtonStyle = ButtonStyle.DEFAULT


@dataclass(frozen=True, slots=True)
class Card:
    """A platform-neutral message: adapters render it as Block Kit or an embed. All text is untrusted."""

    title: str
    text: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    footer: str = ""
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a card was posted, so it can be updated."""

    platform: str
    conversation: str
    id: str

    def to_dict(self) -> dict[str, str]:
        """Plain JSON form."""
        return {"platform": self.platform, "conversation": self.conversation, "id": self.id}


class ChatTransport(Protocol):
    """The port a chat adapter implements to deliver messages: the whole contract between the outbox and a platform.

    The cut-off, like httpx's transport: a transport makes exactly one attempt per call and reports what happened.
    It never retries, waits, queues, paces, coalesces or remembers; it never reads the store or knows a case. All
    of that is the outbox's (``bot.chat.outbox``): durability across restarts, order (a thread's root before its
    replies, a post before its edits), pacing per channel, holding a channel for a rate limit, retries with
    backoff, and recording failures on the case timeline. Anything a platform needs to make one call succeed
    (joining a public channel it was not in, its own message formats and limits, escaping) stays inside the
    adapter.

    Message ids are opaque strings the platform assigns (Slack's ``ts``, a Discord snowflake); ``thread`` is the
    id of the message to reply under. ``card`` text is untrusted: the transport escapes it for its platform.
    Failures raise :class:`bot.core.errors.ChatDeliveryError` (rate limited, permanent or transient); any other
    exception is treated as transient.
    """

    platform: str  # the platform's name in keys and user ids: "slack", "discord", "console", "memory"
    alerts_channel: str  # where case cards go on this platform

    async def send(self, channel: str, card: Card, *, thread: str | None) -> str:
        """Post ``card`` (as a reply under ``thread`` when given); return the new message's id."""
        ...

    async def edit(self, channel: str, message_id: str, card: Card) -> None:
        """Replace a sent message with ``card`` (buttons included: none given means none shown)."""
        ...

    async def send_private(self, channel: str, user: str, card: Card) -> None:
        """Show ``card`` to ``user`` alone, in ``channel``."""
        ...

    async def pin(self, channel: str, message_id: str) -> None:
        """Pin a sent message (already pinned is success)."""
        ...


class ChatOut(Protocol):
    """The engine's way to talk to people; ``destination`` is ``alerts``, ``case`` or a channel name."""

    async def post(self, destination: str, card: Card, *, case_id: int | None = None) -> MessageRef | None:
        """Post a card; None when no chat platform is connected."""
        ...

    async def update(self, ref: MessageRef, card: Card) -> None:
        """Replace a posted card."""
        ...

    async def whisper(self, user: str, text: str, *, where: MessageRef | None = None) -> None:
        """Tell one user something only they see."""
        ...


@dataclass(frozen=True, slots=True)
class ButtonClicked:
    """Someone pressed a button (``reason`` comes from a follow-up form, e.g. deny-with-reason).

    ``user`` is the platform's own id for the person; ``platform`` says which (the router turns the pair into the
    user's key, see :class:`bot.core.models.ChatUser`).
    """

    user: str
    action: str
    value: str
    message: MessageRef | None = None
    reason: str | None = None
    platform: str = "slack"


@runtime_checkable
class TechniqueCatalog(Protocol):
    """Names MITRE ATT&CK techniques found in alert text (offline)."""

    async def techniques_in(self, text: str) -> list[Mapping[str, Any]]:
        """Each technique id found in ``text`` with its name, tactics and URL."""
        ...


# --- chat events (platform → soarbot) and channel operations ----------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandInvoked:
    """``/soar <text>`` typed by ``user`` in ``channel``."""

    platform: str
    user: str
    text: str
    channel: str


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """A message in a channel soarbot is in: posted, edited or deleted (``kind``), for the case record.

    ``event_id`` is the platform's delivery id (retries carry the same one), ``message_id`` the platform's id of
    the message, ``thread`` the id of the thread's root when it is a reply.
    """

    platform: str
    channel: str
    user: str
    text: str
    message_id: str
    event_id: str
    kind: str = "posted"
    thread: str | None = None
    permalink: str | None = None


@dataclass(frozen=True, slots=True)
class ReactionAdded:
    """Someone reacted to (or pinned, ``reaction == "pin"``) a message."""

    platform: str
    channel: str
    user: str
    reaction: str
    message_id: str
    event_id: str


ChatEvent = CommandInvoked | ButtonClicked | MessagePosted | ReactionAdded


@dataclass(frozen=True, slots=True)
class Reply:
    """The immediate answer to a command or click; private to the caller unless ``public``."""

    text: str
    card: Card | None = None
    public: bool = False


class ChatChannels(Protocol):
    """Channel operations for incident channels (Slack: conversations.*); ``platform`` names whose channels."""

    platform: str

    async def create_channel(self, name: str, *, topic: str, purpose: str, members: Sequence[str]) -> str:
        """Create a channel (a free name derived from ``name``), invite ``members``; return its id."""
        ...

    async def set_topic(self, channel: str, topic: str) -> None:
        """Change a channel's topic."""
        ...

    async def archive(self, channel: str) -> None:
        """Archive a channel."""
        ...
