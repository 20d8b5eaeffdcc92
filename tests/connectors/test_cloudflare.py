"""Cloudflare firewall containment against its fake: access rules, duplicate 10009, unblock, errors."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from bot.core.errors import ConfigError, ConnectorAuthError, ConnectorError, ConnectorUnavailable
from bot.core.ports import ActionOutcome, Containment, ContainmentKind
from bot.settings import validate
from connectors.cloudflare import CloudflareContainment, Settings, build, rule_target
from connectors.http import RetryPolicy
from tests.fakes import cloudflare as fake
from tests.fakes.server import serve

ACCOUNT = f"accounts/{fake.ACCOUNT_ID}"
RULES = f"/client/v4/{ACCOUNT}/firewall/access_rules/rules"


def connector(url: str, token: str = fake.GOOD_TOKEN, **scope: str) -> CloudflareContainment:
    scope = scope or {"account_id": fake.ACCOUNT_ID}
    settings = Settings(api_token=token, base_url=f"{url}/client/v4", **scope)  # type: ignore[arg-type]
    responder = CloudflareContainment(settings)
    responder.http.retry = RetryPolicy(attempts=3, base=0.01)
    return responder


async def test_apply_creates_one_rule_then_duplicate_is_already_with_its_id() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        assert isinstance(cf, Containment) and cf.capability is ContainmentKind.FIREWALL
        first = await cf.apply("198.51.100.4", reason="case 7", idempotency_key="key-1")
        second = await cf.apply("198.51.100.4", reason="case 7", idempotency_key="key-1")
        await cf.aclose()
    [rule_id] = state.scope_rules(ACCOUNT)
    assert first.outcome is ActionOutcome.DONE and second.outcome is ActionOutcome.ALREADY
    assert first.reference == second.reference == rule_id
    assert first.undo == second.undo == {"rule_id": rule_id}
    assert state.created == 1  # the second POST was refused as a duplicate and changed nothing
    post = vendor.requests[0]
    assert (post.method, post.path) == ("POST", RULES)
    assert json.loads(post.body) == {
        "mode": "block",
        "configuration": {"target": "ip", "value": "198.51.100.4"},
        "notes": "soarbot: case 7 [key-1]",
    }
    assert post.headers["Authorization"] == f"Bearer {fake.GOOD_TOKEN}"
    lookup = vendor.requests[2]
    assert (lookup.method, lookup.path) == ("GET", RULES)
    assert lookup.query["configuration.target"] == "ip" and lookup.query["configuration.value"] == "198.51.100.4"


async def test_duplicate_of_a_hand_made_block_rule_returns_that_rule() -> None:
    state = fake.State()
    state.add(ACCOUNT, "block", "ip", "203.0.113.9", "someone else")
    existing = state.add(ACCOUNT, "block", "ip", "203.0.113.5", "blocked by hand")
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        result = await cf.apply("203.0.113.5", reason="r", idempotency_key="k")
        await cf.aclose()
    assert result.outcome is ActionOutcome.ALREADY
    assert result.reference == existing and result.undo == {"rule_id": existing}
    assert state.created == 0


async def test_existing_allow_rule_is_not_taken_for_a_block() -> None:
    state = fake.State()
    state.add(ACCOUNT, "whitelist", "ip", "203.0.113.5", "partner")
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        with pytest.raises(ConnectorError, match="whitelist"):
            await cf.apply("203.0.113.5", reason="r", idempotency_key="k")
        await cf.aclose()
    assert [r["mode"] for r in state.scope_rules(ACCOUNT).values()] == ["whitelist"]


async def test_revert_deletes_exactly_the_rule_from_undo_then_is_already() -> None:
    state = fake.State()
    other = state.add(ACCOUNT, "block", "ip", "203.0.113.9", "")
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        applied = await cf.apply("198.51.100.4", reason="r", idempotency_key="k")
        first = await cf.revert("198.51.100.4", reason="fp", undo=applied.undo)
        second = await cf.revert("198.51.100.4", reason="fp", undo=applied.undo)
        await cf.aclose()
    assert first.outcome is ActionOutcome.DONE and first.reference == applied.reference
    assert second.outcome is ActionOutcome.ALREADY
    assert list(state.scope_rules(ACCOUNT)) == [other]
    deletes = [r.path for r in vendor.requests if r.method == "DELETE"]
    assert deletes == [f"{RULES}/{applied.reference}"] * 2


async def test_revert_without_undo_finds_the_block_rule_by_ip() -> None:
    state = fake.State()
    keep = state.add(ACCOUNT, "block", "ip", "203.0.113.9", "")
    target = state.add(ACCOUNT, "block", "ip6", "2001:db8::1", "")
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        result = await cf.revert("2001:DB8:0::1", reason="fp", undo={})
        again = await cf.revert("2001:db8::1", reason="fp", undo={})
        await cf.aclose()
    assert result.outcome is ActionOutcome.DONE and result.reference == target
    assert again.outcome is ActionOutcome.ALREADY
    assert list(state.scope_rules(ACCOUNT)) == [keep]
    assert state.deletes == 1


async def test_revert_leaves_an_allow_rule_alone() -> None:
    state = fake.State()
    state.add(ACCOUNT, "whitelist", "ip", "203.0.113.5", "")
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        result = await cf.revert("203.0.113.5", reason="fp", undo={})
        await cf.aclose()
    assert result.outcome is ActionOutcome.ALREADY and state.deletes == 0


async def test_delete_refused_for_a_missing_rule_is_already_after_rereading() -> None:
    state = fake.State(missing_delete_status=400)
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        result = await cf.revert("203.0.113.5", reason="fp", undo={"rule_id": "0" * 32})
        await cf.aclose()
    assert result.outcome is ActionOutcome.ALREADY
    assert [r.method for r in vendor.requests] == ["DELETE", "GET"]


async def test_zone_scope_and_ranges() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url, zone_id=fake.ZONE_ID)
        await cf.apply("203.0.113.0/24", reason="r", idempotency_key="k")
        await cf.apply("2001:db8:1::/48", reason="r", idempotency_key="k")
        with pytest.raises(ConnectorError, match="/16, /24"):
            await cf.apply("203.0.112.0/20", reason="r", idempotency_key="k")
        await cf.aclose()
    rules = state.scope_rules(f"zones/{fake.ZONE_ID}").values()
    assert sorted(r["configuration"]["value"] for r in rules) == ["2001:db8:1::/48", "203.0.113.0/24"]
    assert {r["configuration"]["target"] for r in rules} == {"ip_range"}
    assert all(r.path.startswith(f"/client/v4/zones/{fake.ZONE_ID}/") for r in vendor.requests)
    assert len(vendor.requests) == 2  # the /20 was refused before any call


def test_rule_target() -> None:
    assert rule_target("198.51.100.4") == ("ip", "198.51.100.4")
    assert rule_target("2001:DB8:0:0::1") == ("ip6", "2001:db8::1")
    assert rule_target("198.51.100.4/32") == ("ip", "198.51.100.4")
    assert rule_target("10.1.0.0/16") == ("ip_range", "10.1.0.0/16")
    assert rule_target("2001:db8::/64") == ("ip_range", "2001:db8::/64")
    for bad in ("example.com", "10.1.2.0/23", "10.1.2.3/24", "2001:db8::/56"):
        with pytest.raises(ConnectorError):
            rule_target(bad)


async def test_500_on_create_is_unavailable_after_exactly_one_call() -> None:
    state = fake.State(fail_create=5)
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        with pytest.raises(ConnectorUnavailable):
            await cf.apply("198.51.100.4", reason="r", idempotency_key="k")
        await cf.aclose()
    assert state.creates == 1 and len(vendor.requests) == 1


async def test_429_on_create_is_not_retried_but_a_lookup_is() -> None:
    state = fake.State(rate_limit_first=1)
    state.add(ACCOUNT, "block", "ip", "203.0.113.5", "")
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        with pytest.raises(ConnectorUnavailable, match="429"):
            await cf.apply("198.51.100.4", reason="r", idempotency_key="k")
        assert len(vendor.requests) == 1
        state.rate_limit_first = 1
        result = await cf.revert("203.0.113.5", reason="fp", undo={})
        await cf.aclose()
    assert result.outcome is ActionOutcome.DONE
    assert [r.method for r in vendor.requests] == ["POST", "GET", "GET", "DELETE"]


@pytest.mark.parametrize("status", [403, 400])
async def test_wrong_token_is_an_auth_error_and_never_leaks(status: int, caplog: pytest.LogCaptureFixture) -> None:
    secret = "cf-wrong-token-abcdef987654321"
    caplog.set_level(logging.DEBUG)
    async with serve(fake.app(fake.State(auth_status=status))) as vendor:
        cf = connector(vendor.url, token=secret)
        with pytest.raises(ConnectorAuthError) as caught:
            await cf.apply("198.51.100.4", reason="r", idempotency_key="k")
        await cf.aclose()
    assert len(vendor.requests) == 1
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert secret not in text


async def test_check_counts_rules() -> None:
    state = fake.State()
    state.add(ACCOUNT, "block", "ip", "203.0.113.5", "")
    async with serve(fake.app(state)) as vendor:
        cf = connector(vendor.url)
        assert "1 access rules" in await cf.check()
        await cf.aclose()


async def test_settings_need_exactly_one_scope() -> None:
    for scope in ({}, {"account_id": "a", "zone_id": "z"}):
        with pytest.raises(ValidationError, match="exactly one of account_id"):
            Settings(api_token="t", **scope)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        validate({"connectors": {"cloudflare": {"api_token": "t", "account_id": "a", "zone_id": "z"}}})
    assert any(p.startswith("connectors.cloudflare: set exactly one") for p in caught.value.problems)
    with pytest.raises(ValidationError, match="mode"):
        Settings(api_token="t", account_id="a", mode="whitelist")  # type: ignore[arg-type]
    [built] = build(Settings(api_token="t", zone_id="z"))  # type: ignore[arg-type]
    assert str(built.http.client.base_url) == "https://api.cloudflare.com/client/v4/"
    assert built.client.rules_path == "/zones/z/firewall/access_rules/rules"
    await built.aclose()
