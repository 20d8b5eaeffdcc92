"""What a format parser returns, and small helpers every parser uses.

A parser is a pure function ``parse(payload, options) -> list[ParsedAlert]``: it reads the decoded JSON of one
delivery and returns one entry per alert in it. It never validates indicators (``bot.intake.ioc`` does) and
never touches the store. Shape problems raise :class:`bot.core.errors.PayloadError` with a message fit for the
sender.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.core.errors import PayloadError
from bot.core.models import AlertStatus, ObservableKind, Severity

WHOLE_BODY: Any = None
"""``ParsedAlert.raw`` value meaning "this alert is the whole request body" (stored byte for byte)."""


@dataclass(frozen=True, slots=True)
class Entity:
    """A structured indicator candidate taken from a known field; validated later."""

    kind: ObservableKind
    value: str
    role: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    """One alert as a format parser understood it.

    ``external_id`` is the sender's id (``sid``, ``kibana.alert.uuid``, …); ``None`` lets intake derive one
    from the content, so a byte-identical resend is still stored once. ``raw`` is the JSON object of this
    alert inside a batch, or ``WHOLE_BODY``. ``text`` holds free text that intake scans for indicators.
    """

    title: str
    severity: Severity
    rule: str
    external_id: str | None = None
    description: str = ""
    time: datetime | None = None
    status: AlertStatus = AlertStatus.FIRING
    link: str | None = None
    entities: tuple[Entity, ...] = ()
    text: tuple[str, ...] = ()
    raw: Any = WHOLE_BODY


@dataclass(frozen=True, slots=True)
class ObservablePath:
    """Generic format: where to find one kind of indicator."""

    path: str
    kind: ObservableKind
    role: str | None = None


@dataclass(frozen=True, slots=True)
class GenericMapping:
    """Generic format: dotted paths into the sender's JSON; ``None`` falls back to common field names."""

    title: str | None = None
    severity: str | None = None
    id: str | None = None
    time: str | None = None
    rule: str | None = None
    description: str | None = None
    link: str | None = None
    alerts: str | None = None
    observables: tuple[ObservablePath, ...] = ()
    severity_map: Mapping[str, Severity] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """Per-source settings a parser may use."""

    default_severity: Severity = Severity.MEDIUM
    mapping: GenericMapping | None = None


Parser = Callable[[Any, FormatOptions], list[ParsedAlert]]

_MISSING = object()


def lookup(obj: Any, path: str, default: Any = None) -> Any:
    """Return the value at a dotted ``path``, reading flat dotted keys and nested objects alike.

    Kibana writes ``{"kibana.alert.rule.name": …}`` next to nested ECS objects, so at each level the longest
    key that matches a prefix of the remaining path wins: ``lookup(d, "kibana.alert.rule.name")`` finds both
    ``d["kibana.alert.rule.name"]`` and ``d["kibana"]["alert"]["rule"]["name"]``. A numeric part indexes a
    list.
    """
    parts = path.split(".")
    found = _lookup(obj, parts)
    return default if found is _MISSING else found


def _lookup(obj: Any, parts: list[str]) -> Any:
    if not parts:
        return obj
    if isinstance(obj, Mapping):
        for cut in range(len(parts), 0, -1):
            key = ".".join(parts[:cut])
            if key in obj:
                found = _lookup(obj[key], parts[cut:])
                if found is not _MISSING:
                    return found
        return _MISSING
    if isinstance(obj, list) and parts[0].isdigit():
        index = int(parts[0])
        return _lookup(obj[index], parts[1:]) if index < len(obj) else _MISSING
    return _MISSING


def first(obj: Any, *paths: str) -> Any:
    """Return the first non-empty value among ``paths``."""
    for path in paths:
        value = lookup(obj, path)
        if value not in (None, "", [], {}):
            return value
    return None


def text(value: Any, limit: int = 4096) -> str:
    """Coerce a scalar to a stripped string (``""`` for None, lists joined), cut to ``limit`` characters."""
    if value is None:
        return ""
    if isinstance(value, list):  # one level only: nested containers are skipped, so depth cannot recurse
        items = (text(item, limit) for item in value if not isinstance(item, list | Mapping | None))
        return ", ".join(items)[:limit]
    if isinstance(value, Mapping):
        return ""
    return str(value).strip()[:limit]


def parse_timestamp(value: Any) -> datetime | None:
    """Read the timestamp styles SIEMs send: ISO 8601 (``Z``, ``+0000``, ``+00:00``) or epoch seconds/ms.

    Returns ``None`` for anything unreadable; the receive time is used instead.
    """
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        number = float(value)
        if number > 1e11:  # milliseconds
            number /= 1000
        try:
            return datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    candidate = value.strip().replace("Z", "+00:00").replace(" UTC", "+00:00")
    if len(candidate) >= 5 and candidate[-5] in "+-" and candidate[-4:].isdigit():  # +0000 → +00:00
        candidate = f"{candidate[:-2]}:{candidate[-2:]}"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.year < 1971:  # Alertmanager's zero time "0001-01-01T00:00:00Z" means "not set"
        return None
    aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        return aware.astimezone(UTC)  # year 9999 with a negative offset overflows here: treat as unknown
    except OverflowError:
        return None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def require_object(payload: Any, what: str) -> Mapping[str, Any]:
    """Return ``payload`` if it is a JSON object, else raise a PayloadError naming ``what``."""
    if not isinstance(payload, Mapping):
        raise PayloadError(f"expected a JSON object for {what}, got {type(payload).__name__}")
    return payload


def first_text(obj: Any, *paths: str, limit: int = 4096) -> str:
    """Return the first non-empty :func:`text` among ``paths`` (objects count as empty)."""
    for path in paths:
        value = text(lookup(obj, path), limit)
        if value:
            return value
    return ""


def severity_of(value: Any) -> Severity | None:
    """Read a severity word or number, or return ``None`` when it is not one (never raises)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and len(value) > 64:
        return None
    try:
        return Severity.parse(value)
    except (ValueError, OverflowError):
        return None


def severity_or(value: Any, default: Severity) -> Severity:
    """Read a severity word or number, falling back to ``default``."""
    return severity_of(value) or default


_HASH_LENGTHS = {32: ObservableKind.MD5, 40: ObservableKind.SHA1, 64: ObservableKind.SHA256}
_HEX = frozenset("0123456789abcdefABCDEF")


def hash_kind(value: str) -> ObservableKind | None:
    """Tell MD5, SHA-1 and SHA-256 apart by length; ``None`` when ``value`` is not a hex digest."""
    if not _HEX.issuperset(value):
        return None
    return _HASH_LENGTHS.get(len(value))


MAX_VALUES_PER_FIELD = 64


def entities(kind: ObservableKind | None, value: Any, role: str | None = None) -> list[Entity]:
    """Make entities from a string or a list of strings; ``kind=None`` picks a hash kind by length.

    Empty strings and non-string items are skipped; at most ``MAX_VALUES_PER_FIELD`` values are kept.
    """
    values = value if isinstance(value, list) else [value]
    found: list[Entity] = []
    for item in values[:MAX_VALUES_PER_FIELD]:
        if not isinstance(item, str):
            continue
        cleaned = text(item)
        item_kind = kind or hash_kind(cleaned)
        if cleaned and item_kind is not None:
            found.append(Entity(item_kind, cleaned, role))
    return found


def host_or_ip(value: str, role: str | None = None) -> Entity:
    """Make an IP entity when ``value`` is an address literal, else a HOST entity."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return Entity(ObservableKind.HOST, value, role)
    return Entity(ObservableKind.IP, value, role)


def unique(found: Iterable[Entity]) -> tuple[Entity, ...]:
    """Drop repeated entities, keeping first-seen order."""
    return tuple(dict.fromkeys(found))


def strings(value: Any, *, max_depth: int = 32, budget: int = 64 * 1024, max_nodes: int = 100_000) -> list[str]:
    """Collect the string leaves of a JSON value, depth first, within ``max_depth`` and ``budget`` chars."""
    found: list[str] = []
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and budget > 0 and max_nodes > 0:
        node, depth = stack.pop()
        max_nodes -= 1
        if isinstance(node, str):
            leaf = text(node, min(budget, 4096))
            if leaf:
                found.append(leaf)
                budget -= len(leaf)
        elif depth < max_depth and isinstance(node, Mapping | list):
            children = list(node.values() if isinstance(node, Mapping) else node)
            stack.extend((child, depth + 1) for child in reversed(children))
    return found


def texts(*values: Any) -> tuple[str, ...]:
    """Return the non-empty :func:`text` of each value, for ``ParsedAlert.text``."""
    return tuple(item for item in (text(value) for value in values) if item)
