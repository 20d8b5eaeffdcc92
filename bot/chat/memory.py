"""A ChatOut that keeps cards in memory: the dry run prints them; nothing leaves the process."""

from __future__ import annotations

import itertools
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
class MemoryChat:
    """Records posts, updates and whispers in order."""

    posted: list[Sent] = field(default_factory=list)
    updates: list[tuple[MessageRef, Card]] = field(default_factory=list)
    whispers: list[tuple[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

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
