"""Microsoft Sentinel incidents, as a Logic App posts them.

The "Microsoft Sentinel incident" trigger's ``triggerBody()`` wraps the incident in ``object``
(``{"objectSchemaType": "Incident", "object": {"name", "properties": {...}}}``); some setups post the bare
incident, so ``payload.get("object", payload)`` is read. ``relatedEntities[]`` items carry ``kind`` and their
fields under ``properties`` — or at the top level in other exports — and both are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.errors import PayloadError
from bot.core.models import AlertStatus, ObservableKind
from bot.intake.parsers.base import (
    WHOLE_BODY,
    Entity,
    FormatOptions,
    ParsedAlert,
    entities,
    first,
    hash_kind,
    parse_timestamp,
    require_object,
    severity_or,
    text,
    texts,
    unique,
)

_HASH_ALGORITHMS = {"md5": ObservableKind.MD5, "sha1": ObservableKind.SHA1, "sha256": ObservableKind.SHA256}
_MAX_ENTITIES = 256


def parse(payload: Any, options: FormatOptions) -> list[ParsedAlert]:
    """Read one Sentinel incident, wrapped by the Logic App trigger or bare."""
    body = require_object(payload, "a Sentinel incident")
    incident = require_object(body.get("object", body), "the Sentinel incident ('object')")
    props = incident.get("properties")
    if not isinstance(props, Mapping):
        raise PayloadError("not a Sentinel incident: expected an object with 'properties'")

    title = text(props.get("title"))
    description = text(props.get("description"))
    return [
        ParsedAlert(
            title=title or "Untitled alert from sentinel",
            severity=severity_or(props.get("severity"), options.default_severity),
            rule=_rule(props.get("relatedAnalyticRuleIds")) or title or "sentinel incident",
            external_id=text(incident.get("name")) or text(props.get("providerIncidentId")) or None,
            description=description,
            time=parse_timestamp(first(props, "createdTimeUtc", "firstActivityTimeUtc")),
            status=AlertStatus.RESOLVED if text(props.get("status")).lower() == "closed" else AlertStatus.FIRING,
            link=text(props.get("incidentUrl")) or None,
            entities=_entities(props.get("relatedEntities")),
            text=(*texts(description), *_alert_names(props.get("alerts"))),
            raw=WHOLE_BODY,
        )
    ]


def _rule(rule_ids: Any) -> str:
    """Return the GUID at the end of the first analytic rule's resource id."""
    if isinstance(rule_ids, list) and rule_ids:
        return text(rule_ids[0]).rstrip("/").rsplit("/", 1)[-1]
    return ""


def _alert_names(alerts: Any) -> tuple[str, ...]:
    if not isinstance(alerts, list):
        return ()
    return texts(*(first(alert, "properties.alertDisplayName", "alertDisplayName") for alert in alerts[:64]))


def _entities(related: Any) -> tuple[Entity, ...]:
    if not isinstance(related, list):
        return ()
    found: list[Entity] = []
    for item in related[:_MAX_ENTITIES]:
        if isinstance(item, Mapping):
            nested = item.get("properties")
            fields = {**item, **nested} if isinstance(nested, Mapping) else item
            found.extend(_entity(text(item.get("kind")).lower(), fields))
    return unique(found)


def _entity(kind: str, fields: Mapping[str, Any]) -> list[Entity]:
    """Map one Sentinel entity onto indicator candidates."""
    get = fields.get
    match kind:
        case "ip":
            return entities(ObservableKind.IP, get("address"))
        case "account":
            name, suffix = text(get("accountName")), text(get("upnSuffix"))
            return entities(ObservableKind.USER, f"{name}@{suffix}" if name and suffix else name)
        case "host":
            host, domain = text(get("hostName")) or text(get("netBiosName")), text(get("dnsDomain"))
            return entities(ObservableKind.HOST, f"{host}.{domain}" if host and domain else host)
        case "url":
            return entities(ObservableKind.URL, get("url"))
        case "dnsresolution" | "domain":
            return entities(ObservableKind.DOMAIN, get("domainName"))
        case "filehash":
            value = text(get("hashValue"))
            algorithm = _HASH_ALGORITHMS.get(text(get("algorithm")).lower()) or hash_kind(value)
            return entities(algorithm, value, "file") if algorithm else []
        case "mailmessage":
            return [
                *entities(ObservableKind.EMAIL, get("sender") or get("p1Sender"), "sender"),
                *entities(ObservableKind.EMAIL, get("recipient"), "recipient"),
            ]
        case "mailbox":
            return entities(ObservableKind.EMAIL, get("mailboxPrimaryAddress"), "mailbox")
    return []
