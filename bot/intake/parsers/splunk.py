"""Splunk webhook alert action (Splunk Enterprise / Cloud 8.x–9.x).

Splunk posts ``{"result": {...}, "sid", "results_link", "search_name", "owner", "app"}`` with the **first
result row only**; every value is a string (multi-value fields arrive as lists). ``search_name`` is ``null``
for ad-hoc searches, so the rule then falls back to the search name encoded in the ``sid``. Indicators come
from common CIM field names; every string of the row also goes to ``text`` for the extractor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.core.errors import PayloadError
from bot.core.models import ObservableKind
from bot.intake.parsers.base import (
    WHOLE_BODY,
    Entity,
    FormatOptions,
    ParsedAlert,
    entities,
    first,
    first_text,
    host_or_ip,
    parse_timestamp,
    require_object,
    severity_or,
    strings,
    text,
    unique,
)

# scheduler__admin__search__RMD5e461a8ea6ec1d34b_at_1714557600_132 → "RMD5e461a8ea6ec1d34b"
_SCHEDULED_SID = re.compile(r"^(?:rt_)?scheduler_+(?P<name>.+?)_at_\d+_\d+$")

_ADDRESS_FIELDS = (("src", "src"), ("dest", "dst"), ("dst", "dst"))
_FIELDS: tuple[tuple[str, ObservableKind | None, str | None], ...] = (
    ("src_ip", ObservableKind.IP, "src"),
    ("dest_ip", ObservableKind.IP, "dst"),
    ("user", ObservableKind.USER, None),
    ("src_user", ObservableKind.USER, "src"),
    ("dest_host", ObservableKind.HOST, "dst"),
    ("src_host", ObservableKind.HOST, "src"),
    ("host", ObservableKind.HOST, "reporter"),
    ("dvc", ObservableKind.HOST, "reporter"),
    ("url", ObservableKind.URL, None),
    ("domain", ObservableKind.DOMAIN, None),
    ("query", ObservableKind.DOMAIN, None),
    ("file_hash", None, None),
    ("sha256", None, None),
    ("sha1", None, None),
    ("md5", None, None),
    ("sender", ObservableKind.EMAIL, "sender"),
    ("recipient", ObservableKind.EMAIL, "recipient"),
)


def parse(payload: Any, options: FormatOptions) -> list[ParsedAlert]:
    """Read one Splunk webhook delivery into one alert."""
    body = require_object(payload, "a Splunk webhook")
    if "result" not in body and "sid" not in body:
        raise PayloadError("not a Splunk webhook body: expected 'sid' and 'result'")
    row = body.get("result")
    if row is None:
        row = {}
    if not isinstance(row, Mapping):
        raise PayloadError("Splunk webhook: 'result' must be an object (the first result row)")

    sid = text(body.get("sid"))
    search_name = text(body.get("search_name"))
    sid_name = _name_from_sid(sid)
    return [
        ParsedAlert(
            title=search_name or (f"Splunk search {sid_name}" if sid_name else "Untitled alert from splunk"),
            severity=severity_or(first(row, "severity", "urgency"), options.default_severity),
            rule=search_name or sid_name or "splunk search",
            external_id=sid or None,
            description=first_text(row, "description", "signature"),
            time=parse_timestamp(first(row, "_time")),
            link=text(body.get("results_link")) or None,
            entities=_entities(row),
            text=tuple(strings(row)),
            raw=WHOLE_BODY,
        )
    ]


def _name_from_sid(sid: str) -> str:
    match = _SCHEDULED_SID.match(sid)
    if match is None:
        return ""
    return match["name"].split("__")[-1]


def _entities(row: Mapping[str, Any]) -> tuple[Entity, ...]:
    found: list[Entity] = []
    for name, direction in _ADDRESS_FIELDS:  # CIM src/dest hold an address or a host name
        found.extend(host_or_ip(item.value, direction) for item in entities(ObservableKind.HOST, row.get(name)))
    for field, kind, role in _FIELDS:
        found.extend(entities(kind, row.get(field), role))
    return unique(found)
