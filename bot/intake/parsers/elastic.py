"""Kibana / Elastic Security alerts: 8.x alerts-as-data documents and 7.x signals.

Three shapes are accepted: the webhook body we document (``{"rule": {...}, "results_link": ...,
"alerts": {{{context.alerts.asJSON}}}}``, Kibana 8.8+), a bare array of alert documents, or one document.
Documents mix flat dotted keys (``"kibana.alert.rule.name"``) with nested ECS objects, and ECS values may be
lists (``host.ip``); ``base.lookup`` reads both. 7.x signals keep the rule under ``signal.rule``. Search hits
(``{"_id", "_source"}``) are unwrapped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bot.core.errors import PayloadError
from bot.core.models import AlertStatus, ObservableKind, Severity
from bot.intake.parsers.base import (
    WHOLE_BODY,
    FormatOptions,
    ParsedAlert,
    entities,
    first,
    first_text,
    parse_timestamp,
    require_object,
    severity_of,
    text,
    texts,
    unique,
)

_RULE_NAME = ("kibana.alert.rule.name", "signal.rule.name")
_RULE_ID = ("kibana.alert.rule.uuid", "signal.rule.id")
_SEVERITY = ("kibana.alert.severity", "kibana.alert.rule.severity", "signal.rule.severity")
_RISK_SCORE = ("kibana.alert.risk_score", "kibana.alert.rule.risk_score", "signal.rule.risk_score")
_FIELDS: tuple[tuple[str, ObservableKind, str | None], ...] = (
    ("source.ip", ObservableKind.IP, "src"),
    ("destination.ip", ObservableKind.IP, "dst"),
    ("host.name", ObservableKind.HOST, None),
    ("host.ip", ObservableKind.IP, "host"),
    ("user.name", ObservableKind.USER, None),
    ("url.full", ObservableKind.URL, None),
    ("url.original", ObservableKind.URL, None),
    ("dns.question.name", ObservableKind.DOMAIN, None),
    ("destination.domain", ObservableKind.DOMAIN, "dst"),
    ("file.hash.md5", ObservableKind.MD5, "file"),
    ("file.hash.sha1", ObservableKind.SHA1, "file"),
    ("file.hash.sha256", ObservableKind.SHA256, "file"),
    ("process.hash.md5", ObservableKind.MD5, "process"),
    ("process.hash.sha1", ObservableKind.SHA1, "process"),
    ("process.hash.sha256", ObservableKind.SHA256, "process"),
    ("email.from.address", ObservableKind.EMAIL, "sender"),
    ("email.to.address", ObservableKind.EMAIL, "recipient"),
)
_NOT_AN_ALERT = "expected a Kibana webhook body with an 'alerts' array, a Kibana alert document, or an array of them"


def parse(payload: Any, options: FormatOptions) -> list[ParsedAlert]:
    """Read a Kibana webhook body, an array of alert documents or one document."""
    if isinstance(payload, list):
        return [_alert(_document(item, index), {}, None, options, raw=item) for index, item in enumerate(payload)]
    body = require_object(payload, "a Kibana alert")
    if "alerts" not in body:
        return [_alert(_document(body, None), {}, None, options, raw=WHOLE_BODY)]

    alerts = body["alerts"]
    if not isinstance(alerts, list):
        raise PayloadError("Kibana webhook: 'alerts' must be an array (use {{{context.alerts.asJSON}}})")
    rule = body.get("rule")
    envelope = rule if isinstance(rule, Mapping) else {}
    link = text(body.get("results_link")) or text(envelope.get("url")) or None
    return [
        _alert(_document(item, index, check=False), envelope, link, options, raw=item)
        for index, item in enumerate(alerts)
    ]


def _document(item: Any, index: int | None, *, check: bool = True) -> Mapping[str, Any]:
    where = "the alert" if index is None else f"alert {index}"
    doc = require_object(item, where)
    source = doc.get("_source")
    if isinstance(source, Mapping):  # a search hit
        doc = {**source, "_id": doc.get("_id")}
    if check and first(doc, "kibana.alert.uuid", *_RULE_NAME, *_RULE_ID) is None:
        raise PayloadError(f"{_NOT_AN_ALERT}; {where} has no kibana.alert.* or signal.rule.* fields")
    return doc


def _alert(
    doc: Mapping[str, Any],
    envelope: Mapping[str, Any],
    link: str | None,
    options: FormatOptions,
    *,
    raw: Any,
) -> ParsedAlert:
    name = first_text(doc, *_RULE_NAME) or text(envelope.get("name"))
    reason = first_text(doc, "kibana.alert.reason", "signal.reason")
    return ParsedAlert(
        title=name or "Untitled alert from elastic",
        severity=_severity(doc, envelope) or options.default_severity,
        rule=first_text(doc, *_RULE_ID) or text(envelope.get("id")) or name or "elastic alert",
        external_id=first_text(doc, "kibana.alert.uuid", "_id") or None,
        description=reason,
        time=parse_timestamp(first(doc, "@timestamp")),
        status=_status(doc),
        link=first_text(doc, "kibana.alert.url") or link,
        entities=unique(found for path, kind, role in _FIELDS for found in entities(kind, first(doc, path), role)),
        text=texts(reason, first(doc, "message"), first(doc, "process.command_line")),
        raw=raw,
    )


def _severity(doc: Mapping[str, Any], envelope: Mapping[str, Any]) -> Severity | None:
    word = severity_of(first(doc, *_SEVERITY)) or severity_of(envelope.get("severity"))
    if word is not None:
        return word
    score = _number(first(doc, *_RISK_SCORE))
    if score is None:
        score = _number(envelope.get("risk_score"))
    if score is None:
        return None
    if score < 22:
        return Severity.LOW
    if score < 48:
        return Severity.MEDIUM
    return Severity.HIGH if score < 74 else Severity.CRITICAL


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _status(doc: Mapping[str, Any]) -> AlertStatus:
    closed = text(first(doc, "kibana.alert.workflow_status", "signal.status")).lower() == "closed"
    recovered = text(first(doc, "kibana.alert.status")).lower() == "recovered"
    return AlertStatus.RESOLVED if closed or recovered else AlertStatus.FIRING
