"""Shodan: what an IP address exposes (open ports, known CVEs) → an exposure verdict, never a reputation one."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
from pydantic import Field, SecretStr

from bot.core.errors import ConnectorNotFound
from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from connectors import ConnectorSettings
from connectors.http import RateLimiter, Window, credential_id, vendor_session
from connectors.shodan.client import BASE_URL, HostReport, ShodanClient

SUSPICIOUS_TAGS = frozenset({"malware", "c2", "compromised"})
SUSPICIOUS_SCORE = 40
MAX_VULNS = 10
MAX_PORTS_IN_SUMMARY = 12


class Settings(ConnectorSettings):
    """``connectors.shodan``."""

    api_key: SecretStr = Field(min_length=1)


class Shodan:
    """IntelLookup for IP addresses: exposure data, one request per second."""

    name = "shodan"
    kinds = frozenset({ObservableKind.IP})
    external = True

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        key = settings.api_key.get_secret_value()
        self.http = vendor_session(
            self.name,
            settings,
            BASE_URL,
            transport=transport,
            limiter=RateLimiter(Window(1, 1)),
            query_secrets={"key": key},  # Shodan wants it in the query string; it exists only on the wire
        )
        self.client = ShodanClient(self.http)
        self.credential_id = credential_id(key)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Look up 8.8.8.8 to prove the key works (host lookups cost no query credits)."""
        with contextlib.suppress(ConnectorNotFound):  # "no information" is an answer: the key was accepted
            await self.client.host("8.8.8.8")
        return "API key accepted"

    async def lookup(self, observable: Observable) -> Verdict:
        """Report one address's exposure; not scanned by Shodan is UNKNOWN."""
        if observable.kind is not ObservableKind.IP:
            return Verdict(self.name, VerdictLevel.UNKNOWN, summary="Shodan looks up IP addresses only")
        try:
            report = await self.client.host(observable.value)
        except ConnectorNotFound:
            return Verdict(
                self.name,
                VerdictLevel.UNKNOWN,
                summary="no information in Shodan",
                link=f"https://www.shodan.io/host/{observable.value}",
            )
        return verdict(report)


def verdict(report: HostReport) -> Verdict:
    """Map a host to an exposure verdict: suspicious (40) with known CVEs or a malware/C2/compromised tag.

    Shodan says what is reachable, not whether the owner is hostile, so it never calls a host benign or
    malicious; otherwise the level is unknown with score 0.
    """
    flagged = sorted({tag.lower() for tag in report.tags} & SUSPICIOUS_TAGS)
    suspicious = bool(report.vulns or flagged)
    if not report.ports:
        ports = "no open ports seen"
    elif len(report.ports) > MAX_PORTS_IN_SUMMARY:
        shown = ",".join(str(p) for p in report.ports[:MAX_PORTS_IN_SUMMARY])
        ports = f"ports {shown} (+{len(report.ports) - MAX_PORTS_IN_SUMMARY} more)"
    else:
        ports = "ports " + ",".join(str(p) for p in report.ports)
    count = len(report.vulns)
    cves = "no known CVEs" if count == 0 else f"{count} known CVE{'s' if count != 1 else ''}"
    parts = [ports, cves]
    if flagged:
        parts.append("tagged " + ", ".join(flagged))
    facts: dict[str, Any] = {
        "org": report.org,
        "isp": report.isp,
        "asn": report.asn,
        "country_code": report.country_code,
        "ports": list(report.ports),
        "hostnames": list(report.hostnames),
        "vulns": list(report.vulns[:MAX_VULNS]),
    }
    if report.tags:
        facts["tags"] = list(report.tags)
    return Verdict(
        source="shodan",
        level=VerdictLevel.SUSPICIOUS if suspicious else VerdictLevel.UNKNOWN,
        score=SUSPICIOUS_SCORE if suspicious else 0,
        summary="; ".join(parts),
        facts={k: v for k, v in facts.items() if v is not None},
        link=f"https://www.shodan.io/host/{report.ip}",
    )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The Shodan lookup."""
    return [Shodan(settings, transport)]
