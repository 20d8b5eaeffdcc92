"""Shodan against its fake: exposure verdicts, 404, auth, 429, 1 request/s, and the query-string key kept secret."""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import connectors
from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import IntelLookup, VerdictLevel
from connectors.http import RetryPolicy
from connectors.shodan import Settings, Shodan, build
from tests.fakes import shodan as fake
from tests.fakes.server import serve


def connector(url: str, *, key: str = fake.GOOD_KEY, limited: bool = True) -> Shodan:
    lookup = Shodan(Settings(api_key=SecretStr(key), base_url=url))
    lookup.http.retry = RetryPolicy(attempts=3, base=0.01)
    if not limited:
        lookup.http.limiter = None  # tests that are not about the 1/s limit need not wait for it
    return lookup


def ip(value: str) -> Observable:
    return Observable(ObservableKind.IP, value)


class Waited(Exception):
    """Raised by the patched sleep instead of a long wait, carrying how long the caller wanted to wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def refuse_long_sleeps(monkeypatch: pytest.MonkeyPatch, longer_than: float) -> None:
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


async def test_exposed_host_and_request_shape() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert isinstance(lookup, IntelLookup)
        verdict = await lookup.lookup(ip("64.225.1.20"))
        await lookup.aclose()
    assert verdict.source == "shodan"
    assert verdict.level is VerdictLevel.SUSPICIOUS and verdict.score == 40
    assert verdict.summary == "ports 22,80,443; 3 known CVEs"
    assert verdict.facts == {
        "org": "DigitalOcean, LLC",
        "isp": "DigitalOcean, LLC",
        "asn": "AS14061",
        "country_code": "US",
        "ports": [22, 80, 443],
        "hostnames": ["legacy-web.example.net"],
        "vulns": ["CVE-2023-38408", "CVE-2021-41617", "CVE-2016-20012"],
        "tags": ["cloud"],
    }
    assert verdict.link == "https://www.shodan.io/host/64.225.1.20"
    [request] = vendor.requests
    assert request.method == "GET"
    assert request.path == "/shodan/host/64.225.1.20"
    assert request.query == {"key": fake.GOOD_KEY}
    assert fake.GOOD_KEY not in str(request.headers)
    assert request.headers["User-Agent"].startswith("soarbot/")


async def test_exposure_without_cves_or_bad_tags_is_unknown() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("8.8.8.8"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.score == 0
    assert verdict.summary == "ports 53,443; no known CVEs"
    assert verdict.facts["asn"] == "AS15169" and verdict.facts["vulns"] == []


async def test_c2_tag_is_suspicious_whatever_its_case() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("91.92.251.103"))  # tagged "C2"
        await lookup.aclose()
    assert verdict.level is VerdictLevel.SUSPICIOUS and verdict.score == 40
    assert verdict.summary == "ports 443,8443; no known CVEs; tagged c2"


async def test_vulns_fact_keeps_the_ten_newest() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("20.1.2.3"))
        await lookup.aclose()
    assert verdict.summary == "ports 21,80,445,3389; 12 known CVEs"
    assert len(verdict.facts["vulns"]) == 10
    assert verdict.facts["vulns"][:2] == ["CVE-2023-2000", "CVE-2023-0100"]
    assert "CVE-2017-0100" not in verdict.facts["vulns"]


async def test_not_scanned_is_unknown_not_an_error() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(ip("93.184.216.34"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.summary == "no information in Shodan"
    assert len(vendor.requests) == 1


async def test_other_kinds_make_no_call() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(ObservableKind.DOMAIN, "example.com"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN
    assert vendor.requests == []


async def test_bad_key_is_an_auth_error_without_retries() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, key="shodan-key-wrong")
        with pytest.raises(ConnectorAuthError):
            await lookup.lookup(ip("8.8.8.8"))
        await lookup.aclose()
    assert len(vendor.requests) == 1


async def test_429_honours_retry_after_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(fake.app(rate_limit_first=1, retry_after="1")) as vendor:
        lookup = connector(vendor.url)
        slept = record_sleeps(monkeypatch)
        verdict = await lookup.lookup(ip("64.225.1.20"))
        monkeypatch.undo()
        await lookup.aclose()
    assert verdict.level is VerdictLevel.SUSPICIOUS
    assert len(vendor.requests) == 2
    assert 1.0 in slept  # the vendor's Retry-After, not the 0.01 s backoff


async def test_one_request_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        await lookup.lookup(ip("8.8.8.8"))
        refuse_long_sleeps(monkeypatch, longer_than=0.5)
        with pytest.raises(Waited) as waited:
            await lookup.lookup(ip("8.8.8.8"))
        monkeypatch.undo()
        await lookup.aclose()
    assert 0.5 < waited.value.seconds <= 1.0
    assert len(vendor.requests) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_the_key_never_reaches_logs_or_exception_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "shodan-key-wrong-9876543210"
    failures: list[ConnectorError] = []
    verdicts = []
    async with serve(fake.app(rate_limit_first=3)) as vendor:
        spent = connector(vendor.url, limited=False)
        with pytest.raises(ConnectorUnavailable) as rate_limited:
            await spent.lookup(ip("64.225.1.20"))  # three 429s: retries exhausted
        failures.append(rate_limited.value)
        verdicts.append(await spent.lookup(ip("64.225.1.20")))
        verdicts.append(await spent.lookup(ip("93.184.216.34")))  # 404
        await spent.aclose()
        wrong = connector(vendor.url, key=wrong_key, limited=False)
        with pytest.raises(ConnectorAuthError) as rejected:
            await wrong.lookup(ip("8.8.8.8"))
        failures.append(rejected.value)
        await wrong.aclose()
    async with serve(fake.app(fail_first=3)) as down:
        broken = connector(down.url, limited=False)
        with pytest.raises(ConnectorUnavailable) as failing:
            await broken.lookup(ip("8.8.8.8"))
        failures.append(failing.value)
        await broken.aclose()
    unreachable = connector(f"http://127.0.0.1:{closed_port()}", limited=False)
    with pytest.raises(ConnectorUnavailable) as refused:
        await unreachable.lookup(ip("8.8.8.8"))
    failures.append(refused.value)
    await unreachable.aclose()

    # The key did travel, in the query string, and httpx did log the requests: the checks below are not vacuous.
    assert {r.query.get("key") for r in vendor.requests} == {fake.GOOD_KEY, wrong_key}
    assert any(r.name == "httpx" and "HTTP Request" in r.getMessage() for r in caplog.records)
    assert [v.level for v in verdicts] == [VerdictLevel.SUSPICIOUS, VerdictLevel.UNKNOWN]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    raised = "\n".join("".join(traceback.format_exception(error)) for error in failures)
    shown = "\n".join(str(v.to_dict()) for v in verdicts)
    for secret in (fake.GOOD_KEY, wrong_key):
        assert secret not in logged
        assert secret not in raised
        assert secret not in shown
    assert "key=" not in logged + raised
    assert fake.GOOD_KEY not in repr(spent.http.client._transport)


def test_settings_need_an_api_key() -> None:
    with pytest.raises(ValidationError, match="api_key"):
        Settings()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="api_key"):
        Settings(api_key=SecretStr(""))
    assert fake.GOOD_KEY not in repr(Settings(api_key=SecretStr(fake.GOOD_KEY)))


async def test_build_through_the_catalogue_and_credential_id() -> None:
    model = connectors.settings_model("shodan")
    settings = model.model_validate({"api_key": fake.GOOD_KEY})
    assert isinstance(settings, Settings)
    [lookup] = build(settings)
    assert isinstance(lookup, Shodan) and isinstance(lookup, IntelLookup) and lookup.external
    assert lookup.kinds == {ObservableKind.IP}
    assert fake.GOOD_KEY not in lookup.credential_id
    other = connector("http://127.0.0.1:9", key="shodan-key-rotated")
    assert other.credential_id != lookup.credential_id
    await lookup.aclose()
    await other.aclose()


async def test_check_proves_the_key() -> None:
    async with serve(fake.app()) as vendor:
        good = connector(vendor.url)
        message = await good.check()
        await good.aclose()
        bad = connector(vendor.url, key="shodan-key-wrong")
        with pytest.raises(ConnectorAuthError):
            await bad.check()
        await bad.aclose()
    assert "accepted" in message
    assert vendor.paths() == ["/shodan/host/8.8.8.8", "/shodan/host/8.8.8.8"]
