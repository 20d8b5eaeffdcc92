"""Okta identity containment against its fake: suspend + clear sessions, unsuspend, errors, quota headers."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
from pydantic import ValidationError

from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorNotFound, ConnectorUnavailable
from bot.core.ports import ActionOutcome, Containment, ContainmentKind
from connectors.http import RetryPolicy
from connectors.okta import OktaContainment, Settings, build
from connectors.okta.client import OktaUser
from tests.fakes import okta as fake
from tests.fakes.server import serve


def connector(url: str, token: str = fake.GOOD_TOKEN) -> OktaContainment:
    responder = OktaContainment(Settings(api_token=token, base_url=url))  # type: ignore[arg-type]
    responder.http.retry = RetryPolicy(attempts=3, base=0.01)
    return responder


async def test_apply_suspends_once_and_clears_sessions_every_time() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        assert isinstance(okta, Containment) and okta.capability is ContainmentKind.IDENTITY
        first = await okta.apply("jdoe@example.com", reason="case 7", idempotency_key="k1")
        state.sessions["00u1jdoe"] = 3  # the user signed in again somewhere before the retry
        second = await okta.apply("jdoe@example.com", reason="case 7", idempotency_key="k1")
        await okta.aclose()
    assert first.outcome is ActionOutcome.DONE and second.outcome is ActionOutcome.ALREADY
    assert first.reference == second.reference == "00u1jdoe"
    assert first.undo == {"user_id": "00u1jdoe"}
    assert state.suspends == 1  # exactly one state-changing lifecycle call
    assert state.status("00u1jdoe") == "SUSPENDED"
    assert state.session_clears == 2 and state.sessions["00u1jdoe"] == 0
    get, suspend, clear = vendor.requests[:3]
    assert (get.method, get.path) == ("GET", "/api/v1/users/jdoe@example.com")
    assert (suspend.method, suspend.path) == ("POST", "/api/v1/users/00u1jdoe/lifecycle/suspend")
    assert (clear.method, clear.path, clear.query) == (
        "DELETE",
        "/api/v1/users/00u1jdoe/sessions",
        {"oauthTokens": "true"},
    )
    assert all(r.headers["Authorization"] == f"SSWS {fake.GOOD_TOKEN}" for r in vendor.requests)


async def test_login_is_url_encoded_as_one_path_segment() -> None:
    state = fake.State()
    state.users["00u9odd"] = {**state.users["00u1jdoe"], "id": "00u9odd", "profile": {"login": "o/d?d#x@example.com"}}
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        user = await okta.client.get_user("o/d?d#x@example.com")
        await okta.aclose()
    assert user.id == "00u9odd"


async def test_revert_unsuspends_then_is_already() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        first = await okta.revert("held@example.com", reason="false positive", undo={"user_id": "00u2held"})
        second = await okta.revert("held@example.com", reason="false positive", undo={})
        await okta.aclose()
    assert first.outcome is ActionOutcome.DONE and second.outcome is ActionOutcome.ALREADY
    assert state.unsuspends == 1 and state.status("00u2held") == "ACTIVE"
    assert vendor.requests[0].path == "/api/v1/users/00u2held"  # undo's id wins over the login
    assert vendor.requests[1].path == "/api/v1/users/00u2held/lifecycle/unsuspend"


async def test_already_suspended_user_is_already_and_sessions_cleared() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        result = await okta.apply("held@example.com", reason="r", idempotency_key="k")
        await okta.aclose()
    assert result.outcome is ActionOutcome.ALREADY
    assert state.suspends == 0 and state.session_clears == 1 and state.sessions["00u2held"] == 0


async def test_unknown_user_is_not_found() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        with pytest.raises(ConnectorNotFound, match="no such user") as caught:
            await okta.apply("nobody@example.com", reason="r", idempotency_key="k")
        await okta.aclose()
    assert "E0000007" in str(caught.value)
    assert state.suspends == 0 and state.session_clears == 0


async def test_user_that_cannot_be_suspended_is_an_error_naming_its_status() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        with pytest.raises(ConnectorError, match="DEPROVISIONED") as caught:
            await okta.apply("gone@example.com", reason="r", idempotency_key="k")
        await okta.aclose()
    assert "E0000001" in str(caught.value) and "not active" in str(caught.value)
    assert state.suspends == 1 and state.session_clears == 0


async def test_suspended_in_between_maps_e0000001_to_already() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        real = okta.client.get_user
        calls = 0

        async def stale_first(user: str) -> OktaUser:
            nonlocal calls
            calls += 1
            found = await real(user)
            return OktaUser(found.id, found.login, "ACTIVE") if calls == 1 else found

        okta.client.get_user = stale_first  # type: ignore[method-assign]
        result = await okta.apply("held@example.com", reason="r", idempotency_key="k")
        await okta.aclose()
    assert result.outcome is ActionOutcome.ALREADY
    assert state.suspends == 1 and state.session_clears == 1


async def test_500_on_suspend_is_unavailable_after_exactly_one_call() -> None:
    state = fake.State(fail_suspend=5)
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        with pytest.raises(ConnectorUnavailable):
            await okta.apply("jdoe@example.com", reason="r", idempotency_key="k")
        await okta.aclose()
    assert state.suspends == 1
    assert [r.path for r in vendor.requests if r.method == "POST"] == ["/api/v1/users/00u1jdoe/lifecycle/suspend"]
    assert state.session_clears == 0


async def test_429_on_a_read_is_retried_and_quota_comes_from_hyphenated_headers() -> None:
    state = fake.State(rate_limit_first=1)
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        result = await okta.apply("jdoe@example.com", reason="r", idempotency_key="k")
        quota = okta.http.quota
        await okta.aclose()
    assert result.outcome is ActionOutcome.DONE
    assert vendor.paths()[:2] == ["/api/v1/users/jdoe@example.com"] * 2
    assert quota.limit == fake.RATE_LIMIT and quota.remaining is not None and quota.remaining < fake.RATE_LIMIT


async def test_429_on_suspend_is_not_retried() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        okta = connector(vendor.url)
        user = await okta.client.get_user("jdoe@example.com")
        state.rate_limit_first = 1
        with pytest.raises(ConnectorUnavailable, match="429"):
            await okta.client.suspend(user.id)
        await okta.aclose()
    assert len(vendor.requests) == 2 and state.status("00u1jdoe") == "ACTIVE"


async def test_wrong_token_is_an_auth_error_and_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    secret = "00wrong-okta-token-987654321"
    caplog.set_level(logging.DEBUG)
    async with serve(fake.app()) as vendor:
        okta = connector(vendor.url, token=secret)
        with pytest.raises(ConnectorAuthError) as caught:
            await okta.apply("jdoe@example.com", reason="r", idempotency_key="k")
        good = connector(vendor.url)
        await good.apply("jdoe@example.com", reason="r", idempotency_key="k")
        await okta.aclose()
        await good.aclose()
    assert len([r for r in vendor.requests if r.headers["Authorization"] == f"SSWS {secret}"]) == 1
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert secret not in text and fake.GOOD_TOKEN not in text


async def test_check_names_the_token_user() -> None:
    async with serve(fake.app()) as vendor:
        okta = connector(vendor.url)
        assert "admin@example.com" in await okta.check()
        await okta.aclose()
    assert vendor.paths() == ["/api/v1/users/me"]


async def test_settings_need_an_https_org_url_and_a_token() -> None:
    with pytest.raises(ValidationError, match="org_url is required"):
        Settings(api_token="t")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="https://"):
        Settings(api_token="t", org_url="http://example.okta.com")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="api_token"):
        Settings(org_url="https://example.okta.com")  # type: ignore[call-arg]
    settings = Settings(api_token="t", org_url="https://example.okta.com")  # type: ignore[arg-type]
    [built] = build(settings)
    assert isinstance(built, OktaContainment)
    assert built.http.client.base_url.host == "example.okta.com"
    await built.aclose()


async def test_429_waits_until_okta_reset_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Okta sends no Retry-After; the wait comes from X-Rate-Limit-Reset."""
    answers = [
        httpx.Response(
            429,
            json={"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests."},
            headers={
                "X-Rate-Limit-Limit": "600",
                "X-Rate-Limit-Remaining": "0",
                "X-Rate-Limit-Reset": str(int(time.time()) + 30),
            },
        ),
        httpx.Response(200, json={"id": "00u1", "status": "ACTIVE", "profile": {"login": "a@example.com"}}),
    ]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    settings = Settings(api_token="t", org_url="https://example.okta.com")  # type: ignore[arg-type]
    okta = OktaContainment(settings, transport=httpx.MockTransport(lambda request: answers.pop(0)))
    user = await okta.client.get_user("a@example.com")
    await okta.aclose()
    assert user.id == "00u1"
    assert len(slept) == 1 and 28 <= slept[0] <= 30


async def test_the_name_me_is_refused_before_any_call() -> None:

    async with serve(fake.app()) as vendor:
        okta = connector(vendor.url)
        for target in ("me", " ME "):
            with pytest.raises(ConnectorError, match="refusing to act on 'me'"):
                await okta.apply(target, reason="r", idempotency_key="k")
        await okta.aclose()
    assert vendor.requests == []
