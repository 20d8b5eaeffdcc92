"""The neutral chat surface: a Transport and ChatChannels that keep everything in memory.

Nothing leaves the process. The playbook dry run delivers its cards here and prints them; tests use it as the
second surface beside a real adapter (each adapter's tests share it), reading back what each channel got, in
order, with the channels created, their topics, pins and archiving. It honours the outbox's contract like any
platform: ``send`` returns a message id, ``edit`` replaces a sent message, and ``fail_with`` scripts errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.chat.outbox import TransportError
from bot.core.ports import Card


@dataclass(slots=True)
class Sent:
    """One message as the surface shows it now (``versions`` holds every version it had, in order)."""

    id: str
    channel: str
    card: Card
    thread: str | None
    versions: list[Card] = field(default_factory=list)


@dataclass(slots=True)
class MemoryChannel:
    """A channel created through :meth:`MemoryChat.create_channel`."""

    id: str
    name: str
    topic: str
    purpose: str
    members: list[str]
    topics: list[str] = field(default_factory=list)  # every topic it had, in order
    archived: bool = False


@dataclass(slots=True)
class MemoryChat:
    """Records sends, edits, private notes, pins and channels; ``down`` makes every call fail like an outage."""

    platform: str = "memory"
    alerts_channel: str = "alerts"
    messages: dict[str, Sent] = field(default_factory=dict)
    whispers: list[tuple[str, str, str]] = field(default_factory=list)  # (channel, user, text)
    channels: dict[str, MemoryChannel] = field(default_factory=dict)
    pins: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    fail_with: list[TransportError] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _channel_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- Transport (what the outbox calls) -------------------------------------------------------------------

    async def send(self, channel: str, card: Card, *, thread_ts: str | None) -> str:
        """Keep the card; return its message id."""
        self._check()
        message = Sent(f"m{next(self._ids)}", channel, card, thread_ts, [card])
        self.messages[message.id] = message
        return message.id

    async def edit(self, channel: str, ts: str, card: Card) -> None:
        """Replace a sent card."""
        self._check()
        message = self.messages.get(ts)
        if message is None or message.channel != channel:
            raise TransportError("message_not_found", permanent=True)
        message.card = card
        message.versions.append(card)

    async def ephemeral(self, channel: str, user: str, card: Card) -> None:
        """Keep the private note."""
        self._check()
        self.whispers.append((channel, user, card.text))

    async def join(self, channel: str) -> bool:
        """Always in every channel."""
        return True

    async def pin(self, channel: str, message_id: str) -> None:
        """Keep the pin."""
        self._check()
        self.pins.append((channel, message_id))

    def _check(self) -> None:
        if self.down:
            raise TransportError("unavailable")
        if self.fail_with:
            raise self.fail_with.pop(0)

    # --- reading back ---------------------------------------------------------------------------------------

    @property
    def posted(self) -> list[Sent]:
        """Every message, in the order it was first sent."""
        return list(self.messages.values())

    def in_channel(self, channel: str) -> list[Sent]:
        """The messages sent to ``channel``."""
        return [m for m in self.messages.values() if m.channel == channel]

    def with_buttons(self) -> list[Sent]:
        """The messages that show buttons now."""
        return [m for m in self.messages.values() if m.card.buttons]

    def titled(self, prefix: str) -> list[Sent]:
        """The messages whose current title starts with ``prefix``."""
        return [m for m in self.messages.values() if m.card.title.startswith(prefix)]

    # --- ChatChannels ---------------------------------------------------------------------------------------

    async def create_channel(self, name: str, *, topic: str, purpose: str, members: Sequence[str]) -> str:
        """Create a channel under ``name``, or ``name-2``, ``name-3``… when taken (as Slack's adapter does)."""
        taken = {c.name for c in self.channels.values()}
        free, attempt = name, 1
        while free in taken:
            attempt += 1
            free = f"{name[:76]}-{attempt}"
        channel = MemoryChannel(f"C{next(self._channel_ids):04d}", free, topic, purpose, list(members), [topic])
        self.channels[channel.id] = channel
        return channel.id

    async def set_topic(self, channel: str, topic: str) -> None:
        """Change a channel's topic."""
        self.channels[channel].topic = topic
        self.channels[channel].topics.append(topic)

    async def archive(self, channel: str) -> None:
        """Mark the channel archived."""
        self.channels[channel].archived = True

    def channel_named(self, name: str) -> MemoryChannel:
        """The channel created under ``name``."""
        return next(c for c in self.channels.values() if c.name == name)
