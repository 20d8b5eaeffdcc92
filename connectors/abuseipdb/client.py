"""AbuseIPDB API v2: ``GET /check`` (https://docs.abuseipdb.com).

Auth is the ``Key`` header; without ``Accept: application/json`` errors come back as HTML. The free plan allows
1,000 checks a day, reported in ``X-RateLimit-*`` headers; over it the API answers 429 with ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.errors import ConnectorNotFound, ConnectorUnavailable
from connectors.http import VendorHttp, json_body

BASE_URL = "https://api.abuseipdb.com/api/v2"


@dataclass(frozen=True, slots=True)
class IpReport:
    """The parts of ``/check`` soarbot uses."""

    ip: str
    abuse_confidence: int
    total_reports: int
    distinct_users: int
    is_whitelisted: bool | None
    is_tor: bool
    country: str | None
    usage_type: str | None
    isp: str | None
    domain: str | None
    last_reported: str | None


class AbuseIpDbClient:
    """Typed access to the endpoints soarbot calls."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def check(self, ip: str, *, max_age_days: int = 90) -> IpReport:
        """Report on one IP address (422 for an address AbuseIPDB does not accept → ConnectorNotFound)."""
        response = await self.http.request("GET", "/check", params={"ipAddress": ip, "maxAgeInDays": str(max_age_days)})
        body = json_body(response)
        if response.status_code == 422:
            raise ConnectorNotFound(f"abuseipdb: {_first_error(body)}")
        if response.status_code != 200:
            raise ConnectorUnavailable(f"abuseipdb: HTTP {response.status_code}: {_first_error(body)}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ConnectorUnavailable("abuseipdb: answer without a data object")
        return IpReport(
            ip=str(data.get("ipAddress", ip)),
            abuse_confidence=int(data.get("abuseConfidenceScore") or 0),
            total_reports=int(data.get("totalReports") or 0),
            distinct_users=int(data.get("numDistinctUsers") or 0),
            is_whitelisted=data.get("isWhitelisted"),
            is_tor=bool(data.get("isTor")),
            country=data.get("countryCode"),
            usage_type=data.get("usageType"),
            isp=data.get("isp"),
            domain=data.get("domain"),
            last_reported=data.get("lastReportedAt"),
        )


def _first_error(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict):
            return str(first.get("detail", "error"))[:200]
    return "unexpected answer"
