"""RDAP (RFC 9083 JSON over RFC 7480 HTTP): ``GET /ip/{address}`` and ``GET /domain/{name}``; no key.

The default base is the rdap.org bootstrap service, which answers 302 with the authoritative registry's URL
(RFC 9224), so the HTTP client must follow redirects. ``Accept: application/rdap+json``. Quirks this module
absorbs:

- Contact data is jCard (RFC 7095) in ``vcardArray``: ``["vcard", [[name, params, type, value], ...]]``.
- The abuse contact is an entity with role ``abuse``, usually nested in the registrant's or registrar's entity.
- Dates are ``events[]`` (``registration``, ``expiration``, ``last changed``) in ISO 8601 with any offset.
- IP ranges come as ``startAddress``/``endAddress`` and, with the ``cidr0`` extension, ``cidr0_cidrs``.
- "No such object" is HTTP 404, maybe with an ``errorCode``/``title`` body; an unsupported query may be 400.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bot.core.errors import ConnectorNotFound, ConnectorUnavailable
from connectors.http import VendorHttp, json_body

BASE_URL = "https://rdap.org"
ACCEPT = "application/rdap+json, application/json;q=0.9"


@dataclass(frozen=True, slots=True)
class IpNetwork:
    """The registry's record of the network an address belongs to."""

    handle: str | None
    name: str | None
    type: str | None
    country: str | None
    start_address: str | None
    end_address: str | None
    cidrs: tuple[str, ...]
    registrant: str | None
    abuse_email: str | None
    link: str | None


@dataclass(frozen=True, slots=True)
class DomainRecord:
    """The registry's record of a domain name."""

    name: str
    registered: datetime | None
    expires: datetime | None
    last_changed: datetime | None
    registrar: str | None
    nameservers: tuple[str, ...]
    status: tuple[str, ...]
    abuse_email: str | None
    link: str | None


class RdapClient:
    """Typed access to RDAP network and domain lookups."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def ip(self, address: str) -> IpNetwork:
        """The network record for one IP address (``ConnectorNotFound`` when no registry has one)."""
        body = await self._get(f"/ip/{quote(address, safe=':')}")
        entities = _list(body.get("entities"))
        registrant = next((e for e in entities if "registrant" in _roles(e)), None)
        return IpNetwork(
            handle=_str(body.get("handle")),
            name=_str(body.get("name")),
            type=_str(body.get("type")),
            country=_str(body.get("country")),
            start_address=_str(body.get("startAddress")),
            end_address=_str(body.get("endAddress")),
            cidrs=tuple(_cidrs(body.get("cidr0_cidrs"))),
            registrant=_vcard(registrant, "fn") if registrant else None,
            abuse_email=_abuse_email(entities),
            link=_link(body),
        )

    async def domain(self, name: str) -> DomainRecord:
        """The registry's record for one domain name (``ConnectorNotFound`` when it has none)."""
        body = await self._get(f"/domain/{quote(name, safe='')}")
        entities = _list(body.get("entities"))
        registrar = next((e for e in entities if "registrar" in _roles(e)), None)
        events = {
            str(e.get("eventAction")): _when(e.get("eventDate"))
            for e in _list(body.get("events"))
            if "eventAction" in e
        }
        return DomainRecord(
            name=str(body.get("ldhName") or name).lower(),
            registered=events.get("registration"),
            expires=events.get("expiration"),
            last_changed=events.get("last changed"),
            registrar=(_vcard(registrar, "fn") or _str(registrar.get("handle"))) if registrar else None,
            nameservers=tuple(str(ns["ldhName"]).lower() for ns in _list(body.get("nameservers")) if ns.get("ldhName")),
            status=tuple(str(s) for s in body.get("status") or () if isinstance(s, str)),
            abuse_email=_abuse_email(entities),
            link=_link(body),
        )

    async def _get(self, path: str) -> dict[str, Any]:
        """GET one RDAP object (after any bootstrap redirect); 404 and 400 mean no registry has it."""
        response = await self.http.request("GET", path)
        if response.status_code in (400, 404):
            raise ConnectorNotFound(f"rdap: HTTP {response.status_code}")
        if response.status_code != 200:
            raise ConnectorUnavailable(f"rdap: HTTP {response.status_code}")
        body = json_body(response)
        if not isinstance(body, dict):
            raise ConnectorUnavailable("rdap: answer is not an RDAP object")
        return body


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _roles(entity: dict[str, Any]) -> set[str]:
    roles = entity.get("roles")
    return {str(role).lower() for role in roles} if isinstance(roles, list) else set()


def _walk(entities: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every entity, nested ones included, depth first."""
    for entity in entities:
        yield entity
        yield from _walk(_list(entity.get("entities")))


def _vcard(entity: dict[str, Any], prop: str) -> str | None:
    """The first ``prop`` value of an entity's jCard (``["vcard", [[name, params, type, value], ...]]``)."""
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return None
    for item in card[1]:
        if isinstance(item, list) and len(item) >= 4 and item[0] == prop and isinstance(item[3], str) and item[3]:
            return item[3]
    return None


def _abuse_email(entities: list[dict[str, Any]]) -> str | None:
    for entity in _walk(entities):
        if "abuse" in _roles(entity) and (email := _vcard(entity, "email")):
            return email
    return None


def _cidrs(value: Any) -> Iterator[str]:
    for item in _list(value):
        prefix = item.get("v4prefix") or item.get("v6prefix")
        if prefix and item.get("length") is not None:
            yield f"{prefix}/{item['length']}"


def _when(value: Any) -> datetime | None:
    """An RDAP event date as an aware UTC datetime (no offset is read as UTC)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _link(body: dict[str, Any]) -> str | None:
    """The object's own URL (its ``self`` link) at the authoritative registry."""
    for link in _list(body.get("links")):
        if link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    return None
