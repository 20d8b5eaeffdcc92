"""VirusTotal API v3: ``GET /ip_addresses/{ip}``, ``/domains/{d}``, ``/urls/{id}``, ``/files/{hash}``.

Auth is the ``x-apikey`` header. A URL's id is its unpadded URL-safe base64 (standard base64 would put ``/``
into the path); unseen URLs answer 404 ``NotFoundError`` — this client never submits them (``POST /urls`` would
share the URL with VirusTotal's community and cost quota). Errors are ``{"error": {"code", "message"}}``;
400 means VirusTotal will not rate the value, 404 that it has no object for it, 429 ``QuotaExceededError``
that the public quota (4/min, 500/day, reset 00:00 UTC) is spent. File stats add hyphenated keys
(``type-unsupported``, ``confirmed-timeout``) and ``failure``: those engines gave no verdict.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from bot.core.errors import ConnectorNotFound, ConnectorUnavailable
from connectors.http import VendorHttp, json_body

BASE_URL = "https://www.virustotal.com/api/v3"


class ObjectType(StrEnum):
    """The VirusTotal object types soarbot reads (``data.type``)."""

    IP_ADDRESS = "ip_address"
    DOMAIN = "domain"
    URL = "url"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class AnalysisStats:
    """``attributes.last_analysis_stats``: how many engines said what in the last analysis."""

    harmless: int = 0
    malicious: int = 0
    suspicious: int = 0
    undetected: int = 0
    timeout: int = 0

    @property
    def with_verdict(self) -> int:
        """Engines that gave a verdict (timeouts, failures and unsupported types did not)."""
        return self.harmless + self.malicious + self.suspicious + self.undetected


@dataclass(frozen=True, slots=True)
class VtObject:
    """The parts of an IP, domain, URL or file object soarbot uses; kind-specific fields are None elsewhere."""

    type: ObjectType
    id: str
    stats: AnalysisStats
    reputation: int | None = None
    tags: tuple[str, ...] = ()
    as_owner: str | None = None
    asn: int | None = None
    country: str | None = None
    registrar: str | None = None
    meaningful_name: str | None = None
    type_description: str | None = None
    threat_label: str | None = None


def url_id(url: str) -> str:
    """The v3 identifier of a URL: its unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class VirusTotalClient:
    """Typed access to the object endpoints soarbot calls (reads only)."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def ip_address(self, ip: str) -> VtObject:
        """The IP address object."""
        return await self._get("ip_addresses", ip, ObjectType.IP_ADDRESS)

    async def domain(self, name: str) -> VtObject:
        """The domain object."""
        return await self._get("domains", name.lower(), ObjectType.DOMAIN)

    async def url(self, url: str) -> VtObject:
        """The URL object of an already-analysed URL (unseen → ConnectorNotFound; nothing is submitted)."""
        return await self._get("urls", url_id(url), ObjectType.URL)

    async def file(self, digest: str) -> VtObject:
        """The file object for an MD5, SHA-1 or SHA-256 (its ``id`` is always the SHA-256)."""
        return await self._get("files", digest.lower(), ObjectType.FILE)

    async def _get(self, collection: str, ident: str, expected: ObjectType) -> VtObject:
        response = await self.http.request("GET", f"/{collection}/{quote(ident, safe=':')}")
        body = json_body(response)
        if response.status_code in (400, 404):
            raise ConnectorNotFound(f"virustotal: {_error_code(body)}")
        if response.status_code != 200:
            raise ConnectorUnavailable(f"virustotal: HTTP {response.status_code}: {_error_code(body)}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("attributes"), dict):
            raise ConnectorUnavailable("virustotal: answer without a data object")
        return _parse(data, expected)


def _parse(data: dict[str, Any], expected: ObjectType) -> VtObject:
    attributes: dict[str, Any] = data["attributes"]
    stats = attributes.get("last_analysis_stats")
    stats = stats if isinstance(stats, dict) else {}
    threat = attributes.get("popular_threat_classification")
    tags = attributes.get("tags")
    return VtObject(
        type=expected,
        id=str(data.get("id") or ""),
        stats=AnalysisStats(
            harmless=_count(stats, "harmless"),
            malicious=_count(stats, "malicious"),
            suspicious=_count(stats, "suspicious"),
            undetected=_count(stats, "undetected"),
            timeout=_count(stats, "timeout"),
        ),
        reputation=_optional_int(attributes.get("reputation")),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        as_owner=_optional_str(attributes.get("as_owner")),
        asn=_optional_int(attributes.get("asn")),
        country=_optional_str(attributes.get("country")),
        registrar=_optional_str(attributes.get("registrar")),
        meaningful_name=_optional_str(attributes.get("meaningful_name")),
        type_description=_optional_str(attributes.get("type_description")),
        threat_label=_optional_str(threat.get("suggested_threat_label")) if isinstance(threat, dict) else None,
    )


def _count(stats: dict[str, Any], key: str) -> int:
    return _optional_int(stats.get(key)) or 0


def _optional_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _optional_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _error_code(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("code"):
        return str(error["code"])[:80]
    return "unexpected answer"
