"""Generic JSON alerts, read through a per-source :class:`GenericMapping` of dotted paths.

A body is one alert object, a top-level array of them, or — with ``mapping.alerts`` — an object holding the
array at that path. A mapped path replaces the common field names tried by default. With no observable
paths configured, every string in the alert goes to ``text`` (depth and size capped) so the extractor can
still find indicators.
"""

from __future__ import annotations

from typing import Any

from bot.core.errors import PayloadError
from bot.core.models import Severity
from bot.intake.parsers.base import (
    WHOLE_BODY,
    FormatOptions,
    GenericMapping,
    ParsedAlert,
    entities,
    first,
    first_text,
    lookup,
    parse_timestamp,
    require_object,
    severity_or,
    strings,
    text,
    texts,
    unique,
)

_DEFAULTS = {
    "title": ("title", "name", "summary", "message", "rule.name"),
    "severity": ("severity", "level", "priority"),
    "id": ("id", "uuid", "alert_id", "event_id"),
    "time": ("time", "timestamp", "@timestamp", "created_at"),
    "rule": ("rule", "rule_id", "rule.name", "name", "title"),
    "description": ("description", "message", "details"),
    "link": ("link",),
}


def parse(payload: Any, options: FormatOptions) -> list[ParsedAlert]:
    """Read one generic JSON delivery into one alert per alert object."""
    mapping = options.mapping or GenericMapping()
    if mapping.alerts:
        items = lookup(require_object(payload, "a generic alert batch"), mapping.alerts)
        if not isinstance(items, list):
            raise PayloadError(f"expected an array of alerts at {mapping.alerts!r}")
        return [
            _alert(item, f"{mapping.alerts}[{index}]", mapping, options, raw=item) for index, item in enumerate(items)
        ]
    if isinstance(payload, list):
        return [_alert(item, f"alert {index}", mapping, options, raw=item) for index, item in enumerate(payload)]
    return [_alert(payload, "a generic alert", mapping, options, raw=WHOLE_BODY)]


def _alert(item: Any, where: str, mapping: GenericMapping, options: FormatOptions, *, raw: Any) -> ParsedAlert:
    alert = require_object(item, where)
    mapped = {
        "title": mapping.title,
        "severity": mapping.severity,
        "id": mapping.id,
        "time": mapping.time,
        "rule": mapping.rule,
        "description": mapping.description,
        "link": mapping.link,
    }

    def paths(field: str) -> tuple[str, ...]:
        path = mapped[field]
        return (path,) if path else _DEFAULTS[field]

    title = first_text(alert, *paths("title"))
    description = first_text(alert, *paths("description"))
    found = [
        entity
        for observable in mapping.observables
        for entity in entities(observable.kind, lookup(alert, observable.path), observable.role)
    ]
    return ParsedAlert(
        title=title or "Untitled alert from generic",
        severity=_severity(first(alert, *paths("severity")), mapping, options.default_severity),
        rule=first_text(alert, *paths("rule")) or title or "generic alert",
        external_id=first_text(alert, *paths("id")) or None,
        description=description,
        time=parse_timestamp(first(alert, *paths("time"))),
        link=first_text(alert, *paths("link")) or None,
        entities=unique(found),
        text=texts(description) if mapping.observables else tuple(strings(alert)),
        raw=raw,
    )


def _severity(value: Any, mapping: GenericMapping, default: Severity) -> Severity:
    if mapping.severity_map and isinstance(value, str | int | float) and not isinstance(value, bool):
        wanted = text(value).lower()
        for key, severity in mapping.severity_map.items():
            if key.lower() == wanted:
                return severity
    return severity_or(value, default)
