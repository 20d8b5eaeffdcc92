"""URLhaus against its fake: each kind's request shape and verdict, and the query_status quirks."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import ValidationError

from bot.core.errors import ConnectorAuthError, ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import IntelLookup, VerdictLevel
from connectors.http import RetryPolicy
from connectors.urlhaus import Settings, Urlhaus, build
from tests.fakes import urlhaus as fake
from tests.fakes.server import Recorded, serve


def connector(url: str, key: str = fake.GOOD_KEY, transport: httpx.AsyncBaseTransport | None = None) -> Urlhaus:
    lookup = Urlhaus(Settings(auth_key=key, base_url=f"{url}/v1"), transport)  # type: ignore[arg-type]
    lookup.http.retry = RetryPolicy(attempts=3, base=0.01)
    return lookup


def form(request: Recorded) -> dict[str, str]:
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    return {key: values[0] for key, values in parse_qs(request.body.decode()).items()}


async def look(kind: ObservableKind, value: str, **knobs: Any) -> tuple[Any, list[Recorded]]:
    async with serve(fake.app(**knobs)) as vendor:
        lookup = connector(vendor.url)
        try:
            verdict = await lookup.lookup(Observable(kind, value))
        finally:
            await lookup.aclose()
    return verdict, vendor.requests


async def test_online_url_is_malicious_and_request_shape() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert isinstance(lookup, IntelLookup)
        verdict = await lookup.lookup(Observable(ObservableKind.URL, fake.ONLINE_URL))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 90
    assert verdict.facts == {
        "threat": "malware_download",
        "tags": ["emotet", "epoch2", "heodo"],
        "url_status": "online",
        "date_added": "2019-01-19 01:33:26 UTC",
        "reporter": "Cryptolaemus1",
    }
    assert verdict.link == "https://urlhaus.abuse.ch/url/105821/"
    assert "malware_download" in verdict.summary and "online" in verdict.summary
    [request] = vendor.requests
    assert request.method == "POST" and request.path == "/v1/url/"
    assert form(request) == {"url": fake.ONLINE_URL}
    assert request.headers["Auth-Key"] == fake.GOOD_KEY
    assert request.headers["User-Agent"].startswith("soarbot/")


async def test_offline_url_is_still_malicious_with_a_lower_score() -> None:
    verdict, _ = await look(ObservableKind.URL, fake.OFFLINE_URL)
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 70
    assert verdict.facts["url_status"] == "offline"


async def test_domain_with_an_online_url_is_malicious() -> None:
    verdict, [request] = await look(ObservableKind.DOMAIN, "vektorex.com")
    assert request.path == "/v1/host/" and form(request) == {"host": "vektorex.com"}
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 80
    assert verdict.facts["url_count"] == 120  # a string in the answer
    assert verdict.facts["online"] == 1
    assert verdict.facts["tags"] == ["AZORult", "exe", "Loki"]
    assert verdict.summary == "120 malware URLs, 1 online"
    assert verdict.link == "https://urlhaus.abuse.ch/host/vektorex.com/"


async def test_ip_host_with_only_offline_urls_is_suspicious() -> None:
    verdict, [request] = await look(ObservableKind.IP, "117.195.49.21")
    assert request.path == "/v1/host/" and form(request) == {"host": "117.195.49.21"}
    assert verdict.level is VerdictLevel.SUSPICIOUS and verdict.score == 60
    assert verdict.summary == "2 malware URLs, none online"


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        (ObservableKind.MD5, fake.MD5, "md5_hash"),
        (ObservableKind.SHA256, fake.SHA256.upper(), "sha256_hash"),
    ],
)
async def test_known_payload_is_malicious(kind: ObservableKind, value: str, field: str) -> None:
    verdict, [request] = await look(kind, value)
    assert request.path == "/v1/payload/" and form(request) == {field: value.lower()}
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 90
    assert verdict.facts["signature"] == "AZORult" and verdict.facts["file_type"] == "exe"
    assert verdict.facts["file_size"] == 445952
    assert verdict.link == f"https://urlhaus.abuse.ch/browse.php?search={fake.SHA256}"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ObservableKind.URL, "http://example.com/clean"),
        (ObservableKind.DOMAIN, "example.com"),
        (ObservableKind.SHA256, "a" * 64),
    ],
)
async def test_no_results_is_unknown(kind: ObservableKind, value: str) -> None:
    verdict, _ = await look(kind, value)
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.score == 0
    assert verdict.summary == "not in URLhaus"


@pytest.mark.parametrize(
    ("kind", "value", "status"),
    [
        (ObservableKind.URL, "ftp://example.com/x", "invalid_url"),
        (ObservableKind.DOMAIN, "localhost", "invalid_host"),
        (ObservableKind.MD5, "abc", "invalid_md5"),
    ],
)
async def test_invalid_answers_are_unknown(kind: ObservableKind, value: str, status: str) -> None:
    verdict, _ = await look(kind, value)
    assert verdict.level is VerdictLevel.UNKNOWN
    assert status in verdict.summary


@pytest.mark.parametrize("status", [401, 403, 200])
async def test_unknown_auth_key_is_an_auth_error_whatever_the_http_status(status: int) -> None:
    async with serve(fake.app(bad_key_status=status)) as vendor:
        lookup = connector(vendor.url, key="wrong-key-123")
        with pytest.raises(ConnectorAuthError):
            await lookup.lookup(Observable(ObservableKind.DOMAIN, "vektorex.com"))
        await lookup.aclose()
    assert len(vendor.requests) == 1  # not retried


async def test_429_is_retried() -> None:
    verdict, requests = await look(ObservableKind.DOMAIN, "vektorex.com", rate_limit_first=2)
    assert verdict.level is VerdictLevel.MALICIOUS
    assert len(requests) == 3


async def test_persistent_429_is_unavailable() -> None:
    with pytest.raises(ConnectorUnavailable, match="429"):
        await look(ObservableKind.DOMAIN, "vektorex.com", rate_limit_first=10)


async def test_http_post_expected_is_unavailable_and_blames_us() -> None:
    def as_json(request: httpx.Request) -> httpx.Request:
        return httpx.Request(request.method, request.url, headers={"Auth-Key": fake.GOOD_KEY}, json={"url": "x"})

    class JsonTransport(httpx.AsyncBaseTransport):
        """Re-send every request as JSON, the mistake the API answers with http_post_expected."""

        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await self.inner.handle_async_request(as_json(request))

        async def aclose(self) -> None:
            await self.inner.aclose()

    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, transport=JsonTransport())
        with pytest.raises(ConnectorUnavailable, match="http_post_expected"):
            await lookup.lookup(Observable(ObservableKind.URL, fake.ONLINE_URL))
        await lookup.aclose()
    assert vendor.requests[0].headers["Content-Type"] == "application/json"


async def test_check_accepts_a_good_key_and_rejects_a_bad_one() -> None:
    async with serve(fake.app()) as vendor:
        good, bad = connector(vendor.url), connector(vendor.url, key="wrong-key-123")
        assert "accepted" in await good.check()
        with pytest.raises(ConnectorAuthError):
            await bad.check()
        await good.aclose()
        await bad.aclose()


async def test_settings_need_an_auth_key_and_hide_it() -> None:
    with pytest.raises(ValidationError, match="auth_key"):
        Settings()  # type: ignore[call-arg]
    settings = Settings(auth_key="sekrit-key-1")  # type: ignore[arg-type]
    assert "sekrit" not in repr(settings)
    [lookup] = build(settings)
    assert isinstance(lookup, Urlhaus) and "sekrit" not in lookup.credential_id
    assert str(lookup.http.client.base_url) == "https://urlhaus-api.abuse.ch/v1/"
    await lookup.aclose()
