"""ThreatFox against its fake: JSON queries per kind, the ip:port search, misses and the query_status quirks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from bot.core.errors import ConnectorAuthError, ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import IntelLookup, Verdict, VerdictLevel
from connectors.http import RetryPolicy
from connectors.threatfox import Settings, ThreatFox, build
from tests.fakes import threatfox as fake
from tests.fakes.server import Recorded, serve


def connector(url: str, key: str = fake.GOOD_KEY) -> ThreatFox:
    lookup = ThreatFox(Settings(auth_key=key, base_url=f"{url}/api/v1"))  # type: ignore[arg-type]
    lookup.http.retry = RetryPolicy(attempts=3, base=0.01)
    return lookup


def body(request: Recorded) -> Any:
    assert request.method == "POST" and request.path == "/api/v1/"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Auth-Key"] == fake.GOOD_KEY
    return json.loads(request.body)


async def look(kind: ObservableKind, value: str, **knobs: Any) -> tuple[Verdict, list[Recorded]]:
    async with serve(fake.app(**knobs)) as vendor:
        lookup = connector(vendor.url)
        try:
            verdict = await lookup.lookup(Observable(kind, value))
        finally:
            await lookup.aclose()
    return verdict, vendor.requests


def test_fake_hashes_are_well_formed() -> None:
    assert len(fake.SAMPLE_MD5) == 32 and len(fake.SAMPLE_SHA256) == 64


async def test_ip_searches_exact_then_keeps_its_ip_port_iocs() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert isinstance(lookup, IntelLookup)
        verdict = await lookup.lookup(Observable(ObservableKind.IP, "139.180.203.104"))
        await lookup.aclose()
    exact, substring = (body(r) for r in vendor.requests)
    assert exact == {"query": "search_ioc", "search_term": "139.180.203.104", "exact_match": True}
    assert substring == {"query": "search_ioc", "search_term": "139.180.203.104", "exact_match": False}
    assert vendor.requests[0].headers["User-Agent"].startswith("soarbot/")
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 100
    assert verdict.summary == "Cobalt Strike botnet_cc (confidence 100); 2 IOCs"
    assert verdict.facts == {
        "malware_printable": "Cobalt Strike",
        "threat_type": "botnet_cc",
        "ioc": "139.180.203.104:443",
        "first_seen": "2021-03-02 09:46:28 UTC",
        "tags": ["CobaltStrike"],
        "reporter": "abuse_ch",
        "iocs": 2,
    }
    assert verdict.link == "https://threatfox.abuse.ch/ioc/41/"


async def test_substring_hits_on_other_addresses_are_dropped() -> None:
    # "39.180.203.104" is inside "139.180.203.104:443": only its own IOC counts.
    verdict, _ = await look(ObservableKind.IP, "39.180.203.104")
    assert verdict.summary == "Mirai botnet_cc (confidence 30)"
    assert verdict.score == 50  # low confidence, but a reported C2 is never below 50
    assert verdict.link == "https://threatfox.abuse.ch/ioc/88231/"
    # "139.180.203.10" is a prefix of "139.180.203.104:…" and matches nothing of its own.
    verdict, requests = await look(ObservableKind.IP, "139.180.203.10")
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.summary == "not in ThreatFox"
    assert len(requests) == 2


async def test_domain_and_url_use_exact_search() -> None:
    verdict, [request] = await look(ObservableKind.DOMAIN, "update-winsrv.com")
    assert body(request) == {"query": "search_ioc", "search_term": "update-winsrv.com", "exact_match": True}
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 75
    assert verdict.summary == "AsyncRAT botnet_cc (confidence 75)"
    url = "http://45.95.147.236/bins/sora.arm7"
    verdict, [request] = await look(ObservableKind.URL, url)
    assert body(request) == {"query": "search_ioc", "search_term": url, "exact_match": True}
    assert verdict.facts["threat_type"] == "payload_delivery"


@pytest.mark.parametrize(
    ("kind", "value"), [(ObservableKind.MD5, fake.SAMPLE_MD5.upper()), (ObservableKind.SHA256, fake.SAMPLE_SHA256)]
)
async def test_hashes_use_search_hash(kind: ObservableKind, value: str) -> None:
    verdict, [request] = await look(kind, value)
    assert body(request) == {"query": "search_hash", "hash": value.lower()}
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 100
    assert verdict.facts["malware_printable"] == "Cobalt Strike"


@pytest.mark.parametrize("miss_status", ["no_result", "no_results"])
async def test_miss_is_unknown(miss_status: str) -> None:
    verdict, [request] = await look(ObservableKind.DOMAIN, "example.org", miss_status=miss_status)
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.score == 0
    assert verdict.summary == "not in ThreatFox"


async def test_illegal_terms_are_unknown_not_errors() -> None:
    verdict, requests = await look(ObservableKind.IP, "::")
    assert verdict.level is VerdictLevel.UNKNOWN and "illegal_search_term" in verdict.summary
    assert len(requests) == 2  # the exact and substring searches go together, once each
    verdict, _ = await look(ObservableKind.MD5, "z" * 32)
    assert verdict.level is VerdictLevel.UNKNOWN and "illegal_hash" in verdict.summary


@pytest.mark.parametrize("status", [401, 200])
async def test_unknown_auth_key_is_an_auth_error(status: int) -> None:
    async with serve(fake.app(bad_key_status=status)) as vendor:
        lookup = connector(vendor.url, key="wrong-key-123")
        with pytest.raises(ConnectorAuthError):
            await lookup.lookup(Observable(ObservableKind.IP, "139.180.203.104"))
        with pytest.raises(ConnectorAuthError):
            await lookup.check()
        await lookup.aclose()
    # The IP lookup sends its exact and substring searches together (one round trip), check() one: none is retried.
    assert len(vendor.requests) == 3


async def test_429_is_retried() -> None:
    verdict, requests = await look(ObservableKind.DOMAIN, "update-winsrv.com", rate_limit_first=2)
    assert verdict.level is VerdictLevel.MALICIOUS
    assert len(requests) == 3


async def test_persistent_429_is_unavailable() -> None:
    with pytest.raises(ConnectorUnavailable, match="429"):
        await look(ObservableKind.DOMAIN, "update-winsrv.com", rate_limit_first=10)


async def test_check_accepts_a_good_key() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert "accepted" in await lookup.check()
        await lookup.aclose()


async def test_settings_need_an_auth_key() -> None:
    with pytest.raises(ValidationError, match="auth_key"):
        Settings()  # type: ignore[call-arg]
    [lookup] = build(Settings(auth_key="sekrit-key-1"))  # type: ignore[arg-type]
    assert isinstance(lookup, ThreatFox) and "sekrit" not in lookup.credential_id
    assert str(lookup.http.client.base_url) == "https://threatfox-api.abuse.ch/api/v1/"
    await lookup.aclose()
