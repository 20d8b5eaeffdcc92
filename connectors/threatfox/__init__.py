"""ThreatFox (abuse.ch): IOCs tied to malware families (C2 servers, payload URLs, samples) → verdicts.

IP addresses: ThreatFox stores most of them as ``ip:port`` IOCs, which an exact search for the bare address
misses. An IP lookup therefore makes two searches: ``exact_match: true`` for the bare address, then
``exact_match: false`` (a substring search) keeping only IOCs whose host part is exactly that address
(``1.2.3.4:443`` and ``[2001:db8::1]:443`` match ``1.2.3.4`` / ``2001:db8::1``; ``11.2.3.4:80`` does not).
The hits of both are merged by IOC id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import httpx

from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from connectors.abusech import AbuseChSettings, abusech_session
from connectors.http import credential_id
from connectors.threatfox.client import BASE_URL, NO_RESULT, Ioc, NoData, ThreatFoxClient

NAME = "threatfox"
MIN_SCORE = 50
"""Every ThreatFox IOC is a reported malware indicator; a low reporter confidence does not make it benign."""
HASH_KINDS = frozenset({ObservableKind.MD5, ObservableKind.SHA256})


class Settings(AbuseChSettings):
    """``connectors.threatfox``."""


class ThreatFox:
    """IntelLookup for IPs, domains, URLs and sample hashes."""

    name = NAME
    kinds = frozenset(
        {ObservableKind.IP, ObservableKind.DOMAIN, ObservableKind.URL, ObservableKind.MD5, ObservableKind.SHA256}
    )
    external = True

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = abusech_session(self.name, settings, BASE_URL, transport)
        self.client = ThreatFoxClient(self.http)
        self.credential_id = credential_id(settings.auth_key.get_secret_value())

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Search for a harmless term to prove the Auth-Key works."""
        with contextlib.suppress(NoData):  # "not listed" still proves the key
            await self.client.search_ioc("example.com")
        return "Auth-Key accepted"

    async def lookup(self, observable: Observable) -> Verdict:
        """Look one indicator up in ThreatFox."""
        try:
            if observable.kind in HASH_KINDS:
                iocs = await self.client.search_hash(observable.value.lower())
            elif observable.kind is ObservableKind.IP:
                iocs = await self._ip_iocs(observable.value)
            else:
                iocs = await self.client.search_ioc(observable.value, exact=True)
        except NoData as err:
            return no_data_verdict(err.query_status)
        return verdict(iocs)

    async def _ip_iocs(self, ip: str) -> tuple[Ioc, ...]:
        """IOCs for the bare address and for any ``ip:port`` on it (see the module docstring)."""
        found: dict[str, Ioc] = {}
        # Both searches at once: one round trip to the vendor, not two.
        exact, loose = await asyncio.gather(
            self.client.search_ioc(ip, exact=True), self.client.search_ioc(ip, exact=False), return_exceptions=True
        )
        if isinstance(exact, NoData):
            if exact.query_status not in NO_RESULT:
                raise exact  # an illegal term is illegal in the substring search too
        elif isinstance(exact, BaseException):
            raise exact
        else:
            found.update((ioc.id, ioc) for ioc in exact)
        if isinstance(loose, BaseException) and not isinstance(loose, NoData):
            raise loose
        substring = () if isinstance(loose, BaseException) else loose
        for ioc in substring:
            if _on_address(ioc.ioc, ip):
                found.setdefault(ioc.id, ioc)
        if not found:
            raise NoData("no_result")
        return tuple(found.values())


def verdict(iocs: Sequence[Ioc]) -> Verdict:
    """Map IOC hits: malicious, scored by the highest reporter confidence (at least 50)."""
    best = max(iocs, key=lambda ioc: ioc.confidence)
    malware = best.malware_printable or best.malware or "unknown malware"
    more = f"; {len(iocs)} IOCs" if len(iocs) > 1 else ""
    facts: dict[str, Any] = {
        key: value
        for key, value in {
            "malware_printable": best.malware_printable,
            "threat_type": best.threat_type,
            "ioc": best.ioc,
            "first_seen": best.first_seen,
            "tags": list(best.tags) or None,
            "reporter": best.reporter,
            "iocs": len(iocs),
        }.items()
        if value is not None
    }
    return Verdict(
        source=NAME,
        level=VerdictLevel.MALICIOUS,
        score=max(MIN_SCORE, best.confidence),
        summary=f"{malware} {best.threat_type or 'IOC'} (confidence {best.confidence}){more}",
        facts=facts,
        link=f"https://threatfox.abuse.ch/ioc/{best.id}/" if best.id else None,
    )


def no_data_verdict(query_status: str) -> Verdict:
    """Map a miss or an illegal search term: no opinion."""
    if query_status in NO_RESULT:
        return Verdict(NAME, VerdictLevel.UNKNOWN, summary="not in ThreatFox")
    return Verdict(NAME, VerdictLevel.UNKNOWN, summary=f"ThreatFox does not search for this ({query_status[:40]})")


def _on_address(ioc: str, ip: str) -> bool:
    """Whether ``ioc`` is ``ip`` itself or ``ip:port`` (``[ip]:port`` for IPv6)."""
    ioc, ip = ioc.lower(), ip.lower()
    host, _, port = ioc.rpartition(":")
    return ioc == ip or (port.isdigit() and host.removeprefix("[").removesuffix("]") == ip)


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The ThreatFox lookup."""
    return [ThreatFox(settings, transport)]
