"""GreyNoise Community: is an IPv4 address internet background noise or a known business service → a verdict."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
from pydantic import Field, SecretStr

from bot.core.errors import ConnectorNotFound
from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from connectors import ConnectorSettings
from connectors.greynoise.client import BASE_URL, Classification, CommunityReport, GreyNoiseClient
from connectors.http import RateLimiter, Window, credential_id, vendor_session

VIZ = "https://viz.greynoise.io"
_SCORES = {
    Classification.MALICIOUS: (VerdictLevel.MALICIOUS, 80),
    Classification.SUSPICIOUS: (VerdictLevel.SUSPICIOUS, 50),
    Classification.BENIGN: (VerdictLevel.BENIGN, 0),
    Classification.UNKNOWN: (VerdictLevel.UNKNOWN, 0),
}


class Settings(ConnectorSettings):
    """``connectors.greynoise``; the key is optional (unauthenticated community use is allowed)."""

    api_key: SecretStr | None = Field(default=None, min_length=1)
    per_day: int = Field(default=50, ge=1, description="lookups per day on your plan")


class GreyNoise:
    """IntelLookup for IPv4 addresses (IPv6 is answered UNKNOWN without a call)."""

    name = "greynoise"
    kinds = frozenset({ObservableKind.IP})
    external = True

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        headers = {"Accept": "application/json"}
        if key is not None:
            headers["key"] = key
        self.http = vendor_session(
            self.name,
            settings,
            BASE_URL,
            headers=headers,
            transport=transport,
            limiter=RateLimiter(Window(settings.per_day, 86400)),
        )
        self.client = GreyNoiseClient(self.http)
        self.credential_id = credential_id(key) if key is not None else "anonymous"
        self._keyed = key is not None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Look up 8.8.8.8 to prove reachability (and the key, if set); this spends one daily lookup."""
        await self.client.community("8.8.8.8")
        if self._keyed:
            return "API key accepted (the check used one lookup of the daily quota)"
        return "reachable without a key (unauthenticated community quota; the check used one lookup)"

    async def lookup(self, observable: Observable) -> Verdict:
        """Classify one IPv4 address; "not observed" is an UNKNOWN verdict, not an error."""
        if observable.kind is not ObservableKind.IP or not _is_ipv4(observable.value):
            return Verdict(self.name, VerdictLevel.UNKNOWN, summary="GreyNoise Community covers IPv4 addresses only")
        try:
            report = await self.client.community(observable.value)
        except ConnectorNotFound:
            return Verdict(self.name, VerdictLevel.UNKNOWN, summary="not a routable IPv4 address for GreyNoise")
        return verdict(report)


def verdict(report: CommunityReport) -> Verdict:
    """Map a community answer: malicious 80, suspicious 50, benign or RIOT (known business service) benign 0.

    A malicious or suspicious classification wins over RIOT membership; "not observed" is unknown.
    """
    link = report.link if report.link and report.link.startswith(f"{VIZ}/") else f"{VIZ}/ip/{report.ip}"
    if not report.observed:
        return Verdict(
            source="greynoise",
            level=VerdictLevel.UNKNOWN,
            summary=report.message or "not observed by GreyNoise",
            facts={"noise": False, "riot": False},
            link=link,
        )
    level, score = _SCORES[report.classification]
    if report.riot and level is VerdictLevel.UNKNOWN:
        level, score = VerdictLevel.BENIGN, 0  # a known business service, though unclassified
    parts = [str(report.classification)]
    if report.name and report.name.lower() != "unknown":
        parts[0] += f" ({report.name})"
    if report.noise:
        parts.append("seen scanning the internet")
    if report.riot:
        parts.append("known business service (RIOT)")
    if report.last_seen:
        parts.append(f"last seen {report.last_seen}")
    facts: dict[str, Any] = {
        "classification": str(report.classification),
        "name": report.name,
        "noise": report.noise,
        "riot": report.riot,
        "last_seen": report.last_seen,
    }
    return Verdict(
        source="greynoise",
        level=level,
        score=score,
        summary="; ".join(parts),
        facts={k: v for k, v in facts.items() if v is not None},
        link=link,
    )


def _is_ipv4(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).version == 4
    except ValueError:
        return False


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The GreyNoise lookup."""
    return [GreyNoise(settings, transport)]
