"""The shared client-credentials token cache, against an httpx.MockTransport vendor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from pydantic import SecretStr

from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorNotFound, ConnectorUnavailable
from connectors.http import RetryPolicy, VendorHttp, make_client
from connectors.oauth import AccessToken, ClientCredentials, CredentialsRejected, in_context

SECRET = "very-secret-client-secret"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Vendor:
    """A token endpoint at /token and an API at /api; ``api`` answers are queued, default 200."""

    def __init__(self, token_answer: Callable[[int], httpx.Response] | None = None) -> None:
        self.token_calls = 0
        self.api_calls: list[httpx.Request] = []
        self.api_answers: list[httpx.Response] = []
        self._token_answer = token_answer

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            self.token_calls += 1
            await asyncio.sleep(0.01)
            if self._token_answer is not None:
                return self._token_answer(self.token_calls)
            return httpx.Response(200, json={"access_token": f"token-{self.token_calls}", "expires_in": 3600})
        self.api_calls.append(request)
        return self.api_answers.pop(0) if self.api_answers else httpx.Response(200, json={"ok": True})

    def tokens_used(self) -> list[str]:
        return [r.headers["Authorization"] for r in self.api_calls]


_open: list[httpx.AsyncClient] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().aclose()


def credentials(vendor: Vendor, *, retry_throttled: bool = False, clock: Clock | None = None) -> ClientCredentials:
    client = make_client("https://vendor.test", transport=httpx.MockTransport(vendor))
    _open.append(client)
    http = VendorHttp("vendor", client, retry=RetryPolicy(attempts=3, base=0.001))
    return ClientCredentials(
        http,
        token_url="/token",
        client_id="client-1",
        client_secret=SecretStr(SECRET),
        form={"grant_type": "client_credentials"},
        error_text=lambda body: body.get("message") if isinstance(body, dict) else None,
        retry_throttled=retry_throttled,
        clock=clock or Clock(),
    )


async def test_concurrent_callers_fetch_one_token() -> None:
    vendor = Vendor()
    auth = credentials(vendor)
    tokens = await asyncio.gather(*(auth.token() for _ in range(10)))
    assert set(tokens) == {"token-1"} and vendor.token_calls == 1


async def test_token_form_and_bearer_header() -> None:
    seen: list[httpx.Request] = []
    vendor = Vendor()

    async def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await vendor(request)

    client = make_client("https://vendor.test", transport=httpx.MockTransport(spy))
    auth = ClientCredentials(
        VendorHttp("vendor", client),
        token_url="https://login.test/tenant/token",
        client_id="client-1",
        client_secret=SecretStr(SECRET),
        form={"scope": "api/.default"},
        error_text=lambda body: None,
    )
    await auth.request("GET", "/api/thing", retry=True)
    token_request, api_request = seen
    assert str(token_request.url) == "https://login.test/tenant/token"  # absolute URL overrides the base
    assert token_request.content.decode() == f"scope=api%2F.default&client_id=client-1&client_secret={SECRET}"
    assert "Authorization" not in token_request.headers
    assert api_request.headers["Authorization"] == "Bearer token-1"
    await client.aclose()


async def test_refresh_shortly_before_expiry() -> None:
    clock = Clock()
    vendor = Vendor()
    auth = credentials(vendor, clock=clock)
    assert await auth.token() == "token-1"
    clock.now = 3539
    assert await auth.token() == "token-1"
    clock.now = 3541  # within REFRESH_MARGIN (60 s) of the vendor's expiry
    assert await auth.token() == "token-2"


@pytest.mark.parametrize(("expires_in", "lifetime"), [(10, 5.0), ("3599", 3539.0), (None, 240.0), (-5, 240.0)])
async def test_lifetime_from_expires_in(expires_in: object, lifetime: float) -> None:
    clock = Clock()
    body = {"access_token": "t"} if expires_in is None else {"access_token": "t", "expires_in": expires_in}
    vendor = Vendor(lambda n: httpx.Response(201, json=body))
    auth = credentials(vendor, clock=clock)
    await auth.token()
    assert auth._token is not None and auth._token.expires_at == pytest.approx(lifetime)


async def test_invalidate_only_drops_the_stale_token() -> None:
    vendor = Vendor()
    auth = credentials(vendor)
    stale = await auth.token()
    auth.invalidate(stale)
    fresh = await auth.token()
    auth.invalidate(stale)  # a second caller holding the same stale token
    assert await auth.token() == fresh == "token-2" and vendor.token_calls == 2


async def test_401_gets_one_new_token_and_one_retry() -> None:
    vendor = Vendor()
    vendor.api_answers = [httpx.Response(401, json={"message": "token expired"})]
    auth = credentials(vendor)
    response = await auth.request("POST", "/api/act", retry=False, json={"x": 1})
    assert response.status_code == 200
    assert vendor.tokens_used() == ["Bearer token-1", "Bearer token-2"]


async def test_second_401_is_raised_with_the_vendor_text() -> None:
    vendor = Vendor()
    vendor.api_answers = [httpx.Response(401, json={"message": "nope"}) for _ in range(3)]
    auth = credentials(vendor)
    with pytest.raises(CredentialsRejected, match="vendor: HTTP 401: nope") as caught:
        await auth.request("POST", "/api/act", retry=False)
    assert caught.value.status == 401 and len(vendor.api_calls) == 2 and vendor.token_calls == 2


async def test_403_is_not_retried() -> None:
    vendor = Vendor()
    vendor.api_answers = [httpx.Response(403, json={"message": "missing permission Machine.Isolate"})]
    auth = credentials(vendor)
    with pytest.raises(ConnectorAuthError, match="Machine.Isolate"):
        await auth.request("POST", "/api/act", retry=False)
    assert len(vendor.api_calls) == 1 and vendor.token_calls == 1


async def test_rejected_credentials_name_the_vendor_error_and_never_the_secret() -> None:
    echo = {"error": "invalid_client", "error_description": f"AADSTS7000215: bad secret {SECRET}\r\nTrace ID: 1"}
    vendor = Vendor(lambda n: httpx.Response(401, json=echo))
    auth = credentials(vendor)
    with pytest.raises(ConnectorAuthError) as caught:
        await auth.request("GET", "/api/thing", retry=True)
    message = str(caught.value)
    assert message == "vendor: token request rejected (HTTP 401): invalid_client: AADSTS7000215: bad secret [redacted]"
    assert vendor.token_calls == 1 and vendor.api_calls == []


async def test_400_from_the_token_endpoint_is_an_auth_error() -> None:
    body = {"error": "invalid_scope", "error_description": "AADSTS1002012: scope is not valid"}
    vendor = Vendor(lambda n: httpx.Response(400, json=body))
    auth = credentials(vendor)
    with pytest.raises(ConnectorAuthError, match="HTTP 400.*invalid_scope: AADSTS1002012"):
        await auth.token()


async def test_token_endpoint_5xx_is_retried_like_a_lookup() -> None:
    vendor = Vendor(
        lambda n: httpx.Response(503) if n == 1 else httpx.Response(200, json={"access_token": "t", "expires_in": 60})
    )
    auth = credentials(vendor)
    assert await auth.token() == "t" and vendor.token_calls == 2


async def test_token_answer_without_a_token_is_unavailable() -> None:
    vendor = Vendor(lambda n: httpx.Response(200, json={"token_type": "bearer"}))
    auth = credentials(vendor)
    with pytest.raises(ConnectorUnavailable, match="without an access_token"):
        await auth.token()


async def test_throttled_state_change_is_repeated_once_when_enabled() -> None:
    vendor = Vendor()
    vendor.api_answers = [httpx.Response(429, headers={"Retry-After": "0"})]
    auth = credentials(vendor, retry_throttled=True)
    assert (await auth.request("PATCH", "/api/user", retry=False)).status_code == 200
    assert len(vendor.api_calls) == 2


async def test_throttled_state_change_is_not_repeated_when_disabled() -> None:
    vendor = Vendor()
    vendor.api_answers = [httpx.Response(429, headers={"Retry-After": "0"})]
    auth = credentials(vendor, retry_throttled=False)
    with pytest.raises(ConnectorUnavailable, match="429"):
        await auth.request("PATCH", "/api/user", retry=False)
    assert len(vendor.api_calls) == 1


async def test_throttled_twice_or_for_too_long_gives_up() -> None:
    vendor = Vendor()
    vendor.api_answers = [httpx.Response(429, headers={"Retry-After": "0"}) for _ in range(2)]
    auth = credentials(vendor, retry_throttled=True)
    with pytest.raises(ConnectorUnavailable, match="throttled"):
        await auth.request("POST", "/api/act", retry=False)
    assert len(vendor.api_calls) == 2
    vendor.api_answers = [httpx.Response(429, headers={"Retry-After": "3600"})]
    with pytest.raises(ConnectorUnavailable, match="throttled"):
        await auth.request("POST", "/api/act", retry=False)
    assert len(vendor.api_calls) == 3


async def test_throttled_lookup_keeps_vendorhttp_retries() -> None:
    vendor = Vendor()
    vendor.api_answers = [httpx.Response(429, headers={"Retry-After": "0"}) for _ in range(2)]
    auth = credentials(vendor, retry_throttled=True)
    assert (await auth.request("GET", "/api/thing", retry=True)).status_code == 200
    assert len(vendor.api_calls) == 3


def test_in_context_keeps_the_kind_and_drops_the_repeated_vendor_name() -> None:
    for kind in (ConnectorAuthError, ConnectorUnavailable, ConnectorNotFound, ConnectorError):
        err = in_context("vendor", "contain host 'a'", kind("vendor: HTTP 500"))
        assert type(err) is kind and str(err) == "vendor: contain host 'a': HTTP 500"
    rejected = CredentialsRejected("vendor: HTTP 401: x", status=401, detail="x")
    assert type(in_context("vendor", "do", rejected)) is ConnectorAuthError


def test_token_repr_hides_the_token() -> None:
    assert "abc123" not in repr(AccessToken("abc123", 1.0))
