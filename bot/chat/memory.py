"""A ChatOut (and ChatChannels) that keeps cards and channels in memory: nothing leaves the process.

The dry run prints its cards; tests read them back, with the channels created, their topics, pins and archiving.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.ports import Card, MessageRef


@dataclass(slots=True)
class Sent:
    """One card and where it went."""

    destination: str
    card: Card
    case_id: int | None
    ref: MessageRef


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
    """Records posts, updates and whispers in order, and the channels it was asked to create."""

    posted: list[Sent] = field(default_factory=list)
    updates: list[tuple[MessageRef, Card]] = field(default_factory=list)
    whispers: list[tuple[str, str]] = field(default_factory=list)
    channels: dict[str, MemoryChannel] = field(default_factory=dict)
    pins: list[MessageRef] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _channel_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def post(self, destination: str, card: Card, *, case_id: int | None = None) -> MessageRef:
        """Keep the card."""
        ref = MessageRef("memory", destination, str(next(self._ids)))
        self.posted.append(Sent(destination, card, case_id, ref))
        return ref

    async def update(self, ref: MessageRef, card: Card) -> None:
        """Keep the new version."""
        self.updates.append((ref, card))

    async def whisper(self, user: str, text: str, *, where: MessageRef | None = None) -> None:
        """Keep the private note."""
        self.whispers.append((user, text))

    def with_buttons(self) -> list[Sent]:
        """The cards that asked for a click."""
        return [p for p in self.posted if p.card.buttons]

    def current(self, ref: MessageRef) -> Card:
        """A card as it looks now, after its updates."""
        card = next(p.card for p in self.posted if p.ref == ref)
        for updated_ref, updated in self.updates:
            if updated_ref == ref:
                card = updated
        return card

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

    async def pin(self, ref: MessageRef) -> None:
        """Keep the pin."""
        self.pins.append(ref)

    async def archive(self, channel: str) -> None:
        """Mark the channel archived."""
        self.channels[channel].archived = True

    def channel_named(self, name: str) -> MemoryChannel:
        """The channel created under ``name``."""
        return next(c for c in self.channels.values() if c.name == name)
