"""GreyNoise Community against its fake: classifications, 404 "not observed", IPv4 only, keyless use, 429."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import connectors
from bot.core.errors import ConnectorAuthError, ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import IntelLookup, VerdictLevel
from connectors.greynoise import GreyNoise, Settings, build
from connectors.http import RetryPolicy
from tests.fakes import greynoise as fake
from tests.fakes.server import serve


def connector(url: str, *, key: str | None = fake.GOOD_KEY, **settings: Any) -> GreyNoise:
    api_key = SecretStr(key) if key is not None else None
    lookup = GreyNoise(Settings(api_key=api_key, base_url=url, **settings))
    lookup.http.retry = RetryPolicy(attempts=3, base=0.01)
    return lookup


def ip(value: str) -> Observable:
    return Observable(ObservableKind.IP, value)


class Waited(Exception):
    """Raised by the patched sleep instead of a long wait, carrying how long the caller wanted to wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def refuse_long_sleeps(monkeypatch: pytest.MonkeyPatch, longer_than: float = 1.0) -> None:
    real_sleep = asyncio.sleep

    async def sleep(seconds: float, *args: Any) -> Any:
        if seconds > longer_than:
            raise Waited(seconds)
        return await real_sleep(seconds, *args)

    monkeypatch.setattr(asyncio, "sleep", sleep)


def record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    real_sleep = asyncio.sleep
    slept: list[float] = []

    async def sleep(seconds: float, *args: Any) -> Any:
        slept.append(seconds)
        return await real_sleep(seconds, *args)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return slept


async def test_malicious_scanner_and_request_shape() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert isinstance(lookup, IntelLookup)
        verdict = await lookup.lookup(ip("45.155.205.233"))
        await lookup.aclose()
    assert verdict.source == "greynoise"
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 80
    assert verdict.summary == "malicious; seen scanning the internet; last seen 2024-05-01"
    assert verdict.facts["noise"] is True and verdict.facts["riot"] is False
    assert verdict.link == "https://viz.greynoise.io/ip/45.155.205.233"
    [request] = vendor.requests
    assert request.method == "GET"
    assert request.path == "/v3/community/45.155.205.233"
    assert request.query == {}
    assert request.headers["key"] == fake.GOOD_KEY  # exactly "key", lower-case, as documented
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("soarbot/")


@pytest.mark.parametrize(
    ("address", "level", "score"),
    [
        ("89.248.165.74", VerdictLevel.SUSPICIOUS, 50),
        ("80.82.77.139", VerdictLevel.BENIGN, 0),  # benign scanner (Shodan.io)
        ("1.1.1.1", VerdictLevel.BENIGN, 0),  # classification unknown, but in RIOT
        ("103.145.13.1", VerdictLevel.UNKNOWN, 0),  # noise, classification unknown
    ],
)
async def test_classification_levels(address: str, level: VerdictLevel, score: int) -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip(address))
        await lookup.aclose()
    assert verdict.level is level and verdict.score == score


async def test_riot_service_is_benign_with_facts_and_vendor_link() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("8.8.8.8"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.BENIGN and verdict.score == 0
    assert verdict.facts == {
        "classification": "benign",
        "name": "Google Public DNS",
        "noise": False,
        "riot": True,
        "last_seen": "2024-05-01",
    }
    assert "Google Public DNS" in verdict.summary and "RIOT" in verdict.summary
    assert verdict.link == "https://viz.greynoise.io/riot/8.8.8.8"


async def test_not_observed_404_is_an_unknown_verdict_with_its_message() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("93.184.216.34"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.score == 0
    assert verdict.summary == fake.NOT_OBSERVED
    assert verdict.link == "https://viz.greynoise.io/ip/93.184.216.34"
    assert len(vendor.requests) == 1  # an answer, not a failure: no retries


async def test_non_routable_address_is_unknown() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("100.64.0.1"))  # carrier-grade NAT: GreyNoise answers 400
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN
    assert len(vendor.requests) == 1


@pytest.mark.parametrize("value", ["2001:4860:4860::8888", "not-an-ip"])
async def test_ipv6_and_garbage_are_unknown_without_a_call(value: str) -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip(value))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN
    assert vendor.requests == []


async def test_works_without_a_key() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, key=None)
        verdict = await lookup.lookup(ip("45.155.205.233"))
        message = await lookup.check()
        await lookup.aclose()
    assert lookup.credential_id == "anonymous"
    assert verdict.level is VerdictLevel.MALICIOUS
    assert "without a key" in message
    assert all("key" not in {name.lower() for name in r.headers} for r in vendor.requests)


async def test_bad_key_is_an_auth_error_without_retries() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, key="gn-key-wrong")
        with pytest.raises(ConnectorAuthError):
            await lookup.lookup(ip("8.8.8.8"))
        await lookup.aclose()
    assert len(vendor.requests) == 1


async def test_429_honours_retry_after_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(fake.app(rate_limit_first=1, retry_after="1")) as vendor:
        lookup = connector(vendor.url)
        slept = record_sleeps(monkeypatch)
        verdict = await lookup.lookup(ip("45.155.205.233"))
        monkeypatch.undo()
        await lookup.aclose()
    assert verdict.level is VerdictLevel.MALICIOUS
    assert len(vendor.requests) == 2
    assert 1.0 in slept  # the vendor's Retry-After, not the 0.01 s backoff


async def test_429_without_retry_after_backs_off_then_succeeds() -> None:
    async with serve(fake.app(rate_limit_first=2)) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("45.155.205.233"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.MALICIOUS
    assert len(vendor.requests) == 3


async def test_quota_spent_is_unavailable_after_retries() -> None:
    async with serve(fake.app(rate_limit_first=100)) as vendor:
        lookup = connector(vendor.url, key=None)
        with pytest.raises(ConnectorUnavailable):
            await lookup.lookup(ip("45.155.205.233"))
        await lookup.aclose()
    assert len(vendor.requests) == 3


async def lookups_before_a_wait(lookup: GreyNoise, monkeypatch: pytest.MonkeyPatch) -> tuple[int, float]:
    """Look up until the limiter wants to wait; return how many went through and the wait asked for."""
    refuse_long_sleeps(monkeypatch)
    done = 0
    try:
        for _ in range(100):
            await lookup.lookup(ip("45.155.205.233"))
            done += 1
    except Waited as waited:
        return done, waited.seconds
    finally:
        monkeypatch.undo()
    raise AssertionError("the limiter never asked to wait")


@pytest.mark.parametrize(("settings", "allowed"), [({}, 50), ({"per_day": 2}, 2)])
async def test_daily_limit_comes_from_settings(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], allowed: int
) -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, **settings)
        done, wait = await lookups_before_a_wait(lookup, monkeypatch)
        await lookup.aclose()
    assert done == allowed == len(vendor.requests)
    assert 86400 - 5 < wait <= 86400


def test_settings_key_is_optional_but_never_empty() -> None:
    assert Settings().api_key is None
    assert Settings().per_day == 50
    with pytest.raises(ValidationError, match="api_key"):
        Settings(api_key=SecretStr(""))


async def test_build_through_the_catalogue_and_credential_id() -> None:
    model = connectors.settings_model("greynoise")
    settings = model.model_validate({"api_key": fake.GOOD_KEY})
    assert isinstance(settings, Settings)
    [lookup] = build(settings)
    assert isinstance(lookup, GreyNoise) and isinstance(lookup, IntelLookup) and lookup.external
    assert lookup.kinds == {ObservableKind.IP}
    assert lookup.credential_id not in ("anonymous", fake.GOOD_KEY)
    other = connector("http://127.0.0.1:9", key="gn-key-rotated")
    assert other.credential_id != lookup.credential_id
    await lookup.aclose()
    await other.aclose()


async def test_check_with_key() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        message = await lookup.check()
        await lookup.aclose()
    assert "accepted" in message
    assert vendor.paths() == ["/v3/community/8.8.8.8"]
