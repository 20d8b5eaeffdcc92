"""Prometheus Alertmanager webhook, ``version: "4"``; also the shared reader for Grafana's look-alike.

One notification carries a group of alerts; each ``alerts[]`` item becomes one alert with its own
``status`` (``firing``/``resolved``). Alertmanager re-sends an alert when it resolves, with the same
``fingerprint`` and ``startsAt``, so ``external_id = "{fingerprint}:{startsAt}"`` pairs the two and the status
tells them apart. ``endsAt`` is ``0001-01-01T00:00:00Z`` while firing. ``generatorURL`` points at the
monitoring system itself, so it becomes the link, never an indicator.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.core.errors import PayloadError
from bot.core.models import AlertStatus, ObservableKind
from bot.intake.parsers.base import (
    Entity,
    FormatOptions,
    ParsedAlert,
    entities,
    host_or_ip,
    parse_timestamp,
    require_object,
    severity_or,
    text,
    unique,
)

_LABEL_FIELDS: tuple[tuple[str, ObservableKind, str | None], ...] = (
    ("host", ObservableKind.HOST, None),
    ("hostname", ObservableKind.HOST, None),
    ("node", ObservableKind.HOST, None),
    ("src_ip", ObservableKind.IP, "src"),
    ("ip", ObservableKind.IP, None),
    ("user", ObservableKind.USER, None),
)


def _no_details(item: Mapping[str, Any]) -> list[str]:
    return []


@dataclass(frozen=True, slots=True)
class Flavour:
    """What differs between Alertmanager and the senders that copy its webhook."""

    name: str
    rule_labels: tuple[str, ...] = ("alertname",)
    details: Callable[[Mapping[str, Any]], list[str]] = _no_details


ALERTMANAGER = Flavour("alertmanager")


def parse(payload: Any, options: FormatOptions) -> list[ParsedAlert]:
    """Read one Alertmanager webhook notification into one alert per ``alerts[]`` item."""
    return parse_notification(payload, options, ALERTMANAGER)


def parse_notification(payload: Any, options: FormatOptions, flavour: Flavour) -> list[ParsedAlert]:
    """Read an Alertmanager-shaped notification the way ``flavour`` says."""
    body = require_object(payload, f"a {flavour.name} webhook")
    items = body.get("alerts")
    if not isinstance(items, list):
        raise PayloadError(f"expected an 'alerts' array in the {flavour.name} webhook body")
    common = _strings(body.get("commonLabels"))
    group_status = text(body.get("status"))
    return [
        _alert(require_object(item, f"alerts[{index}]"), common, group_status, options, flavour)
        for index, item in enumerate(items)
    ]


def _alert(
    item: Mapping[str, Any],
    common: dict[str, str],
    group_status: str,
    options: FormatOptions,
    flavour: Flavour,
) -> ParsedAlert:
    labels = {**common, **_strings(item.get("labels"))}
    annotations = _strings(item.get("annotations"))
    resolved = (text(item.get("status")) or group_status).lower() == "resolved"
    starts_at = text(item.get("startsAt"))
    ends_at = parse_timestamp(item.get("endsAt")) if resolved else None
    fingerprint = text(item.get("fingerprint")) or _fingerprint(labels)
    alertname = labels.get("alertname", "")
    description = annotations.get("description") or annotations.get("message", "")
    return ParsedAlert(
        title=annotations.get("summary") or alertname or f"Untitled alert from {flavour.name}",
        severity=severity_or(labels.get("severity"), options.default_severity),
        rule=next((labels[key] for key in flavour.rule_labels if labels.get(key)), f"{flavour.name} alert"),
        external_id=f"{fingerprint}:{starts_at}",
        description="\n".join(part for part in (description, *flavour.details(item)) if part),
        time=ends_at or parse_timestamp(starts_at),
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        link=text(item.get("generatorURL")) or None,
        entities=_entities(labels),
        text=tuple(value for key, value in annotations.items() if _is_free_text(key)),
        raw=item,
    )


def _strings(value: Any) -> dict[str, str]:
    """Keep the non-empty string values of a label or annotation set."""
    if not isinstance(value, Mapping):
        return {}
    return {str(key): cleaned for key, item in value.items() if isinstance(item, str) and (cleaned := text(item))}


def _is_free_text(annotation: str) -> bool:
    """Skip links to runbooks and dashboards and Grafana's ``__internal__`` annotations."""
    return not (annotation.startswith("__") or annotation.lower().endswith("url"))


def _fingerprint(labels: Mapping[str, str]) -> str:
    """Derive a stable fingerprint from the label set when the sender gave none."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]


def _entities(labels: Mapping[str, str]) -> tuple[Entity, ...]:
    found: list[Entity] = []
    instance = _instance_host(labels.get("instance", ""))
    if instance:
        found.append(host_or_ip(instance, "instance"))
    for label, kind, role in _LABEL_FIELDS:
        found.extend(entities(kind, labels.get(label), role))
    return unique(found)


def _instance_host(instance: str) -> str:
    """Return the host part of an ``instance`` label: ``host:port``, ``[v6]:port``, a URL or a bare host."""
    if "://" in instance:
        try:
            return urlsplit(instance).hostname or ""
        except ValueError:
            return ""
    try:
        ipaddress.ip_address(instance)
    except ValueError:
        pass
    else:
        return instance  # a bare IPv6 address has colons but no port
    host, colon, port = instance.rpartition(":")
    if colon and port.isdecimal():
        return host.strip("[]")
    return instance
