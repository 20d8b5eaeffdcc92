"""RDAP against its fake bootstrap + registries: redirects, RFC 9083 parsing, young domains, 404 and 429."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bot.core.errors import ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import IntelLookup, Verdict, VerdictLevel
from connectors.http import RetryPolicy
from connectors.rdap import Rdap, Settings, build, domain_verdict, parents
from connectors.rdap.client import DomainRecord
from tests.fakes import rdap as fake
from tests.fakes.server import Recorded, serve


def connector(url: str, **settings: Any) -> Rdap:
    lookup = Rdap(Settings(base_url=url, **settings))
    lookup.http.retry = RetryPolicy(attempts=3, base=0.01)
    return lookup


async def look(
    kind: ObservableKind, value: str, knobs: dict[str, Any] | None = None, **settings: Any
) -> tuple[Verdict, list[Recorded]]:
    async with serve(fake.app(**(knobs or {}))) as vendor:
        lookup = connector(vendor.url, **settings)
        try:
            verdict = await lookup.lookup(Observable(kind, value))
        finally:
            await lookup.aclose()
    return verdict, vendor.requests


async def test_ip_follows_the_bootstrap_redirect_and_parses_the_network() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert isinstance(lookup, IntelLookup) and lookup.credential_id == "none"
        verdict = await lookup.lookup(Observable(ObservableKind.IP, "8.8.8.8"))
        await lookup.aclose()
    assert vendor.paths() == ["/ip/8.8.8.8", "/registry/ip/8.8.8.8"]
    for request in vendor.requests:
        assert request.method == "GET"
        assert request.headers["Accept"].startswith("application/rdap+json")
        assert request.headers["User-Agent"].startswith("soarbot/")
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.score == 0
    assert verdict.summary == "GOGL (Google LLC), 8.8.8.0/24, US"
    assert verdict.facts == {
        "network": "GOGL",
        "handle": "NET-8-8-8-0-2",
        "range": "8.8.8.0/24",
        "country": "US",
        "registrant": "Google LLC",
        "abuse_email": "network-abuse@google.com",  # the nested abuse entity, not the technical one
        "type": "DIRECT ALLOCATION",
    }
    assert verdict.link == f"{vendor.url}/registry/ip/8.8.8.0"


async def test_old_domain_is_context_only() -> None:
    verdict, requests = await look(ObservableKind.DOMAIN, "google.com")
    assert [r.path for r in requests] == ["/domain/google.com", "/com/v1/domain/google.com"]
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.score == 0
    assert verdict.summary == "registered 1997-09-15 by MarkMonitor Inc."
    facts = dict(verdict.facts)
    assert facts.pop("age_days") > 9000
    assert facts == {
        "domain": "google.com",
        "registered": "1997-09-15",
        "expires": "2028-09-14",
        "last_changed": "2019-09-09",
        "registrar": "MarkMonitor Inc.",
        "nameservers": ["ns1.google.com", "ns2.google.com"],
        "status": ["client delete prohibited", "client transfer prohibited", "client update prohibited"],
        "abuse_email": "abusecomplaints@markmonitor.com",
    }
    assert verdict.link is not None and verdict.link.endswith("/com/v1/domain/GOOGLE.COM")


async def test_young_domain_is_suspicious() -> None:
    verdict, _ = await look(ObservableKind.DOMAIN, fake.YOUNG_DOMAIN)
    assert verdict.level is VerdictLevel.SUSPICIOUS and verdict.score == 40
    assert verdict.summary == "registered 5 days ago"
    assert verdict.facts["age_days"] == 5 and verdict.facts["registrar"] == "NameSilo, LLC"


async def test_young_domain_days_is_configurable() -> None:
    verdict, _ = await look(ObservableKind.DOMAIN, fake.YOUNG_DOMAIN, {"young_days_ago": 45})
    assert verdict.level is VerdictLevel.UNKNOWN
    verdict, _ = await look(ObservableKind.DOMAIN, fake.YOUNG_DOMAIN, {"young_days_ago": 45}, young_domain_days=60)
    assert verdict.level is VerdictLevel.SUSPICIOUS and verdict.summary == "registered 45 days ago"


def test_young_rule_with_a_fixed_clock() -> None:
    registered = datetime(2025, 3, 1, 12, tzinfo=UTC)
    record = DomainRecord("new.example", registered, None, None, "Registrar", (), (), None, None)
    just_young = domain_verdict(record, young_days=30, now=registered + timedelta(days=29, hours=23))
    grown_up = domain_verdict(record, young_days=30, now=registered + timedelta(days=30))
    assert just_young.level is VerdictLevel.SUSPICIOUS and just_young.summary == "registered 29 days ago"
    assert grown_up.level is VerdictLevel.UNKNOWN
    one = domain_verdict(record, now=registered + timedelta(days=1))
    assert one.summary == "registered 1 day ago"
    undated = domain_verdict(DomainRecord("x.example", None, None, None, None, (), (), None, None))
    assert undated.level is VerdictLevel.UNKNOWN


async def test_subdomain_falls_back_to_the_registered_domain() -> None:
    verdict, requests = await look(ObservableKind.DOMAIN, f"login.{fake.YOUNG_DOMAIN}")
    assert [r.path for r in requests if r.path.startswith("/domain/")] == [
        f"/domain/login.{fake.YOUNG_DOMAIN}",
        f"/domain/{fake.YOUNG_DOMAIN}",
    ]
    assert verdict.level is VerdictLevel.SUSPICIOUS and verdict.facts["domain"] == fake.YOUNG_DOMAIN


def test_parent_names() -> None:
    assert parents("a.b.example.co.uk") == ["a.b.example.co.uk", "example.co.uk", "co.uk"]
    assert parents("WWW.Example.com.") == ["www.example.com", "example.com"]
    assert parents("example.com") == ["example.com"]
    assert parents("localhost") == ["localhost"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [(ObservableKind.IP, "203.0.113.9"), (ObservableKind.DOMAIN, "unregistered-name.com"), (ObservableKind.IP, "x")],
)
async def test_404_and_400_are_unknown(kind: ObservableKind, value: str) -> None:
    verdict, requests = await look(kind, value)
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.summary == "no RDAP record"
    assert requests[1].path.startswith(("/registry/", "/com/v1/"))  # the registry said so, after the redirect


async def test_429_honours_retry_after() -> None:
    started = time.monotonic()
    verdict, requests = await look(ObservableKind.IP, "8.8.8.8", {"rate_limit_first": 1, "retry_after": "1"})
    assert time.monotonic() - started >= 0.9
    assert verdict.summary.startswith("GOGL")
    assert [r.path for r in requests] == ["/ip/8.8.8.8", "/registry/ip/8.8.8.8"] * 2


async def test_persistent_429_is_unavailable() -> None:
    with pytest.raises(ConnectorUnavailable, match="429"):
        await look(ObservableKind.IP, "8.8.8.8", {"rate_limit_first": 10, "retry_after": "0"}, per_second=100)


async def test_check_names_the_network() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert "GOGL" in await lookup.check()
        await lookup.aclose()


async def test_settings_need_no_secret_and_validate_numbers() -> None:
    settings = Settings()
    assert settings.per_second == 2 and settings.young_domain_days == 30
    with pytest.raises(ValidationError, match="per_second"):
        Settings(per_second=0)
    with pytest.raises(ValidationError, match="api_key"):
        Settings(api_key="x")  # type: ignore[call-arg]
    [lookup] = build(settings)
    assert isinstance(lookup, Rdap) and str(lookup.http.client.base_url) == "https://rdap.org"
    await lookup.aclose()
