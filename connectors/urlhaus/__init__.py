"""URLhaus (abuse.ch): malware-distribution URLs, the hosts serving them and their payloads → verdicts."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from connectors.abusech import AbuseChSettings, abusech_session
from connectors.http import credential_id
from connectors.urlhaus.client import BASE_URL, HostReport, NoData, PayloadReport, UrlhausClient, UrlReport

NAME = "urlhaus"
ONLINE_SCORE = 90
"""A URL serving malware right now, or a payload URLhaus downloaded from one."""
OFFLINE_SCORE = 70
"""A URL that served malware and is down now: still a malware URL."""
HOST_ONLINE_SCORE = 80
"""A host with malware online now; lower than the URL itself, as the host may be a compromised shared site."""
HOST_OFFLINE_SCORE = 60
"""A host that served malware, none of it online now (possibly a cleaned-up compromised site)."""
MAX_TAGS = 10


class Settings(AbuseChSettings):
    """``connectors.urlhaus``."""


class Urlhaus:
    """IntelLookup for URLs, hosts (domains and IPs) and payload hashes."""

    name = NAME
    kinds = frozenset(
        {ObservableKind.URL, ObservableKind.DOMAIN, ObservableKind.IP, ObservableKind.MD5, ObservableKind.SHA256}
    )
    external = True

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = abusech_session(self.name, settings, BASE_URL, transport)
        self.client = UrlhausClient(self.http)
        self.credential_id = credential_id(settings.auth_key.get_secret_value())

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Look up a host to prove the Auth-Key works."""
        with contextlib.suppress(NoData):  # "not listed" still proves the key
            await self.client.host("example.com")
        return "Auth-Key accepted"

    async def lookup(self, observable: Observable) -> Verdict:
        """Look one URL, host or payload hash up in URLhaus."""
        try:
            match observable.kind:
                case ObservableKind.URL:
                    return url_verdict(await self.client.url(observable.value))
                case ObservableKind.DOMAIN | ObservableKind.IP:
                    return host_verdict(await self.client.host(observable.value))
                case ObservableKind.MD5:
                    return payload_verdict(await self.client.payload(observable.value.lower(), "md5"))
                case ObservableKind.SHA256:
                    return payload_verdict(await self.client.payload(observable.value.lower(), "sha256"))
                case _:
                    return Verdict(NAME, VerdictLevel.UNKNOWN, summary=f"URLhaus does not look up {observable.kind}")
        except NoData as err:
            return no_data_verdict(err.query_status, observable.kind)


def url_verdict(report: UrlReport) -> Verdict:
    """Map a listed URL: malicious, scored higher while it is online."""
    online = report.url_status == "online"
    tags = f"; tags {', '.join(report.tags[:MAX_TAGS])}" if report.tags else ""
    return Verdict(
        source=NAME,
        level=VerdictLevel.MALICIOUS,
        score=ONLINE_SCORE if online else OFFLINE_SCORE,
        summary=f"{report.threat or 'malware'} URL, {report.url_status}{tags}",
        facts=_facts(
            threat=report.threat,
            tags=list(report.tags[:MAX_TAGS]) or None,
            url_status=report.url_status,
            date_added=report.date_added,
            reporter=report.reporter,
        ),
        link=report.reference or (f"https://urlhaus.abuse.ch/url/{report.id}/" if report.id else None),
    )


def host_verdict(report: HostReport) -> Verdict:
    """Map a listed host: malicious while one of its malware URLs is online, suspicious otherwise."""
    link = report.reference or f"https://urlhaus.abuse.ch/host/{report.host}/"
    if report.url_count <= 0:
        return Verdict(NAME, VerdictLevel.UNKNOWN, summary="in URLhaus without malware URLs", link=link)
    online = sum(1 for url in report.urls if url.url_status == "online")
    tags = list(dict.fromkeys(tag for url in report.urls for tag in url.tags))[:MAX_TAGS]
    threats = sorted({url.threat for url in report.urls if url.threat})
    return Verdict(
        source=NAME,
        level=VerdictLevel.MALICIOUS if online else VerdictLevel.SUSPICIOUS,
        score=HOST_ONLINE_SCORE if online else HOST_OFFLINE_SCORE,
        summary=f"{report.url_count} malware URLs, {online or 'none'} online",
        facts=_facts(
            url_count=report.url_count,
            online=online,
            threat=", ".join(threats) or None,
            tags=tags or None,
            first_seen=report.first_seen,
        ),
        link=link,
    )


def payload_verdict(report: PayloadReport) -> Verdict:
    """Map a payload URLhaus downloaded from a malware URL: malicious."""
    digest = report.sha256 or report.md5
    return Verdict(
        source=NAME,
        level=VerdictLevel.MALICIOUS,
        score=ONLINE_SCORE,
        summary=f"{report.signature or 'unnamed'} {report.file_type or 'file'} served by {report.url_count} URLs",
        facts=_facts(
            signature=report.signature,
            file_type=report.file_type,
            file_size=report.file_size,
            first_seen=report.first_seen,
            url_count=report.url_count,
        ),
        link=f"https://urlhaus.abuse.ch/browse.php?search={digest}" if digest else None,
    )


def no_data_verdict(query_status: str, kind: ObservableKind) -> Verdict:
    """Map ``no_results`` and the ``invalid_*`` answers: no opinion."""
    if query_status == "no_results":
        return Verdict(NAME, VerdictLevel.UNKNOWN, summary="not in URLhaus")
    return Verdict(NAME, VerdictLevel.UNKNOWN, summary=f"URLhaus does not accept this {kind} ({query_status[:40]})")


def _facts(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The URLhaus lookup."""
    return [Urlhaus(settings, transport)]
