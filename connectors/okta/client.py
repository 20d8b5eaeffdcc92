"""Okta Users API v1: read a user, suspend / unsuspend it and clear its sessions.

Auth is ``Authorization: SSWS <api token>``. ``{id}`` in a path may be the user id or the (URL-encoded) login.
Errors come as ``{"errorCode": "E0000007", "errorSummary": "...", "errorCauses": [...]}``; ``E0000007`` is
"not found" and ``E0000001`` a validation error, which the lifecycle endpoints answer when the user is not in a
state the operation applies to (suspend: ACTIVE users only; unsuspend: SUSPENDED users only).

Okta reports its rate limits in ``X-Rate-Limit-Limit/-Remaining/-Reset`` (hyphenated, reset as epoch seconds)
and sends no ``Retry-After``. A response hook records the quota from those headers and, on a 429, adds the
``Retry-After`` that :class:`~connectors.http.VendorHttp` honours, derived from the reset time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bot.core.errors import ConnectorError, ConnectorNotFound, ConnectorUnavailable
from connectors.http import VendorHttp, json_body

logger = logging.getLogger(__name__)

NOT_FOUND = "E0000007"
VALIDATION = "E0000001"


@dataclass(frozen=True, slots=True)
class OktaUser:
    """The parts of an Okta user soarbot uses."""

    id: str
    login: str
    status: str  # ACTIVE, SUSPENDED, DEPROVISIONED, STAGED, PROVISIONED, RECOVERY, LOCKED_OUT, PASSWORD_EXPIRED


@dataclass(frozen=True, slots=True)
class OktaApiError:
    """An Okta error body."""

    status: int
    code: str
    summary: str

    def describe(self) -> str:
        """``E0000001 Api validation failed: ...`` (no secrets: Okta never echoes the token)."""
        return f"{self.code or f'HTTP {self.status}'} {self.summary}".strip()


class OktaStateError(ConnectorError):
    """A lifecycle call was refused because the user is not in the state it applies to (``E0000001``)."""

    def __init__(self, error: OktaApiError) -> None:
        super().__init__(f"okta: {error.describe()}")
        self.error = error


class OktaClient:
    """Typed access to the endpoints soarbot calls."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http
        http.client.event_hooks["response"].append(self._rate_limit_headers)

    async def _rate_limit_headers(self, response: httpx.Response) -> None:
        """Record Okta's hyphenated quota headers and turn its reset time into ``Retry-After`` on a 429."""
        headers = response.headers
        remaining = headers.get("X-Rate-Limit-Remaining")
        if remaining is None:
            return
        quota = self.http.quota
        quota.remaining = _int(remaining)
        quota.limit = _int(headers.get("X-Rate-Limit-Limit"))
        quota.reset = headers.get("X-Rate-Limit-Reset")
        quota.updated = time.time()
        reset = _int(quota.reset)
        if response.status_code == 429 and "Retry-After" not in headers and reset is not None:
            headers["Retry-After"] = str(max(0, reset - int(time.time())))
        if quota.remaining == 0:
            logger.warning("okta quota spent (limit %s); next reset %s", quota.limit, quota.reset)

    async def get_user(self, user: str) -> OktaUser:
        """Read one user by id or login (unknown → ConnectorNotFound)."""
        response = await self.http.request("GET", f"/api/v1/users/{_segment(user)}")
        if response.status_code == 404:
            raise ConnectorNotFound(f"okta: no such user {user!r} ({_error(response).describe()})")
        _raise_for_status(response, f"reading user {user!r}")
        body = json_body(response)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ConnectorUnavailable("okta: user answer without an id")
        profile = body.get("profile")
        if not isinstance(profile, dict):
            profile = {}
        return OktaUser(id=body["id"], login=str(profile.get("login") or user), status=str(body.get("status", "")))

    async def me(self) -> OktaUser:
        """The user the API token acts as."""
        return await self.get_user("me")

    async def suspend(self, user_id: str) -> None:
        """Suspend an ACTIVE user; never retried (raises OktaStateError for a user in another state)."""
        await self._lifecycle(user_id, "suspend")

    async def unsuspend(self, user_id: str) -> None:
        """Return a SUSPENDED user to ACTIVE; never retried (raises OktaStateError otherwise)."""
        await self._lifecycle(user_id, "unsuspend")

    async def clear_sessions(self, user_id: str, *, oauth_tokens: bool = True) -> None:
        """End every session of the user (and revoke its OAuth tokens); 204 on success."""
        response = await self.http.request(
            "DELETE",
            f"/api/v1/users/{_segment(user_id)}/sessions",
            params={"oauthTokens": "true" if oauth_tokens else "false"},
            retry=False,
        )
        _raise_for_status(response, "clearing sessions")

    async def _lifecycle(self, user_id: str, operation: str) -> None:
        response = await self.http.request(
            "POST", f"/api/v1/users/{_segment(user_id)}/lifecycle/{operation}", retry=False
        )
        if response.status_code == 400:
            error = _error(response)
            if error.code == VALIDATION:
                raise OktaStateError(error)
        if response.status_code == 404:
            raise ConnectorNotFound(f"okta: no such user {user_id!r} ({_error(response).describe()})")
        _raise_for_status(response, operation)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _raise_for_status(response: httpx.Response, what: str) -> None:
    if 200 <= response.status_code < 300:
        return
    error = _error(response)
    if response.status_code >= 500:
        raise ConnectorUnavailable(f"okta: {what} failed: {error.describe()}")
    raise ConnectorError(f"okta: {what} failed: {error.describe()}")


def _error(response: httpx.Response) -> OktaApiError:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return OktaApiError(response.status_code, "", f"HTTP {response.status_code}")
    summary = str(body.get("errorSummary", ""))[:300]
    causes = body.get("errorCauses")
    if isinstance(causes, list):
        details = [str(c.get("errorSummary")) for c in causes if isinstance(c, dict) and c.get("errorSummary")]
        if details:
            summary = f"{summary} ({'; '.join(details)[:300]})"
    return OktaApiError(response.status_code, str(body.get("errorCode", "")), summary)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
