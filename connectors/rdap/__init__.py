"""RDAP: who holds an IP network or a domain, and since when → context verdicts.

RDAP is context, not reputation: verdicts are UNKNOWN with the registration facts, except that a domain
registered less than ``young_domain_days`` ago is SUSPICIOUS (score 40). A hostname whose own name the registry
does not know (``www.example.com``) is retried with its last three, then last two labels, so the registered
domain above it is found without a public-suffix list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from pydantic import Field

from bot.core.errors import ConnectorNotFound
from bot.core.models import Observable, ObservableKind, utcnow
from bot.core.ports import Verdict, VerdictLevel
from connectors import ConnectorSettings
from connectors.http import RateLimiter, Window, vendor_session
from connectors.rdap.client import ACCEPT, BASE_URL, DomainRecord, IpNetwork, RdapClient

NAME = "rdap"
YOUNG_SCORE = 40


class Settings(ConnectorSettings):
    """``connectors.rdap``; no credentials."""

    per_second: int = Field(default=2, ge=1, description="requests per second, bootstrap redirects not counted")
    young_domain_days: int = Field(default=30, ge=0, description="a domain registered more recently is suspicious")


class Rdap:
    """IntelLookup for IP addresses and domains (registration data, not reputation)."""

    name = NAME
    kinds = frozenset({ObservableKind.IP, ObservableKind.DOMAIN})
    external = True
    credential_id = "none"

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = vendor_session(
            self.name,
            settings,
            BASE_URL,
            headers={"Accept": ACCEPT},
            transport=transport,
            limiter=RateLimiter(Window(settings.per_second, 1.0)),
            follow_redirects=True,  # the bootstrap answers 302 to the authoritative registry
        )
        self.client = RdapClient(self.http)
        self.young_domain_days = settings.young_domain_days

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Look up a well-known address to prove the bootstrap and a registry answer."""
        network = await self.client.ip("8.8.8.8")
        return f"RDAP reachable (8.8.8.8 is in {network.name or network.handle or 'an unnamed network'})"

    async def lookup(self, observable: Observable) -> Verdict:
        """Fetch the registration record of one address or domain."""
        try:
            if observable.kind is ObservableKind.IP:
                return ip_verdict(await self.client.ip(observable.value))
            if observable.kind is ObservableKind.DOMAIN:
                return domain_verdict(await self._domain(observable.value), young_days=self.young_domain_days)
        except ConnectorNotFound:
            return Verdict(NAME, VerdictLevel.UNKNOWN, summary="no RDAP record")
        return Verdict(NAME, VerdictLevel.UNKNOWN, summary=f"RDAP does not look up {observable.kind}")

    async def _domain(self, name: str) -> DomainRecord:
        """The record of ``name`` or, when the registry has none, of the registered domain above it."""
        candidates = parents(name)
        for candidate in candidates[:-1]:
            try:
                return await self.client.domain(candidate)
            except ConnectorNotFound:
                continue
        return await self.client.domain(candidates[-1])


def parents(name: str) -> list[str]:
    """``name``, then its last three and last two labels, without repeats (``a.b.example.com`` → 3 names)."""
    labels = name.rstrip(".").lower().split(".")
    names: list[str] = []
    for count in (len(labels), 3, 2):
        candidate = ".".join(labels[-count:])
        if count <= len(labels) and candidate not in names:
            names.append(candidate)
    return names


def ip_verdict(network: IpNetwork) -> Verdict:
    """Describe the network an address is registered in; no opinion on reputation."""
    span = ", ".join(network.cidrs) or (
        f"{network.start_address}–{network.end_address}" if network.start_address and network.end_address else None
    )
    holder = network.name or network.handle or "unnamed network"
    if network.registrant:
        holder = f"{holder} ({network.registrant})"
    return Verdict(
        source=NAME,
        level=VerdictLevel.UNKNOWN,
        summary=", ".join(part for part in (holder, span, network.country) if part),
        facts=_facts(
            network=network.name,
            handle=network.handle,
            range=span,
            country=network.country,
            registrant=network.registrant,
            abuse_email=network.abuse_email,
            type=network.type,
        ),
        link=network.link,
    )


def domain_verdict(record: DomainRecord, *, young_days: int = 30, now: datetime | None = None) -> Verdict:
    """Describe a domain's registration; one registered less than ``young_days`` ago is suspicious."""
    age = max(0, ((now or utcnow()) - record.registered).days) if record.registered else None
    young = age is not None and age < young_days
    if age is None:
        summary = f"no registration date; registrar {record.registrar or 'unknown'}"
    elif young:
        summary = f"registered {age} day{'' if age == 1 else 's'} ago"
    else:
        summary = f"registered {_day(record.registered)} by {record.registrar or 'an unknown registrar'}"
    return Verdict(
        source=NAME,
        level=VerdictLevel.SUSPICIOUS if young else VerdictLevel.UNKNOWN,
        score=YOUNG_SCORE if young else 0,
        summary=summary,
        facts=_facts(
            domain=record.name,
            registered=_day(record.registered),
            age_days=age,
            expires=_day(record.expires),
            last_changed=_day(record.last_changed),
            registrar=record.registrar,
            nameservers=list(record.nameservers) or None,
            status=list(record.status) or None,
            abuse_email=record.abuse_email,
        ),
        link=record.link,
    )


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value else None


def _facts(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The RDAP lookup."""
    return [Rdap(settings, transport)]
