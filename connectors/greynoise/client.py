"""GreyNoise Community API v3: ``GET /v3/community/{ip}`` (https://docs.greynoise.io).

IPv4 only. The ``key`` header (lower-case) is optional: without it the unauthenticated plan applies, with a
smaller daily quota. Quirks: an address GreyNoise has not seen is **404 with a JSON body** (``noise`` and
``riot`` false, a ``message``), which is an answer rather than an error; 400 means the address is not a
routable IPv4 address; 429 carries ``{"plan", "rate-limit", "plan_url", "message"}`` and not necessarily a
``Retry-After``. ``classification`` is ``benign``, ``malicious``, ``unknown`` or (newer) ``suspicious``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from bot.core.errors import ConnectorNotFound, ConnectorUnavailable
from connectors.http import VendorHttp, json_body

BASE_URL = "https://api.greynoise.io"


class Classification(StrEnum):
    """GreyNoise's opinion of an address; anything it adds later reads as UNKNOWN."""

    BENIGN = "benign"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: Any) -> Classification:
        """Read the ``classification`` field, tolerating absent or new values."""
        try:
            return cls(str(value).lower())
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True, slots=True)
class CommunityReport:
    """One community answer; ``observed`` is False for the 404 "not observed" answer."""

    ip: str
    observed: bool
    noise: bool
    riot: bool
    classification: Classification
    name: str | None
    link: str | None
    last_seen: str | None
    message: str


class GreyNoiseClient:
    """Typed access to the community endpoint."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def community(self, ip: str) -> CommunityReport:
        """What GreyNoise knows about one IPv4 address (not routable → ConnectorNotFound)."""
        response = await self.http.request("GET", f"/v3/community/{quote(ip, safe='')}")
        body = json_body(response)
        if not isinstance(body, dict):
            raise ConnectorUnavailable(f"greynoise: HTTP {response.status_code}: answer is not a JSON object")
        message = str(body.get("message") or "")[:200]
        if response.status_code == 400:
            raise ConnectorNotFound(f"greynoise: {message or 'bad request'}")
        if response.status_code not in (200, 404):
            raise ConnectorUnavailable(f"greynoise: HTTP {response.status_code}: {message or 'unexpected answer'}")
        observed = response.status_code == 200
        return CommunityReport(
            ip=str(body.get("ip") or ip),
            observed=observed,
            noise=body.get("noise") is True,
            riot=body.get("riot") is True,
            classification=Classification.parse(body.get("classification")),
            name=_text(body.get("name")),
            link=_text(body.get("link")),
            last_seen=_text(body.get("last_seen")),
            message=message,
        )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
