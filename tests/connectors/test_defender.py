"""Defender for Endpoint isolation against its fake: name matching, ActiveRequestAlreadyExists, Entra tokens."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorNotFound, ConnectorUnavailable
from bot.core.ports import ActionOutcome, Containment, ContainmentKind
from connectors.defender import DefenderContainment, Settings, build
from connectors.http import RetryPolicy
from tests.fakes import defender as fake
from tests.fakes import entra
from tests.fakes.server import FakeVendor, serve

WS1 = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
TOKEN_PATH = f"/{entra.TENANT}/oauth2/v2.0/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connector(url: str, secret: str = entra.GOOD_SECRET, tenant: str = entra.TENANT) -> DefenderContainment:
    settings = Settings(
        tenant_id=tenant, client_id=entra.CLIENT_ID, client_secret=SecretStr(secret), base_url=url, login_url=url
    )
    defender = DefenderContainment(settings)
    defender.http.retry = RetryPolicy(attempts=3, base=0.01)
    return defender


@asynccontextmanager
async def running(
    vendor_fake: fake.Defender, secret: str = entra.GOOD_SECRET, tenant: str = entra.TENANT
) -> AsyncIterator[tuple[FakeVendor, DefenderContainment]]:
    """Serve the fake and a connector pointed at it; the connector is closed even when the test fails."""
    async with serve(vendor_fake.app()) as vendor:
        conn = connector(vendor.url, secret=secret, tenant=tenant)
        try:
            yield vendor, conn
        finally:
            await conn.aclose()


def isolate_posts(vendor: FakeVendor, machine_id: str = WS1) -> int:
    return sum(1 for r in vendor.requests if r.method == "POST" and r.path == f"/api/machines/{machine_id}/isolate")


async def test_isolate_then_isolate_again_is_already() -> None:
    mde = fake.Defender()
    async with running(mde) as (vendor, defender):
        assert isinstance(defender, Containment) and defender.capability is ContainmentKind.EDR
        first = await defender.apply("ws-0001", reason="case 9: ransomware", idempotency_key="case9-isolate")
        second = await defender.apply("ws-0001", reason="case 9: ransomware", idempotency_key="case9-isolate")
    assert first.outcome is ActionOutcome.DONE
    assert first.reference == mde.actions[0]["id"] and dict(first.undo) == {"machine_id": WS1}
    assert second.outcome is ActionOutcome.ALREADY and "ActiveRequestAlreadyExists" in second.message
    assert second.reference is None and dict(second.undo) == {"machine_id": WS1}
    assert len(mde.actions) == 1  # one state change; the second POST was refused by Defender itself
    post = next(r for r in vendor.requests if r.path == f"/api/machines/{WS1}/isolate")
    assert json.loads(post.body) == {"Comment": "case 9: ransomware (soarbot case9-isolate)", "IsolationType": "Full"}
    assert post.headers["Authorization"].startswith("Bearer ")
    lookup = next(r for r in vendor.requests if r.path == "/api/machines")
    assert lookup.query == {"$filter": "startswith(computerDnsName,'ws-0001')"}
    assert mde.login.token_requests == 1


@pytest.mark.parametrize(
    ("name", "machine_id"),
    [
        ("WS-0001.corp.example", WS1),  # an FQDN matches exactly, case-insensitively
        ("kiosk-7", "4f2e0ab3cd9184e1b66a7c2f8d9e0a1b2c3d4e5f"),  # a bare computerDnsName
        ("old-05", "d4" * 20),  # the record merged into another machine is ignored
    ],
)
async def test_name_matching(name: str, machine_id: str) -> None:
    mde = fake.Defender()
    async with running(mde) as (vendor, defender):
        result = await defender.apply(name, reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE and dict(result.undo) == {"machine_id": machine_id}


async def test_unknown_machine_is_not_found() -> None:
    mde = fake.Defender()
    async with running(mde) as (vendor, defender):
        with pytest.raises(ConnectorNotFound, match="no Defender machine named 'ws-9'"):
            await defender.apply("ws-9", reason="r", idempotency_key="k")
    assert mde.actions == [] and not any(r.method == "POST" and "/api/" in r.path for r in vendor.requests)


async def test_ambiguous_name_isolates_nothing() -> None:
    mde = fake.Defender()
    async with running(mde) as (vendor, defender):
        with pytest.raises(ConnectorError, match="ambiguous: 2 machines named 'dup-01'") as caught:
            await defender.apply("dup-01", reason="r", idempotency_key="k")
    assert not isinstance(caught.value, ConnectorNotFound)
    assert mde.actions == [] and not any(r.method == "POST" and "/api/" in r.path for r in vendor.requests)


async def test_quotes_are_doubled_in_the_odata_literal() -> None:
    mde = fake.Defender()
    mde.machines.append(fake.Machine("e5" * 20, "o'brien-lt.corp.example"))
    async with running(mde) as (vendor, defender):
        result = await defender.apply("o'brien-lt", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE
    lookup = next(r for r in vendor.requests if r.path == "/api/machines")
    assert lookup.query["$filter"] == "startswith(computerDnsName,'o''brien-lt')"


async def test_revert_releases_then_is_already() -> None:
    mde = fake.Defender()
    async with running(mde) as (vendor, defender):
        applied = await defender.apply("ws-0001", reason="r", idempotency_key="k")
        released = await defender.revert("ws-0001", reason="false positive", undo=applied.undo)
        again = await defender.revert("ws-0001", reason="false positive", undo=applied.undo)
    assert released.outcome is ActionOutcome.DONE and released.reference == mde.actions[1]["id"]
    assert again.outcome is ActionOutcome.ALREADY
    assert [a["type"] for a in mde.actions] == ["Isolate", "Unisolate"]
    assert not mde.machine(WS1).isolated  # type: ignore[union-attr]
    unisolate = next(r for r in vendor.requests if r.path.endswith("/unisolate"))
    assert json.loads(unisolate.body) == {"Comment": "false positive"}
    # With undo, no lookup by name was needed for the release.
    assert [r.path for r in vendor.requests].count("/api/machines") == 1


async def test_wrong_secret_is_an_auth_error_naming_the_aadsts_code() -> None:
    wrong = "Wrong~Secret~Value~0123456789"
    mde = fake.Defender()
    async with running(mde, secret=wrong) as (vendor, defender):
        with pytest.raises(ConnectorAuthError) as caught:
            await defender.apply("ws-0001", reason="r", idempotency_key="k")
    message = str(caught.value)
    assert "invalid_client: AADSTS7000215: Invalid client secret provided" in message
    assert "Trace ID" not in message and wrong not in message
    assert vendor.paths() == [TOKEN_PATH]


async def test_unknown_tenant_is_an_auth_error() -> None:
    mde = fake.Defender()
    async with running(mde, tenant="00000000-0000-0000-0000-000000000000") as (vendor, defender):
        with pytest.raises(ConnectorAuthError, match="AADSTS90002"):
            await defender.check()


async def test_token_request_asks_for_the_defender_scope_and_is_cached() -> None:
    mde = fake.Defender()
    clock = Clock()
    async with running(mde) as (vendor, defender):
        defender.client.auth.clock = clock
        await asyncio.gather(*(defender.check() for _ in range(5)))
        await defender.apply("kiosk-7", reason="r", idempotency_key="k")
        assert mde.login.token_requests == 1
        clock.now += 3600
        await defender.check()
    assert mde.login.token_requests == 2
    form = parse_qs(next(r for r in vendor.requests if r.path == TOKEN_PATH).body.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "scope": ["https://api.securitycenter.microsoft.com/.default"],
        "client_id": [entra.CLIENT_ID],
        "client_secret": [entra.GOOD_SECRET],
    }


async def test_stale_token_on_the_isolate_post_gets_one_new_token_and_one_retry() -> None:
    mde = fake.Defender()
    mde.revoke_tokens_on["POST"] = 1
    async with running(mde) as (vendor, defender):
        result = await defender.apply("ws-0001", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE
    assert mde.login.token_requests == 2 and isolate_posts(vendor) == 2 and len(mde.actions) == 1


async def test_expired_token_is_refused_by_the_api_then_replaced() -> None:
    mde = fake.Defender()
    mde.login.lifetime = 0.2
    async with running(mde) as (vendor, defender):
        defender.client.auth.clock = lambda: 0.0  # our cache thinks the token is still good
        await defender.check()
        await asyncio.sleep(0.3)  # ... but the vendor has expired it
        result = await defender.apply("ws-0001", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE and mde.login.token_requests == 2


async def test_500_on_isolate_is_unavailable_after_exactly_one_post() -> None:
    mde = fake.Defender()
    mde.fail["POST"] = 1
    async with running(mde) as (vendor, defender):
        with pytest.raises(ConnectorUnavailable, match="isolate host 'ws-0001'.*HTTP 500"):
            await defender.apply("ws-0001", reason="r", idempotency_key="k")
    assert isolate_posts(vendor) == 1 and mde.actions == []


async def test_429_on_isolate_is_not_retried() -> None:
    mde = fake.Defender()
    mde.throttle["POST"] = 1
    mde.retry_after = "0"
    async with running(mde) as (vendor, defender):
        with pytest.raises(ConnectorUnavailable, match="429"):
            await defender.apply("ws-0001", reason="r", idempotency_key="k")
    assert isolate_posts(vendor) == 1


async def test_429_on_the_lookup_is_retried() -> None:
    mde = fake.Defender()
    mde.throttle["GET"] = 1
    mde.retry_after = "0"
    async with running(mde) as (vendor, defender):
        result = await defender.apply("ws-0001", reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE
    assert [r.path for r in vendor.requests].count("/api/machines") == 2


async def test_check() -> None:
    async with running(fake.Defender()) as (vendor, defender):
        assert await defender.check() == "app credentials accepted; machines visible"


async def test_secrets_and_tokens_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wrong~Secret~Value~abcdefghij"
    mde = fake.Defender()
    caplog.set_level(logging.DEBUG)
    async with running(mde) as (vendor, good):
        mde.revoke_tokens_on["POST"] = 1
        await good.apply("ws-0001", reason="r", idempotency_key="k")
        bad = connector(vendor.url, secret=wrong)
        try:
            with pytest.raises(ConnectorAuthError) as caught:
                await bad.check()
        finally:
            await bad.aclose()
    issued = [r.headers["Authorization"].removeprefix("Bearer ") for r in vendor.requests if r.path != TOKEN_PATH]
    assert issued and caplog.text
    for secret in (entra.GOOD_SECRET, wrong, *issued):
        assert secret not in caplog.text
        assert secret not in str(caught.value)


def test_build_and_settings() -> None:
    settings = Settings(tenant_id="t", client_id="c", client_secret=SecretStr("hidden-secret"))
    assert "hidden-secret" not in repr(settings)
    [defender] = build(settings)
    assert str(defender.http.client.base_url) == "https://api.security.microsoft.com"
