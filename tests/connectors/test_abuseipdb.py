"""AbuseIPDB against its fake, and the shared HTTP behaviour (retry, quota, breaker) through it."""

from __future__ import annotations

import pytest

from bot.core.errors import ConnectorAuthError, ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import IntelLookup, VerdictLevel
from connectors.abuseipdb import AbuseIpDb, Settings
from connectors.http import RetryPolicy
from tests.fakes import abuseipdb as fake
from tests.fakes.server import serve


def connector(url: str, key: str = fake.GOOD_KEY) -> AbuseIpDb:
    lookup = AbuseIpDb(Settings(api_key=key, base_url=f"{url}/api/v2"))  # type: ignore[arg-type]
    lookup.http.retry = RetryPolicy(attempts=3, base=0.01)
    return lookup


def ip(value: str) -> Observable:
    return Observable(ObservableKind.IP, value)


async def test_malicious_ip_and_request_shape() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert isinstance(lookup, IntelLookup)
        verdict = await lookup.lookup(ip("118.25.6.39"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 100
    assert verdict.facts["country"] == "CN"
    assert verdict.link == "https://www.abuseipdb.com/check/118.25.6.39"
    [request] = vendor.requests
    assert request.path == "/api/v2/check"
    assert request.query == {"ipAddress": "118.25.6.39", "maxAgeInDays": "90"}
    assert request.headers["Key"] == fake.GOOD_KEY
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("soarbot/")


async def test_whitelisted_is_benign_and_unreported_is_unknown() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        google = await lookup.lookup(ip("8.8.8.8"))
        quiet = await lookup.lookup(ip("203.0.113.77"))
        assert lookup.http.quota.remaining == 998
        await lookup.aclose()
    assert google.level is VerdictLevel.BENIGN
    assert quiet.level is VerdictLevel.UNKNOWN


async def test_invalid_address_is_unknown_not_an_error() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("999.1.1.1"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN


async def test_bad_key_is_an_auth_error_without_retries() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, key="wrong-key-123")
        with pytest.raises(ConnectorAuthError):
            await lookup.lookup(ip("118.25.6.39"))
        await lookup.aclose()
    assert len(vendor.requests) == 1


async def test_429_honours_retry_after_then_succeeds() -> None:
    async with serve(fake.app(rate_limit_first=1)) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("118.25.6.39"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.MALICIOUS
    assert len(vendor.requests) == 2


async def test_persistent_5xx_gives_unavailable_and_opens_the_breaker() -> None:
    async with serve(fake.app(fail_first=100)) as vendor:
        lookup = connector(vendor.url)
        for _ in range(2):
            with pytest.raises(ConnectorUnavailable):
                await lookup.lookup(ip("118.25.6.39"))
        assert lookup.http.breaker.is_open  # 6 failures ≥ threshold 5
        sent = len(vendor.requests)
        with pytest.raises(ConnectorUnavailable, match="circuit open"):
            await lookup.lookup(ip("118.25.6.39"))
        assert len(vendor.requests) == sent  # refused without calling the vendor
        await lookup.aclose()


async def test_credential_id_changes_with_the_key() -> None:
    one = connector("http://127.0.0.1:9")
    two = connector("http://127.0.0.1:9", key="another-key-1")
    assert one.credential_id != two.credential_id
    assert fake.GOOD_KEY not in one.credential_id
    await one.aclose()
    await two.aclose()


async def test_check_reports_quota() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert "checks left today" in await lookup.check()
        await lookup.aclose()
