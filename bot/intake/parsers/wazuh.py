"""Wazuh 4.x alerts: the JSON a ``custom-*`` integration posts, or the built-in ``shuffle`` wrapper.

A plain alert has ``rule.level`` (int 0–15), ``rule.id`` (a string), ``rule.description``, ``id``,
``timestamp`` (``2024-05-01T10:00:00.123+0000``), ``agent``, decoder fields under ``data.*`` and FIM fields
under ``syscheck.*``. The shuffle integration wraps the alert as ``{"severity": 1|2|3, "title", "text",
"rule_id", "timestamp", "id", "all_fields": <alert>}``; its severity is only used when the alert has no level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.errors import PayloadError
from bot.core.models import ObservableKind, Severity
from bot.intake.parsers.base import (
    WHOLE_BODY,
    FormatOptions,
    ParsedAlert,
    entities,
    first,
    first_text,
    lookup,
    parse_timestamp,
    require_object,
    strings,
    text,
    texts,
    unique,
)

_LEVELS = ((3, Severity.INFO), (6, Severity.LOW), (9, Severity.MEDIUM), (12, Severity.HIGH))
_SHUFFLE_SEVERITY = {1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH}
_FIELDS: tuple[tuple[str, ObservableKind, str | None], ...] = (
    ("agent.name", ObservableKind.HOST, "agent"),
    ("agent.ip", ObservableKind.IP, "agent"),
    ("data.srcip", ObservableKind.IP, "src"),
    ("data.dstip", ObservableKind.IP, "dst"),
    ("data.win.eventdata.ipAddress", ObservableKind.IP, "src"),
    ("data.srcuser", ObservableKind.USER, "src"),
    ("data.dstuser", ObservableKind.USER, "dst"),
    ("data.win.eventdata.targetUserName", ObservableKind.USER, "target"),
    ("syscheck.md5_after", ObservableKind.MD5, "file"),
    ("syscheck.sha1_after", ObservableKind.SHA1, "file"),
    ("syscheck.sha256_after", ObservableKind.SHA256, "file"),
)


def parse(payload: Any, options: FormatOptions) -> list[ParsedAlert]:
    """Read one Wazuh alert, plain or wrapped by the shuffle integration."""
    body = require_object(payload, "a Wazuh alert")
    wrapped = body.get("all_fields")
    wrapper: Mapping[str, Any] = body if isinstance(wrapped, Mapping) else {}
    alert = wrapped if isinstance(wrapped, Mapping) else body
    rule = alert.get("rule")
    if not isinstance(rule, Mapping):
        if not wrapper:
            raise PayloadError("not a Wazuh alert: expected a 'rule' object (or a shuffle 'all_fields' object)")
        rule = {}

    title = text(rule.get("description")) or text(wrapper.get("title"))
    full_log = text(alert.get("full_log")) or text(wrapper.get("text"))
    fim_path = first_text(alert, "syscheck.path")
    fim_event = first_text(alert, "syscheck.event") or "changed"
    fim_line = f"File {fim_path} {fim_event}" if fim_path and fim_path not in full_log else ""
    return [
        ParsedAlert(
            title=title or "Untitled alert from wazuh",
            severity=_severity(rule.get("level"), wrapper.get("severity"), options.default_severity),
            rule=text(rule.get("id")) or text(wrapper.get("rule_id")) or title or "wazuh alert",
            external_id=text(alert.get("id")) or text(wrapper.get("id")) or None,
            description="\n".join(part for part in (fim_line, full_log) if part),
            time=parse_timestamp(first(alert, "timestamp") or wrapper.get("timestamp")),
            entities=unique(
                found for path, kind, role in _FIELDS for found in entities(kind, lookup(alert, path), role)
            ),
            text=(*texts(full_log, fim_path, lookup(rule, "mitre.id")), *strings(alert.get("data"))),
            raw=WHOLE_BODY,
        )
    ]


def _severity(level: Any, shuffle_severity: Any, default: Severity) -> Severity:
    number = _integer(level)
    if number is not None:
        return next((severity for top, severity in _LEVELS if number <= top), Severity.CRITICAL)
    return _SHUFFLE_SEVERITY.get(_integer(shuffle_severity) or 0, default)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 6:
        return int(value.strip())
    return None
