"""Microsoft Graph v1.0 users: read a user, enable / disable the account, revoke its sign-in sessions.

Tokens come from Entra ID (``POST {login}/{tenant}/oauth2/v2.0/token``, client credentials, scope
``https://graph.microsoft.com/.default``). ``PATCH /users/{id}`` answers **204 with an empty body**;
``POST /users/{id}/revokeSignInSessions`` answers 200 ``{"value": true}`` (older documentation: 204). Errors are
``{"error": {"code", "message", "innerError"}}``; throttling is 429 with ``Retry-After``.
(https://learn.microsoft.com/en-us/graph/api/user-update, .../user-revokesigninsessions)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bot.core.errors import ConnectorError, ConnectorNotFound, ConnectorUnavailable
from connectors.http import json_answer, json_or_none
from connectors.microsoft import LOGIN_URL as LOGIN_URL
from connectors.microsoft import AppClient
from connectors.microsoft import error_text as error_text

BASE_URL = "https://graph.microsoft.com/v1.0"
SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True, slots=True)
class User:
    """The parts of a Graph user soarbot uses."""

    id: str
    user_principal_name: str
    account_enabled: bool


class GraphClient(AppClient):
    """Typed access to the Graph endpoints soarbot calls."""

    scope = SCOPE
    # Graph documents 429 as "throttled, request not performed", with Retry-After. So a 429 on a PATCH or
    # POST is the one answer after which repeating a state change is known to be safe: the first one did
    # nothing. ClientCredentials repeats such a call once after Retry-After (at most 30 s), never on 5xx
    # or a timeout, where Graph may have acted. Reads keep VendorHttp's ordinary lookup retries.
    retry_throttled = True

    async def any_user(self) -> bool:
        """Whether the app can read users (proves the token and ``User.Read.All``)."""
        response = await self.auth.request("GET", "/users", retry=True, params={"$top": "1", "$select": "id"})
        return bool(_answer(response, "list users").get("value"))

    async def user(self, user: str) -> User:
        """One user by object id or userPrincipalName (404 → ConnectorNotFound)."""
        response = await self.auth.request(
            "GET", _user_path(user), retry=True, params={"$select": "id,userPrincipalName,accountEnabled"}
        )
        if response.status_code == 404:
            raise ConnectorNotFound(
                f"entra: no such user {user!r} ({error_text(json_or_none(response)) or 'not found'})"
            )
        data = _answer(response, f"read user {user!r}")
        enabled = data.get("accountEnabled")
        if not data.get("id") or not isinstance(enabled, bool):
            raise ConnectorUnavailable(f"entra: read user {user!r}: answer without id or accountEnabled")
        return User(str(data["id"]), str(data.get("userPrincipalName") or ""), enabled)

    async def set_account_enabled(self, user_id: str, enabled: bool) -> None:
        """PATCH ``accountEnabled`` once (only a 429 is repeated, see ``__init__``); expects 204, no body."""
        response = await self.auth.request("PATCH", _user_path(user_id), retry=False, json={"accountEnabled": enabled})
        if response.status_code == 404:
            raise ConnectorNotFound(f"entra: no such user {user_id!r}")
        if response.status_code not in (200, 204):  # 204 No Content is the documented answer: nothing to parse
            raise ConnectorError(
                f"entra: set accountEnabled={enabled} on {user_id}: HTTP {response.status_code}: "
                f"{error_text(json_or_none(response)) or 'no error details'}"
            )

    async def revoke_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies (200 ``{"value": true}``, or 204)."""
        response = await self.auth.request("POST", f"{_user_path(user_id)}/revokeSignInSessions", retry=False)
        if response.status_code == 204:
            return
        data = _answer(response, f"revoke sessions of {user_id}")
        if data.get("value") is not True:
            raise ConnectorError(f"entra: revoke sessions of {user_id}: Graph answered value={data.get('value')!r}")


def _user_path(user: str) -> str:
    # UPNs of guests contain '#' (alice_example.com#EXT#@tenant): it must be escaped in a path.
    return f"/users/{quote(user, safe='@')}"


def _answer(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON body of a 200; anything else raises with Graph's error text."""
    return json_answer(response, "entra", what, error_text)
