"""VirusTotal v3 against its fake: every indicator kind, URL ids, not-found, auth, 429 and the rate limiter."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import connectors
from bot.core.errors import ConnectorAuthError, ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import IntelLookup, VerdictLevel
from connectors.http import RetryPolicy
from connectors.virustotal import Settings, VirusTotal, build
from connectors.virustotal.client import url_id
from tests.fakes import virustotal as fake
from tests.fakes.server import serve

K = ObservableKind


def connector(url: str, *, key: str = fake.GOOD_KEY, **settings: Any) -> VirusTotal:
    lookup = VirusTotal(Settings(api_key=SecretStr(key), base_url=f"{url}/api/v3", **settings))
    lookup.http.retry = RetryPolicy(attempts=3, base=0.01)
    return lookup


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


async def test_benign_ip_and_request_shape() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        assert isinstance(lookup, IntelLookup)
        verdict = await lookup.lookup(Observable(K.IP, "8.8.8.8"))
        await lookup.aclose()
    assert verdict.source == "virustotal"
    assert verdict.level is VerdictLevel.BENIGN and verdict.score == 0
    assert verdict.summary == "0/90 engines flag it malicious"
    assert verdict.facts["as_owner"] == "GOOGLE" and verdict.facts["country"] == "US"
    assert verdict.facts["reputation"] == 530
    assert verdict.link == "https://www.virustotal.com/gui/ip-address/8.8.8.8"
    [request] = vendor.requests
    assert request.method == "GET"
    assert request.path == "/api/v3/ip_addresses/8.8.8.8"
    assert request.query == {}
    assert request.headers["x-apikey"] == fake.GOOD_KEY
    assert request.headers["User-Agent"].startswith("soarbot/")


async def test_malicious_ip_scores_at_least_50() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.IP, "185.220.101.1"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.MALICIOUS
    assert verdict.score == 50  # 14/94 is 15 %, raised to the floor for a malicious verdict
    assert verdict.summary == "14/94 engines flag it malicious, 2 suspicious"
    assert verdict.facts["tags"] == ["tor"] and verdict.facts["asn"] == 60729


async def test_ip_without_detections_is_unknown() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.IP, "203.0.113.9"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.score == 0


async def test_malicious_domain() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.DOMAIN, "down.mykings.pw"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.MALICIOUS and verdict.score == 50
    assert verdict.summary == "8/98 engines flag it malicious"
    assert verdict.facts["registrar"] == "Namecheap"
    assert verdict.link == "https://www.virustotal.com/gui/domain/down.mykings.pw"
    assert vendor.paths() == ["/api/v3/domains/down.mykings.pw"]


@pytest.mark.parametrize(
    ("domain", "level"),
    [
        ("paypa1-support.net", VerdictLevel.SUSPICIOUS),  # 3 suspicious, 0 malicious
        ("example.org", VerdictLevel.BENIGN),  # harmless engines, none malicious
        ("fresh-parked-domain.net", VerdictLevel.UNKNOWN),  # everything undetected
    ],
)
async def test_domain_levels(domain: str, level: VerdictLevel) -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.DOMAIN, domain))
        await lookup.aclose()
    assert verdict.level is level
    assert verdict.score == 0


@pytest.mark.parametrize(("threshold", "level"), [(8, VerdictLevel.MALICIOUS), (9, VerdictLevel.SUSPICIOUS)])
async def test_malicious_threshold_comes_from_settings(threshold: int, level: VerdictLevel) -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, malicious_threshold=threshold)
        verdict = await lookup.lookup(Observable(K.DOMAIN, "down.mykings.pw"))  # 8 malicious engines
        await lookup.aclose()
    assert verdict.level is level


async def test_unknown_domain_is_unknown_not_an_error() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.DOMAIN, "never-seen-before.example"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN
    assert verdict.summary == "not in VirusTotal"


def test_url_id_is_unpadded_url_safe_base64() -> None:
    standard = base64.b64encode(fake.PHISHING_URL.encode()).decode()
    assert "/" in standard and standard.endswith("=")  # the example really exercises both quirks
    ident = url_id(fake.PHISHING_URL)
    assert "/" not in ident and "+" not in ident and "=" not in ident
    assert ident == standard.replace("+", "-").replace("/", "_").rstrip("=")


async def test_url_is_looked_up_by_its_id() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.URL, fake.PHISHING_URL))
        await lookup.aclose()
    [request] = vendor.requests
    assert request.method == "GET"
    assert request.path == f"/api/v3/urls/{url_id(fake.PHISHING_URL)}"
    assert request.query == {}  # the URL's own '?' did not leak into our query string
    assert verdict.level is VerdictLevel.MALICIOUS
    assert verdict.summary == "11/92 engines flag it malicious, 1 suspicious"
    sha256 = hashlib.sha256(fake.PHISHING_URL.encode()).hexdigest()
    assert verdict.link == f"https://www.virustotal.com/gui/url/{sha256}"


async def test_unseen_url_is_unknown_and_never_submitted() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.URL, "https://never-seen.example/a/b?c=d/e"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN
    assert verdict.summary == "not in VirusTotal"
    assert [r.method for r in vendor.requests] == ["GET"]


@pytest.mark.parametrize(
    ("kind", "digest"),
    [(K.MD5, fake.EICAR_MD5), (K.SHA1, fake.EICAR_SHA1), (K.SHA256, fake.EICAR_SHA256.upper())],
)
async def test_file_by_each_hash_kind(kind: ObservableKind, digest: str) -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(kind, digest))
        await lookup.aclose()
    assert vendor.paths() == [f"/api/v3/files/{digest.lower()}"]
    assert verdict.level is VerdictLevel.MALICIOUS
    assert verdict.score == 86  # 62 of the 72 engines with a verdict; unsupported types do not count
    assert verdict.summary == "62/72 engines flag it malicious"
    assert verdict.facts["name"] == "eicar.com"
    assert verdict.facts["file_type"] == "Text"
    assert verdict.facts["threat_label"] == "virus.eicar/test"
    assert verdict.link == f"https://www.virustotal.com/gui/file/{fake.EICAR_SHA256}"


async def test_unknown_hash_is_unknown() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.SHA256, "0" * 64))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN and verdict.summary == "not in VirusTotal"


async def test_invalid_ip_is_unknown() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.IP, "999.1.1.1"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN


async def test_kind_it_does_not_rate_makes_no_call() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.EMAIL, "someone@example.com"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.UNKNOWN
    assert vendor.requests == []


async def test_bad_key_is_an_auth_error_without_retries() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, key="vt-key-wrong")
        with pytest.raises(ConnectorAuthError):
            await lookup.lookup(Observable(K.IP, "8.8.8.8"))
        await lookup.aclose()
    assert len(vendor.requests) == 1


async def test_429_honours_retry_after_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(fake.app(rate_limit_first=1, retry_after="1")) as vendor:
        lookup = connector(vendor.url)
        slept = record_sleeps(monkeypatch)
        verdict = await lookup.lookup(Observable(K.DOMAIN, "down.mykings.pw"))
        monkeypatch.undo()
        await lookup.aclose()
    assert verdict.level is VerdictLevel.MALICIOUS
    assert len(vendor.requests) == 2
    assert 1.0 in slept  # the vendor's Retry-After, not the 0.01 s backoff


async def test_429_without_retry_after_backs_off_then_succeeds() -> None:
    async with serve(fake.app(rate_limit_first=2)) as vendor:
        lookup = connector(vendor.url)
        verdict = await lookup.lookup(Observable(K.IP, "8.8.8.8"))
        await lookup.aclose()
    assert verdict.level is VerdictLevel.BENIGN
    assert len(vendor.requests) == 3


async def test_quota_spent_is_unavailable_after_retries() -> None:
    async with serve(fake.app(rate_limit_first=100)) as vendor:
        lookup = connector(vendor.url)
        with pytest.raises(ConnectorUnavailable):
            await lookup.lookup(Observable(K.IP, "8.8.8.8"))
        await lookup.aclose()
    assert len(vendor.requests) == 3


async def lookups_before_a_wait(lookup: VirusTotal, monkeypatch: pytest.MonkeyPatch) -> tuple[int, float]:
    """Look up until the limiter wants to wait; return how many went through and the wait asked for."""
    refuse_long_sleeps(monkeypatch)
    done = 0
    try:
        for _ in range(10):
            await lookup.lookup(Observable(K.IP, "8.8.8.8"))
            done += 1
    except Waited as waited:
        return done, waited.seconds
    finally:
        monkeypatch.undo()
    raise AssertionError("the limiter never asked to wait")


@pytest.mark.parametrize(
    ("settings", "allowed", "window"),
    [({}, 4, 60), ({"per_minute": 2}, 2, 60), ({"per_minute": 100, "per_day": 3}, 3, 86400)],
)
async def test_rate_limiter_windows_come_from_settings(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], allowed: int, window: float
) -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, **settings)
        done, wait = await lookups_before_a_wait(lookup, monkeypatch)
        await lookup.aclose()
    assert done == allowed
    assert len(vendor.requests) == allowed
    assert window - 5 < wait <= window


def test_settings_need_an_api_key() -> None:
    with pytest.raises(ValidationError, match="api_key"):
        Settings()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="api_key"):
        Settings(api_key=SecretStr(""))
    settings = Settings(api_key=SecretStr("k"))
    assert (settings.per_minute, settings.per_day, settings.malicious_threshold) == (4, 500, 5)
    assert "k" not in repr(settings.api_key)


async def test_build_through_the_catalogue() -> None:
    model = connectors.settings_model("virustotal")
    settings = model.model_validate({"api_key": fake.GOOD_KEY})
    assert isinstance(settings, Settings)
    built = build(settings)
    [lookup] = built
    assert isinstance(lookup, VirusTotal) and isinstance(lookup, IntelLookup) and lookup.external
    assert lookup.kinds == {K.IP, K.DOMAIN, K.URL, K.MD5, K.SHA1, K.SHA256}
    assert fake.GOOD_KEY not in lookup.credential_id
    other = connector("http://127.0.0.1:9", key="vt-key-rotated")
    assert other.credential_id != lookup.credential_id
    await lookup.aclose()
    await other.aclose()


async def test_check_looks_up_a_known_address() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url)
        message = await lookup.check()
        await lookup.aclose()
    assert "accepted" in message
    assert vendor.paths() == ["/api/v3/ip_addresses/8.8.8.8"]


async def test_check_with_a_bad_key_raises_auth_error() -> None:
    async with serve(fake.app()) as vendor:
        lookup = connector(vendor.url, key="vt-key-wrong")
        with pytest.raises(ConnectorAuthError):
            await lookup.check()
        await lookup.aclose()
