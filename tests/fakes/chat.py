"""An in-memory ChatOut that records every card, update and whisper."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.core.ports import Card, MessageRef


@dataclass
class Posted:
    destination: str
    card: Card
    case_id: int | None
    ref: MessageRef


@dataclass
class MemoryChat:
    posted: list[Posted] = field(default_factory=list)
    updates: list[tuple[MessageRef, Card]] = field(default_factory=list)
    whispers: list[tuple[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def post(self, destination: str, card: Card, *, case_id: int | None = None) -> MessageRef:
        ref = MessageRef("memory", destination, str(next(self._ids)))
        self.posted.append(Posted(destination, card, case_id, ref))
        return ref

    async def update(self, ref: MessageRef, card: Card) -> None:
        self.updates.append((ref, card))

    async def whisper(self, user: str, text: str, *, where: MessageRef | None = None) -> None:
        self.whispers.append((user, text))

    def with_buttons(self) -> list[Posted]:
        return [p for p in self.posted if p.card.buttons]

    def current(self, ref: MessageRef) -> Card:
        """The card as it looks now (after updates)."""
        card = next(p.card for p in self.posted if p.ref == ref)
        for updated_ref, updated in self.updates:
            if updated_ref == ref:
                card = updated
        return card
