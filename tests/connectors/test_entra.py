"""Entra ID account containment through Microsoft Graph against its fake: 204s, idempotency, throttling."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from bot.core.errors import ConnectorAuthError, ConnectorNotFound, ConnectorUnavailable
from bot.core.ports import ActionOutcome, Containment, ContainmentKind
from connectors.entra import EntraContainment, Settings, build
from connectors.http import RetryPolicy
from tests.fakes import entra as fake
from tests.fakes.server import FakeVendor, serve

ALICE = fake.ALICE.id
TOKEN_PATH = f"/{fake.TENANT}/oauth2/v2.0/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connector(url: str, secret: str = fake.GOOD_SECRET) -> EntraContainment:
    settings = Settings(
        tenant_id=fake.TENANT,
        client_id=fake.CLIENT_ID,
        client_secret=SecretStr(secret),
        base_url=f"{url}/v1.0",
        login_url=url,
    )
    entra = EntraContainment(settings)
    entra.http.retry = RetryPolicy(attempts=3, base=0.01)
    return entra


@asynccontextmanager
async def running(
    vendor_fake: fake.Graph, secret: str = fake.GOOD_SECRET
) -> AsyncIterator[tuple[FakeVendor, EntraContainment]]:
    """Serve the fake and a connector pointed at it; the connector is closed even when the test fails."""
    async with serve(vendor_fake.app()) as vendor:
        conn = connector(vendor.url, secret=secret)
        try:
            yield vendor, conn
        finally:
            await conn.aclose()


def sent(vendor: FakeVendor, method: str) -> int:
    return sum(1 for r in vendor.requests if r.method == method and r.path.startswith("/v1.0/"))


async def test_disable_then_disable_again_is_already_with_one_patch() -> None:
    graph = fake.Graph()
    async with running(graph) as (vendor, entra):
        assert isinstance(entra, Containment) and entra.capability is ContainmentKind.IDENTITY
        first = await entra.apply("alice@contoso.example", reason="case 3", idempotency_key="case3-disable")
        second = await entra.apply("alice@contoso.example", reason="case 3", idempotency_key="case3-disable")
    assert first.outcome is ActionOutcome.DONE  # the PATCH answered 204 with no body, and that is fine
    assert first.reference == ALICE and dict(first.undo) == {"user_id": ALICE}
    assert "sign-in sessions revoked" in first.message
    assert second.outcome is ActionOutcome.ALREADY and "already disabled" in second.message
    assert graph.patches == [(ALICE, {"accountEnabled": False})]
    assert sent(vendor, "PATCH") == 1
    assert graph.revocations == [ALICE, ALICE]  # sessions are revoked on every apply
    assert graph.find(ALICE).account_enabled is False  # type: ignore[union-attr]
    read = next(r for r in vendor.requests if r.method == "GET")
    assert read.path == "/v1.0/users/alice@contoso.example"
    assert read.query == {"$select": "id,userPrincipalName,accountEnabled"}
    patch = next(r for r in vendor.requests if r.method == "PATCH")
    assert patch.path == f"/v1.0/users/{ALICE}"  # later calls use the object id read first
    assert json.loads(patch.body) == {"accountEnabled": False}
    assert graph.login.token_requests == 1


async def test_already_disabled_account_still_gets_its_sessions_revoked() -> None:
    graph = fake.Graph()
    async with running(graph) as (vendor, entra):
        result = await entra.apply(fake.DISABLED.user_principal_name, reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.ALREADY
    assert graph.patches == [] and graph.revocations == [fake.DISABLED.id]


async def test_revoke_answering_204_is_accepted() -> None:
    graph = fake.Graph(revoke_answers_204=True)
    async with running(graph) as (vendor, entra):
        result = await entra.apply(ALICE, reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE and graph.revocations == [ALICE]


async def test_revert_enables_then_is_already() -> None:
    graph = fake.Graph()
    async with running(graph) as (vendor, entra):
        applied = await entra.apply("alice@contoso.example", reason="r", idempotency_key="k")
        enabled = await entra.revert("alice@contoso.example", reason="cleared", undo=applied.undo)
        again = await entra.revert("alice@contoso.example", reason="cleared", undo=applied.undo)
    assert enabled.outcome is ActionOutcome.DONE and enabled.action == "enable account"
    assert again.outcome is ActionOutcome.ALREADY
    assert graph.patches == [(ALICE, {"accountEnabled": False}), (ALICE, {"accountEnabled": True})]
    assert graph.find(ALICE).account_enabled is True  # type: ignore[union-attr]


async def test_guest_upn_with_hash_is_escaped_in_the_path() -> None:
    graph = fake.Graph()
    async with running(graph) as (vendor, entra):
        result = await entra.apply(fake.GUEST.user_principal_name, reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE and result.reference == fake.GUEST.id


async def test_unknown_user_is_not_found() -> None:
    graph = fake.Graph()
    async with running(graph) as (vendor, entra):
        with pytest.raises(ConnectorNotFound, match="no such user 'ghost@contoso.example'.*Request_ResourceNotFound"):
            await entra.apply("ghost@contoso.example", reason="r", idempotency_key="k")
    assert sent(vendor, "PATCH") == 0 and sent(vendor, "POST") == 0


async def test_wrong_secret_is_an_auth_error_without_the_secret() -> None:
    wrong = "Wrong~Graph~Secret~0123456789"
    graph = fake.Graph()
    async with running(graph, secret=wrong) as (vendor, entra):
        with pytest.raises(ConnectorAuthError, match="AADSTS7000215") as caught:
            await entra.apply("alice@contoso.example", reason="r", idempotency_key="k")
    assert wrong not in str(caught.value)
    assert vendor.paths() == [TOKEN_PATH] and graph.patches == []


async def test_token_asks_for_the_graph_scope_is_cached_and_refreshed() -> None:
    graph = fake.Graph()
    clock = Clock()
    async with running(graph) as (vendor, entra):
        entra.client.auth.clock = clock
        await asyncio.gather(*(entra.check() for _ in range(4)))
        await entra.apply(ALICE, reason="r", idempotency_key="k")
        await entra.revert(ALICE, reason="r", undo={})
        assert graph.login.token_requests == 1
        clock.now += 3599
        await entra.check()
    assert graph.login.token_requests == 2
    form = parse_qs(next(r for r in vendor.requests if r.path == TOKEN_PATH).body.decode())
    assert form["scope"] == ["https://graph.microsoft.com/.default"]
    assert form["grant_type"] == ["client_credentials"]


async def test_stale_token_on_the_patch_gets_one_new_token_and_one_retry() -> None:
    graph = fake.Graph()
    graph.revoke_tokens_on["PATCH"] = 1
    async with running(graph) as (vendor, entra):
        result = await entra.apply(ALICE, reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE
    assert graph.login.token_requests == 2 and sent(vendor, "PATCH") == 2 and len(graph.patches) == 1


async def test_429_on_the_patch_is_retried_once_after_retry_after() -> None:
    graph = fake.Graph(retry_after="0")
    graph.throttle["PATCH"] = 1
    async with running(graph) as (vendor, entra):
        result = await entra.apply(ALICE, reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE
    assert sent(vendor, "PATCH") == 2 and len(graph.patches) == 1


async def test_a_second_429_on_the_patch_gives_up() -> None:
    graph = fake.Graph(retry_after="0")
    graph.throttle["PATCH"] = 2
    async with running(graph) as (vendor, entra):
        with pytest.raises(ConnectorUnavailable, match="throttled"):
            await entra.apply(ALICE, reason="r", idempotency_key="k")
    assert sent(vendor, "PATCH") == 2 and graph.patches == [] and graph.revocations == []


async def test_a_long_retry_after_is_not_waited_for() -> None:
    graph = fake.Graph(retry_after="120")
    graph.throttle["PATCH"] = 1
    async with running(graph) as (vendor, entra):
        with pytest.raises(ConnectorUnavailable, match="throttled"):
            await entra.apply(ALICE, reason="r", idempotency_key="k")
    assert sent(vendor, "PATCH") == 1


async def test_503_on_the_patch_is_unavailable_after_exactly_one_patch() -> None:
    graph = fake.Graph()
    graph.fail["PATCH"] = 1
    async with running(graph) as (vendor, entra):
        with pytest.raises(ConnectorUnavailable, match="disable user 'alice@contoso.example'.*HTTP 503"):
            await entra.apply("alice@contoso.example", reason="r", idempotency_key="k")
    assert sent(vendor, "PATCH") == 1 and graph.patches == []


async def test_failed_revocation_says_the_account_is_disabled_and_apply_finishes_it() -> None:
    graph = fake.Graph()
    graph.fail["POST"] = 1
    async with running(graph) as (vendor, entra):
        with pytest.raises(ConnectorUnavailable, match="account disabled, but revoking its sessions failed"):
            await entra.apply(ALICE, reason="r", idempotency_key="k")
        assert sent(vendor, "POST") == 1  # the revoke POST was not retried either
        result = await entra.apply(ALICE, reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.ALREADY
    assert len(graph.patches) == 1 and graph.revocations == [ALICE]


async def test_429_on_the_read_is_retried_as_a_lookup() -> None:
    graph = fake.Graph(retry_after="0")
    graph.throttle["GET"] = 1
    async with running(graph) as (vendor, entra):
        result = await entra.apply(ALICE, reason="r", idempotency_key="k")
    assert result.outcome is ActionOutcome.DONE and sent(vendor, "GET") == 2


async def test_check() -> None:
    async with running(fake.Graph()) as (vendor, entra):
        assert await entra.check() == "app credentials accepted; users readable"


async def test_secrets_and_tokens_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wrong~Graph~Secret~abcdefghij"
    graph = fake.Graph(retry_after="0")
    caplog.set_level(logging.DEBUG)
    async with running(graph) as (vendor, good):
        graph.revoke_tokens_on["PATCH"] = 1
        graph.throttle["POST"] = 1
        await good.apply(ALICE, reason="r", idempotency_key="k")
        bad = connector(vendor.url, secret=wrong)
        try:
            with pytest.raises(ConnectorAuthError) as caught:
                await bad.check()
        finally:
            await bad.aclose()
    issued = [r.headers["Authorization"].removeprefix("Bearer ") for r in vendor.requests if r.path != TOKEN_PATH]
    assert issued and caplog.text
    for secret in (fake.GOOD_SECRET, wrong, *issued):
        assert secret not in caplog.text
        assert secret not in str(caught.value)


def test_build_and_settings() -> None:
    settings = Settings(tenant_id="t", client_id="c", client_secret=SecretStr("hidden-secret"))
    assert "hidden-secret" not in repr(settings)
    [entra] = build(settings)
    assert str(entra.http.client.base_url) == "https://graph.microsoft.com/v1.0/"
