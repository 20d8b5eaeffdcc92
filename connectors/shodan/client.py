"""Shodan REST API: ``GET /shodan/host/{ip}?key=…`` (https://developer.shodan.io/api); host lookups cost no credits.

Quirks: the API key travels in the **query string**, so it is added to the request only as it goes on the
wire (``make_client(query_secrets=…)``): the URL httpx logs, keeps on responses and puts in exceptions never
holds it, and no message raised here quotes the vendor's text. An address Shodan has not scanned is 404 ``{"error": "No
information available for that IP."}``; a bad key is 401 (often nginx's HTML page, not JSON); 402/403 mean the
plan does not allow the call; about one request per second. In a host, ``asn`` is a string (``"AS15169"``),
``ports`` come unsorted and ``vulns`` is absent, not empty, when there are none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.core.errors import ConnectorAuthError, ConnectorNotFound, ConnectorUnavailable
from connectors.http import VendorHttp, json_body

BASE_URL = "https://api.shodan.io"

_CVE = re.compile(r"CVE-(\d{4})-(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HostReport:
    """The parts of ``/shodan/host/{ip}`` soarbot uses; ``vulns`` are CVE ids, newest first."""

    ip: str
    org: str | None
    isp: str | None
    asn: str | None
    country_code: str | None
    ports: tuple[int, ...]
    hostnames: tuple[str, ...]
    vulns: tuple[str, ...]
    tags: tuple[str, ...]
    last_update: str | None


class ShodanClient:
    """Typed access to the host endpoint (the key is added on the wire by the client's transport)."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def host(self, ip: str) -> HostReport:
        """Everything Shodan has seen on one address (not scanned → ConnectorNotFound)."""
        response = await self.http.request("GET", f"/shodan/host/{quote(ip, safe=':')}")
        status = response.status_code
        if status in (400, 404):
            json_body(response)  # Shodan's own "no information" is JSON; a proxy's HTML 404 is a failure
            raise ConnectorNotFound(f"shodan: no information for that address (HTTP {status})")
        if status == 402:
            raise ConnectorAuthError("shodan: the plan of this key does not allow host lookups (HTTP 402)")
        if status != 200:
            raise ConnectorUnavailable(f"shodan: HTTP {status}")
        body = json_body(response)
        if not isinstance(body, dict):
            raise ConnectorUnavailable("shodan: answer is not a JSON object")
        return HostReport(
            ip=str(body.get("ip_str") or ip),
            org=_text(body.get("org")),
            isp=_text(body.get("isp")),
            asn=_text(body.get("asn")),
            country_code=_text(body.get("country_code")),
            ports=tuple(
                sorted({p for p in _list(body.get("ports")) if isinstance(p, int) and not isinstance(p, bool)})
            ),
            hostnames=tuple(str(h) for h in _list(body.get("hostnames"))),
            vulns=_cves(body.get("vulns")),
            tags=tuple(str(t) for t in _list(body.get("tags"))),
            last_update=_text(body.get("last_update")),
        )


def _cves(value: Any) -> tuple[str, ...]:
    """CVE ids from ``vulns`` (a list of ids, or a mapping keyed by id in older answers), newest first."""
    ids = {str(v).upper() for v in (value if isinstance(value, dict | list) else ())}

    def newest_first(cve: str) -> tuple[int, int, str]:
        match = _CVE.fullmatch(cve)
        return (-int(match[1]), -int(match[2]), cve) if match else (0, 0, cve)

    return tuple(sorted(ids, key=newest_first))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
