"""VirusTotal: multi-engine verdicts for IPs, domains, URLs and file hashes → a verdict per indicator."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import Field, SecretStr

from bot.core.errors import ConnectorNotFound
from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from connectors import ConnectorSettings
from connectors.http import RateLimiter, Window, credential_id, vendor_session
from connectors.virustotal.client import BASE_URL, ObjectType, VirusTotalClient, VtObject

SUSPICIOUS_FROM_SUSPICIOUS = 3
"""This many engines calling it suspicious (and none malicious) make the verdict suspicious."""
MALICIOUS_SCORE_FLOOR = 50

_GUI = "https://www.virustotal.com/gui"
_GUI_PATHS = {
    ObjectType.IP_ADDRESS: "ip-address",
    ObjectType.DOMAIN: "domain",
    ObjectType.URL: "url",
    ObjectType.FILE: "file",
}
_HASHES = frozenset({ObservableKind.MD5, ObservableKind.SHA1, ObservableKind.SHA256})


class Settings(ConnectorSettings):
    """``connectors.virustotal``; the rate defaults are the public API's (4/min, 500/day)."""

    api_key: SecretStr = Field(min_length=1)
    malicious_threshold: int = Field(default=5, ge=1, description="engines flagging it malicious → malicious")
    per_minute: int = Field(default=4, ge=1, description="requests per minute on your plan")
    per_day: int = Field(default=500, ge=1, description="requests per day on your plan")


class VirusTotal:
    """IntelLookup for IPs, domains, URLs and MD5/SHA-1/SHA-256 hashes."""

    name = "virustotal"
    kinds = frozenset({ObservableKind.IP, ObservableKind.DOMAIN, ObservableKind.URL, *_HASHES})
    external = True

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        key = settings.api_key.get_secret_value()
        self.http = vendor_session(
            self.name,
            settings,
            BASE_URL,
            headers={"x-apikey": key, "Accept": "application/json"},
            transport=transport,
            limiter=RateLimiter(Window(settings.per_minute, 60), Window(settings.per_day, 86400)),
        )
        self.client = VirusTotalClient(self.http)
        self.credential_id = credential_id(key)
        self._threshold = settings.malicious_threshold

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Look up 8.8.8.8 to prove the key works; this spends one unit of the request quota."""
        await self.client.ip_address("8.8.8.8")
        return "API key accepted (the check used one request of the quota)"

    async def lookup(self, observable: Observable) -> Verdict:
        """Rate one indicator by how many engines flag it; unknown to VirusTotal is UNKNOWN."""
        try:
            match observable.kind:
                case ObservableKind.IP:
                    found = await self.client.ip_address(observable.value)
                case ObservableKind.DOMAIN:
                    found = await self.client.domain(observable.value)
                case ObservableKind.URL:
                    found = await self.client.url(observable.value)
                case kind if kind in _HASHES:
                    found = await self.client.file(observable.value)
                case _:
                    return Verdict(self.name, VerdictLevel.UNKNOWN, summary="not a kind VirusTotal rates")
        except ConnectorNotFound:
            return Verdict(self.name, VerdictLevel.UNKNOWN, summary="not in VirusTotal")
        return verdict(found, malicious_threshold=self._threshold)


def verdict(found: VtObject, *, malicious_threshold: int = 5) -> Verdict:
    """Map an object's last analysis to a verdict.

    ≥ ``malicious_threshold`` malicious engines → malicious (score at least 50); any malicious engine or ≥ 3
    suspicious ones → suspicious; harmless engines and no malicious one → benign; otherwise unknown. The score
    is the share of engines with a verdict that say malicious.
    """
    stats = found.stats
    if stats.malicious >= malicious_threshold:
        level = VerdictLevel.MALICIOUS
    elif stats.malicious >= 1 or stats.suspicious >= SUSPICIOUS_FROM_SUSPICIOUS:
        level = VerdictLevel.SUSPICIOUS
    elif stats.harmless > 0:
        level = VerdictLevel.BENIGN
    else:
        level = VerdictLevel.UNKNOWN
    score = round(100 * stats.malicious / max(1, stats.with_verdict))
    if level is VerdictLevel.MALICIOUS:
        score = max(score, MALICIOUS_SCORE_FLOOR)
    summary = f"{stats.malicious}/{stats.with_verdict} engines flag it malicious"
    if stats.suspicious:
        summary += f", {stats.suspicious} suspicious"
    candidates: dict[str, Any] = {
        "reputation": found.reputation,
        "tags": list(found.tags) or None,
        "as_owner": found.as_owner,
        "asn": found.asn,
        "country": found.country,
        "registrar": found.registrar,
        "name": found.meaningful_name,
        "file_type": found.type_description,
        "threat_label": found.threat_label,
    }
    return Verdict(
        source="virustotal",
        level=level,
        score=score,
        summary=summary,
        facts={k: v for k, v in candidates.items() if v is not None},
        link=f"{_GUI}/{_GUI_PATHS[found.type]}/{found.id}" if found.id else None,
    )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The VirusTotal lookup."""
    return [VirusTotal(settings, transport)]
