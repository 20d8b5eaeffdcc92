"""AbuseIPDB: crowd-sourced abuse reports for IP addresses → a verdict per IP."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import Field, SecretStr

from bot.core.errors import ConnectorNotFound
from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from connectors import ConnectorSettings
from connectors.abuseipdb.client import BASE_URL, AbuseIpDbClient, IpReport
from connectors.http import RateLimiter, Window, credential_id, vendor_session

MALICIOUS_FROM = 75
SUSPICIOUS_FROM = 25


class Settings(ConnectorSettings):
    """``connectors.abuseipdb``."""

    api_key: SecretStr
    max_age_days: int = Field(default=90, ge=1, le=365)
    daily_limit: int = Field(default=1000, ge=1, description="checks per day on your plan (free: 1,000)")


class AbuseIpDb:
    """IntelLookup for IP addresses."""

    name = "abuseipdb"
    kinds = frozenset({ObservableKind.IP})
    external = True

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        key = settings.api_key.get_secret_value()
        self.http = vendor_session(
            self.name,
            settings,
            BASE_URL,
            headers={"Key": key, "Accept": "application/json"},
            transport=transport,
            limiter=RateLimiter(Window(settings.daily_limit, 86400)),
        )
        self.client = AbuseIpDbClient(self.http)
        self.credential_id = credential_id(key)
        self._max_age = settings.max_age_days

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Look up a well-known address to prove the key works."""
        await self.client.check("8.8.8.8", max_age_days=1)
        remaining = self.http.quota.remaining
        return f"API key accepted; {remaining if remaining is not None else 'unknown'} checks left today"

    async def lookup(self, observable: Observable) -> Verdict:
        """Rate one IP by its abuse confidence score."""
        try:
            report = await self.client.check(observable.value, max_age_days=self._max_age)
        except ConnectorNotFound:
            return Verdict(self.name, VerdictLevel.UNKNOWN, summary="not an address AbuseIPDB rates")
        return verdict(report)


def verdict(report: IpReport) -> Verdict:
    """Map a report to a verdict: confidence ≥ 75 malicious, ≥ 25 suspicious; whitelisted is benign."""
    score = report.abuse_confidence
    if report.is_whitelisted:
        level = VerdictLevel.BENIGN
    elif score >= MALICIOUS_FROM:
        level = VerdictLevel.MALICIOUS
    elif score >= SUSPICIOUS_FROM:
        level = VerdictLevel.SUSPICIOUS
    elif report.total_reports == 0:
        level = VerdictLevel.UNKNOWN
    else:
        level = VerdictLevel.BENIGN
    facts: dict[str, Any] = {
        k: v
        for k, v in {
            "country": report.country,
            "isp": report.isp,
            "usage": report.usage_type,
            "reports": report.total_reports,
            "tor": report.is_tor or None,
            "last_reported": report.last_reported,
        }.items()
        if v is not None
    }
    return Verdict(
        source="abuseipdb",
        level=level,
        score=score,
        summary=f"abuse confidence {score}% from {report.total_reports} reports by {report.distinct_users} users",
        facts=facts,
        link=f"https://www.abuseipdb.com/check/{report.ip}",
    )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The AbuseIPDB lookup."""
    return [AbuseIpDb(settings, transport)]
