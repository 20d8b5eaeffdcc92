"""OAuth2 client-credentials bearer tokens for connectors (RFC 6749 §4.4), shared by CrowdStrike and Microsoft.

``ClientCredentials`` owns one connector's access token and sends that connector's authorised calls:

- the token is cached until shortly before ``expires_in`` runs out, then fetched again; concurrent callers
  that find it missing wait on one ``asyncio.Lock`` so only one of them asks the token endpoint;
- a 401 on an API call drops that token, fetches a new one and repeats the call **exactly once**. This is safe
  even for containment calls: a 401 means the vendor rejected the request before doing anything;
- optionally (``retry_throttled=True``) a 429 on a call made with ``retry=False`` is waited out per
  ``Retry-After`` and repeated once, for vendors that document 429 as "throttled, not performed".

It installs one response hook on the connector's ``httpx.AsyncClient`` that turns 401/403 into
``CredentialsRejected`` (with the status and the vendor's own error text) before ``VendorHttp`` maps them to a
bare ``ConnectorAuthError``, so the retry above can tell 401 from 403 without reading message text. The client
secret is scrubbed from every message this module builds; tokens never appear in messages or logs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorNotFound, ConnectorUnavailable
from connectors.http import VendorHttp, json_body, retry_after

logger = logging.getLogger(__name__)

REFRESH_MARGIN = 60.0
"""Seconds before ``expires_in`` runs out at which a cached token counts as expired (at most half its life)."""
MAX_THROTTLE_WAIT = 30.0
"""Longest ``Retry-After`` worth waiting for inside one action; longer ones fail as ConnectorUnavailable."""
DEFAULT_LIFETIME = 300.0
"""Lifetime assumed when a token answer has no usable ``expires_in``."""

_SEE_THROTTLING = "soarbot.see_throttling"  # request extension: this call wants its 429 raised as Throttled

ErrorText = Callable[[Any], str | None]
"""Pulls the vendor's error text out of a parsed JSON error body (``None`` when there is none)."""


class CredentialsRejected(ConnectorAuthError):
    """The vendor answered 401 or 403; ``status`` says which and ``detail`` is the vendor's own text."""

    def __init__(self, message: str, *, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class Throttled(ConnectorUnavailable):
    """The vendor answered 429 to a call that asked to see it; nothing was performed."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and the ``clock()`` time after which it is no longer used."""

    value: str = field(repr=False)
    expires_at: float


class ClientCredentials:
    """One connector's client-credentials token, and the authorised way to call its API."""

    def __init__(
        self,
        http: VendorHttp,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        form: Mapping[str, str] | None = None,
        error_text: ErrorText,
        retry_throttled: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Attach to ``http``; ``form`` adds fields to the token request (``grant_type``, ``scope``, ...)."""
        self.http = http
        self.clock = clock
        self.retry_throttled = retry_throttled
        self.max_throttle_wait = MAX_THROTTLE_WAIT
        self._token_url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._form = dict(form or {})
        self._error_text = error_text
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        hooks = http.client.event_hooks
        http.client.event_hooks = {"request": hooks["request"], "response": [*hooks["response"], self._inspect]}

    async def token(self) -> str:
        """A valid access token: the cached one, or a new one fetched by exactly one of the waiting callers."""
        cached = self._token
        if cached is not None and self.clock() < cached.expires_at:
            return cached.value
        async with self._lock:
            cached = self._token
            if cached is not None and self.clock() < cached.expires_at:
                return cached.value  # another caller refreshed it while we waited
            self._token = await self._fetch()
            return self._token.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (a newer token fetched meanwhile is kept)."""
        if self._token is not None and self._token.value == token:
            self._token = None

    async def request(self, method: str, url: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        """Send one authorised call through ``VendorHttp`` (``retry=False`` for state changes).

        On a 401 the token is replaced and the call repeated once; a second 401 raises ``CredentialsRejected``.
        """
        token = await self.token()
        try:
            return await self._send(method, url, token, retry=retry, **kwargs)
        except CredentialsRejected as err:
            if err.status != 401:
                raise
            # The vendor refused the token before doing anything, so repeating the call cannot act twice.
            logger.info("%s: access token rejected (HTTP 401); fetching a new one and retrying once", self.http.name)
        self.invalidate(token)
        return await self._send(method, url, await self.token(), retry=retry, **kwargs)

    async def _send(self, method: str, url: str, token: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
        if retry or not self.retry_throttled:
            return await self.http.request(method, url, retry=retry, headers=headers, **kwargs)
        see = {_SEE_THROTTLING: True}
        try:
            return await self.http.request(method, url, retry=False, headers=headers, extensions=see, **kwargs)
        except Throttled as err:
            if err.retry_after > self.max_throttle_wait:
                raise
            logger.info("%s: throttled (429, nothing done); retrying once in %.1fs", self.http.name, err.retry_after)
            await asyncio.sleep(err.retry_after)
        return await self.http.request(method, url, retry=False, headers=headers, extensions=see, **kwargs)

    async def _fetch(self) -> AccessToken:
        name = self.http.name
        form = {**self._form, "client_id": self._client_id, "client_secret": self._secret.get_secret_value()}
        try:
            # Asking for a token changes nothing, so VendorHttp may retry it like a lookup.
            response = await self.http.request("POST", self._token_url, data=form)
        except CredentialsRejected as err:
            raise ConnectorAuthError(f"{name}: token request rejected (HTTP {err.status}): {err.detail}") from err
        if response.status_code == 400:  # RFC 6749 §5.2: invalid_client, unauthorized_client, invalid_scope, ...
            detail = self._scrub(self._describe(response))
            raise ConnectorAuthError(f"{name}: token request rejected (HTTP 400): {detail}")
        if response.status_code not in (200, 201):
            raise ConnectorUnavailable(f"{name}: token request failed (HTTP {response.status_code})")
        body = json_body(response)
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise ConnectorUnavailable(f"{name}: token answer without an access_token")
        lifetime = _seconds(body.get("expires_in"))
        logger.debug("%s: new access token, valid %.0fs", name, lifetime)
        return AccessToken(value, self.clock() + lifetime - min(REFRESH_MARGIN, lifetime / 2))

    async def _inspect(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            await response.aread()
            detail = self._scrub(self._describe(response))
            raise CredentialsRejected(f"{self.http.name}: HTTP {status}: {detail}", status=status, detail=detail)
        if status == 429 and response.request.extensions.get(_SEE_THROTTLING):
            wait = retry_after(response, 1.0)
            raise Throttled(f"{self.http.name}: throttled (429); nothing was done", retry_after=wait)

    def _describe(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return "no error details"
        text = _oauth_error(body) or self._error_text(body)
        return text[:300] if text else "no error details"

    def _scrub(self, text: str) -> str:
        secret = self._secret.get_secret_value()
        return text.replace(secret, "[redacted]") if secret else text


def in_context(vendor: str, what: str, err: ConnectorError) -> ConnectorError:
    """The same kind of error as ``err``, its message prefixed with the vendor and what was being done."""
    message = str(err).removeprefix(f"{vendor}: ")
    for kind in (ConnectorAuthError, ConnectorUnavailable, ConnectorNotFound):
        if isinstance(err, kind):
            return kind(f"{vendor}: {what}: {message}")
    return ConnectorError(f"{vendor}: {what}: {message}")


def _oauth_error(body: Any) -> str | None:
    """RFC 6749 §5.2 ``{"error": "invalid_client", "error_description": "..."}``, as one line."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        first_line = str(description).splitlines()[0] if description else ""
        return f"{body['error']}: {first_line}" if first_line else str(body["error"])
    return None


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME
    return seconds if seconds > 0 else DEFAULT_LIFETIME
