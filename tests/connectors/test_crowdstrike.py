"""CrowdStrike Falcon host containment against its fake: idempotency, lookups, tokens, never-blind POSTs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr, ValidationError

from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorNotFound, ConnectorUnavailable
from bot.core.ports import ActionOutcome, Containment, ContainmentKind
from connectors.crowdstrike import FalconContainment, Settings, build
from connectors.crowdstrike.client import Host, HostStatus, fql_string
from connectors.http import RetryPolicy
from tests.fakes import crowdstrike as fake
from tests.fakes.server import FakeVendor, serve

WS1 = "ea2085de804f4dde7053af48828889cb"
ACTIONS_PATH = "/devices/entities/devices-actions/v2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connector(url: str, secret: str = fake.GOOD_SECRET) -> FalconContainment:
    falcon = FalconContainment(Settings(client_id=fake.CLIENT_ID, client_secret=SecretStr(secret), base_url=url))
    falcon.http.retry = RetryPolicy(attempts=3, base=0.01)
    return falcon


@asynccontextmanager
async def running(
    vendor_fake: fake.Falcon, secret: str = fake.GOOD_SECRET
) -> AsyncIterator[tuple[FakeVendor, FalconContainment]]:
    """Serve the fake and a connector pointed at it; the connector is closed even when the test fails."""
    async with serve(vendor_fake.app()) as vendor:
        conn = connector(vendor.url, secret=secret)
        try:
            yield vendor, conn
        finally:
            await conn.aclose()


def posts(vendor: FakeVendor) -> list[str]:
    return [r.path for r in vendor.requests if r.method == "POST" and r.path == ACTIONS_PATH]


async def test_contain_then_contain_again_is_already_after_exactly_one_post() -> None:
    falcon_fake = fake.Falcon()
    async with running(falcon_fake) as (vendor, falcon):
        assert isinstance(falcon, Containment) and falcon.capability is ContainmentKind.EDR
        first = await falcon.apply("WS-0001", reason="case 7: beaconing", idempotency_key="case7-contain")
        second = await falcon.apply("WS-0001", reason="case 7: beaconing", idempotency_key="case7-contain")
    assert first.outcome is ActionOutcome.DONE
    assert first.reference == WS1 and dict(first.undo) == {"device_id": WS1}
    assert second.outcome is ActionOutcome.ALREADY and "containment_pending" in second.message
    assert falcon_fake.actions == [("contain", WS1)]
    assert len(posts(vendor)) == 1
    [post] = [r for r in vendor.requests if r.path == ACTIONS_PATH]
    assert post.query == {"action_name": "contain"}
    assert json.loads(post.body) == {"ids": [WS1]}
    assert post.headers["Authorization"].startswith("Bearer ")
    query = next(r for r in vendor.requests if r.path == "/devices/queries/devices/v1")
    assert query.query == {"filter": "hostname:'WS-0001'"}
    assert falcon_fake.token_requests == 1


async def test_already_contained_host_is_not_posted_to() -> None:
    falcon_fake = fake.Falcon()
    async with running(falcon_fake) as (vendor, falcon):
        result = await falcon.apply("srv-db-01", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.ALREADY and result.reference == "c0ffee00c0ffee00c0ffee00c0ffee00"
    assert posts(vendor) == [] and falcon_fake.actions == []


async def test_revert_lifts_containment_then_is_already() -> None:
    falcon_fake = fake.Falcon()
    async with running(falcon_fake) as (vendor, falcon):
        applied = await falcon.apply("WS-0001", reason="r", idempotency_key="k")
        falcon_fake.settle()
        assert falcon_fake.host(WS1).status == "contained"  # type: ignore[union-attr]
        released = await falcon.revert("WS-0001", reason="false positive", undo=applied.undo)
        again = await falcon.revert("WS-0001", reason="false positive", undo=applied.undo)
    assert released.outcome is ActionOutcome.DONE and released.action == "release host"
    assert again.outcome is ActionOutcome.ALREADY
    assert falcon_fake.actions == [("contain", WS1), ("lift_containment", WS1)]
    lift = [r for r in vendor.requests if r.path == ACTIONS_PATH][-1]
    assert lift.query == {"action_name": "lift_containment"}


async def test_revert_without_undo_resolves_the_hostname() -> None:
    falcon_fake = fake.Falcon()
    async with running(falcon_fake) as (vendor, falcon):
        result = await falcon.revert("SRV-DB-01", reason="r", undo={})
    assert result.outcome is ActionOutcome.DONE
    assert falcon_fake.actions == [("lift_containment", "c0ffee00c0ffee00c0ffee00c0ffee00")]


async def test_unknown_hostname_is_not_found() -> None:
    async with running(fake.Falcon()) as (vendor, falcon):
        with pytest.raises(ConnectorNotFound, match="no Falcon host named 'NOPE-1'"):
            await falcon.apply("NOPE-1", reason="r", idempotency_key="k")
    assert posts(vendor) == []


async def test_ambiguous_hostname_contains_nothing() -> None:
    falcon_fake = fake.Falcon()
    async with running(falcon_fake) as (vendor, falcon):
        with pytest.raises(ConnectorError, match="ambiguous: 2 hosts named 'DUP-HOST'") as caught:
            await falcon.apply("DUP-HOST", reason="r", idempotency_key="k")
    assert not isinstance(caught.value, ConnectorNotFound)
    assert posts(vendor) == [] and falcon_fake.actions == []


async def test_quotes_in_a_hostname_are_escaped_in_fql() -> None:
    assert fql_string("O'BRIEN\\LT") == "'O\\'BRIEN\\\\LT'"
    falcon_fake = fake.Falcon()
    async with running(falcon_fake) as (vendor, falcon):
        result = await falcon.apply("O'BRIEN-LT", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE
    query = next(r for r in vendor.requests if r.path == "/devices/queries/devices/v1")
    assert query.query["filter"] == "hostname:'O\\'BRIEN-LT'"


async def test_a_409_race_is_settled_by_reading_the_host_again(monkeypatch: pytest.MonkeyPatch) -> None:
    falcon_fake = fake.Falcon()
    async with running(falcon_fake) as (vendor, falcon):
        real_host = falcon.client.host
        stale = [True]

        async def host_read_before_someone_else_contained_it(device_id: str) -> Host:
            host = await real_host(device_id)
            if stale[0]:
                stale[0] = False
                falcon_fake.host(device_id).status = "containment_pending"  # type: ignore[union-attr]
                return Host(host.device_id, host.hostname, HostStatus.NORMAL)
            return host

        monkeypatch.setattr(falcon.client, "host", host_read_before_someone_else_contained_it)
        result = await falcon.apply("WS-0002", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.ALREADY
    assert len(posts(vendor)) == 1 and falcon_fake.actions == []


async def test_wrong_secret_is_an_auth_error_with_the_vendor_text_and_no_secret() -> None:
    wrong = "Not-The-Right-Secret-1234567890"
    falcon_fake = fake.Falcon()
    async with running(falcon_fake, secret=wrong) as (vendor, falcon):
        with pytest.raises(ConnectorAuthError) as caught:
            await falcon.apply("WS-0001", reason="r", idempotency_key="k")
    message = str(caught.value)
    assert "Client authentication failed" in message and "token request rejected (HTTP 403)" in message
    assert "contain host 'WS-0001'" in message
    assert wrong not in message
    assert vendor.paths() == ["/oauth2/token"]  # no retries of a rejected secret, no API call
    assert falcon_fake.actions == []


async def test_token_is_cached_across_calls_and_refreshed_after_expiry() -> None:
    falcon_fake = fake.Falcon()
    clock = Clock()
    async with running(falcon_fake) as (vendor, falcon):
        falcon.client.auth.clock = clock
        await falcon.check()
        await falcon.apply("WS-0001", reason="r", idempotency_key="k")
        await falcon.apply("WS-0002", reason="r", idempotency_key="k")
        assert falcon_fake.token_requests == 1
        clock.now += 1799 - 61  # still inside the refresh margin
        await falcon.check()
        assert falcon_fake.token_requests == 1
        clock.now += 2  # within 60 s of expiry: refresh before the vendor would refuse it
        await falcon.check()
        await falcon.check()
    assert falcon_fake.token_requests == 2
    tokens = {r.headers["Authorization"] for r in vendor.requests if r.path != "/oauth2/token"}
    assert len(tokens) == 2


async def test_concurrent_callers_share_one_token_request() -> None:
    falcon_fake = fake.Falcon()
    async with running(falcon_fake) as (vendor, falcon):
        await asyncio.gather(*(falcon.check() for _ in range(8)))
    assert falcon_fake.token_requests == 1
    assert vendor.paths().count("/oauth2/token") == 1


async def test_stale_token_on_the_contain_post_gets_one_new_token_and_one_retry() -> None:
    falcon_fake = fake.Falcon()
    falcon_fake.revoke_tokens_on["POST"] = 1
    async with running(falcon_fake) as (vendor, falcon):
        result = await falcon.apply("WS-0001", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE
    assert falcon_fake.token_requests == 2
    assert len(posts(vendor)) == 2  # the 401 one and its single retry
    assert falcon_fake.actions == [("contain", WS1)]
    first, retry = [r.headers["Authorization"] for r in vendor.requests if r.path == ACTIONS_PATH]
    assert first != retry


async def test_a_second_401_is_not_retried_again() -> None:
    falcon_fake = fake.Falcon()
    falcon_fake.revoke_tokens_on["POST"] = 5
    async with running(falcon_fake) as (vendor, falcon):
        with pytest.raises(ConnectorAuthError, match="invalid bearer token"):
            await falcon.apply("WS-0001", reason="r", idempotency_key="k")
    assert len(posts(vendor)) == 2 and falcon_fake.token_requests == 2
    assert falcon_fake.actions == []


async def test_500_on_the_contain_post_is_unavailable_after_exactly_one_post() -> None:
    falcon_fake = fake.Falcon()
    falcon_fake.fail["POST"] = 1
    async with running(falcon_fake) as (vendor, falcon):
        with pytest.raises(ConnectorUnavailable, match="contain host 'WS-0001'.*HTTP 500"):
            await falcon.apply("WS-0001", reason="r", idempotency_key="k")
    assert len(posts(vendor)) == 1
    assert falcon_fake.actions == []


async def test_429_on_a_lookup_is_retried() -> None:
    falcon_fake = fake.Falcon()
    falcon_fake.throttle["GET"] = 1
    async with running(falcon_fake) as (vendor, falcon):
        result = await falcon.apply("WS-0001", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE
    assert [r.path for r in vendor.requests].count("/devices/queries/devices/v1") == 2


async def test_check_counts_visible_hosts() -> None:
    async with running(fake.Falcon()) as (vendor, falcon):
        assert await falcon.check() == "API client accepted; 6 hosts visible"


async def test_secrets_and_tokens_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wrong-Secret-abcdefghijklmnop"
    falcon_fake = fake.Falcon()
    caplog.set_level(logging.DEBUG)
    async with running(falcon_fake) as (vendor, good):
        falcon_fake.revoke_tokens_on["POST"] = 1
        await good.apply("WS-0001", reason="r", idempotency_key="k")
        bad = connector(vendor.url, secret=wrong)
        try:
            with pytest.raises(ConnectorAuthError) as caught:
                await bad.check()
        finally:
            await bad.aclose()
    issued = [r.headers["Authorization"].removeprefix("Bearer ") for r in vendor.requests if r.path != "/oauth2/token"]
    assert issued and caplog.text
    for secret in (fake.GOOD_SECRET, wrong, *issued):
        assert secret not in caplog.text
        assert secret not in str(caught.value)
    assert fake.GOOD_SECRET not in repr(good.client.auth.__dict__)


def test_settings_cloud_and_secret_handling() -> None:
    settings = Settings(client_id="id", client_secret=SecretStr("s3cret-value"), cloud="eu-1")
    assert "s3cret-value" not in repr(settings)
    [falcon] = build(settings)
    assert str(falcon.http.client.base_url) == "https://api.eu-1.crowdstrike.com"
    gov = FalconContainment(Settings(client_id="id", client_secret=SecretStr("x"), cloud="us-gov-1"))
    assert str(gov.http.client.base_url) == "https://api.laggar.gcw.crowdstrike.com"
    with pytest.raises(ValidationError):
        Settings(client_id="id")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(client_id="id", client_secret=SecretStr("x"), cloud="mars-1")  # type: ignore[arg-type]
