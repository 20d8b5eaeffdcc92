"""A fake Entra ID token endpoint and Microsoft Graph ``/users``, answering in their documented shapes.

``EntraLogin`` is the v2 client-credentials token endpoint (shared with the Defender fake: Defender's tokens come
from Entra too). Tokens are random, remembered with their audience and expiry; an API rejects an unknown,
expired or wrong-audience token with 401. ``Graph`` keeps users in memory, counts every state-changing call and
has knobs for throttling (429 + Retry-After) and the older 204 answer of revokeSignInSessions.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TENANT = "8f2f4a6e-1b7c-4c55-9a51-3b0d8d7f2a10"
CLIENT_ID = "a1b2c3d4-0000-4000-8000-00000000c1d0"
GOOD_SECRET = "Xk9~entra-secret-value.for_tests"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _aad_error(status: int, error: str, code: int, description: str) -> web.Response:
    """An Entra token-endpoint error (RFC 6749 §5.2 plus Microsoft's fields)."""
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: "
            f"{correlation}\r\nTimestamp: 2024-05-01 10:00:00Z",
            "error_codes": [code],
            "timestamp": "2024-05-01 10:00:00Z",
            "trace_id": str(trace),
            "correlation_id": str(correlation),
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status=status,
    )


@dataclass
class EntraLogin:
    """``POST /{tenant}/oauth2/v2.0/token`` for one tenant and one app registration."""

    tenant: str = TENANT
    client_id: str = CLIENT_ID
    client_secret: str = GOOD_SECRET
    lifetime: float = 3599
    token_requests: int = 0
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    def add_routes(self, app: web.Application) -> None:
        """Serve the token endpoint on ``app``."""
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)

    def revoke_all(self) -> None:
        """Forget every issued token (as if they had all expired)."""
        self.tokens.clear()

    def valid(self, request: web.Request, audience: str) -> bool:
        """Whether the request carries a live bearer token issued for ``audience``."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        issued = self.tokens.get(header.removeprefix("Bearer "))
        return issued is not None and issued[0] == audience and time.monotonic() < issued[1]

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.match_info["tenant"] != self.tenant:
            return _aad_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{request.match_info['tenant']}' not found. Check to make sure "
                "you have the correct tenant ID and are signing into the correct cloud.",
            )
        if request.content_type != "application/x-www-form-urlencoded":
            return _aad_error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
            )
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != self.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')!s}' was not found in the directory.",
            )
        if form.get("client_secret") != self.client_secret:
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the "
                f"request is the client secret value, not the client secret ID, for a secret added to app "
                f"'{self.client_id}'.",
            )
        scope = str(form.get("scope", ""))
        if not scope.endswith("/.default"):
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the resource identifier.",
            )
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (scope.removesuffix("/.default"), time.monotonic() + self.lifetime)
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": int(self.lifetime),
                "ext_expires_in": int(self.lifetime),
                "access_token": token,
            }
        )


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A Graph error body."""
    return web.json_response(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": "2024-05-01T10:00:00",
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        },
        status=status,
        headers=headers,
    )


@dataclass
class GraphUser:
    """One user in the fake directory."""

    id: str
    user_principal_name: str
    account_enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        """The full user as Graph would return it (before ``$select``)."""
        return {
            "id": self.id,
            "userPrincipalName": self.user_principal_name,
            "accountEnabled": self.account_enabled,
            "displayName": self.user_principal_name.split("@")[0].title(),
            "mail": self.user_principal_name,
        }


ALICE = GraphUser("5c2a6c8e-7d1f-4e25-9b1e-2f0f7a3b9c11", "alice@contoso.example")
GUEST = GraphUser("0b6a1d2e-3c4f-4a5b-8c7d-9e0f1a2b3c4d", "bob_gmail.com#EXT#@contoso.onmicrosoft.com")
DISABLED = GraphUser("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "mallory@contoso.example", account_enabled=False)


@dataclass
class Graph:
    """Microsoft Graph v1.0 ``/users`` with an in-memory directory."""

    users: list[GraphUser] = field(
        default_factory=lambda: [
            GraphUser(ALICE.id, ALICE.user_principal_name),
            GraphUser(GUEST.id, GUEST.user_principal_name),
            GraphUser(DISABLED.id, DISABLED.user_principal_name, account_enabled=False),
        ]
    )
    login: EntraLogin = field(default_factory=EntraLogin)
    revoke_answers_204: bool = False
    retry_after: str = "1"
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    revocations: list[str] = field(default_factory=list)
    throttle: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it answer 429."""
    revoke_tokens_on: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it find every token revoked (→ 401)."""
    fail: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it answer 503."""

    def app(self) -> web.Application:
        """The aiohttp application (token endpoint under ``/{tenant}``, Graph under ``/v1.0``)."""
        app = web.Application()
        self.login.add_routes(app)
        app.router.add_get("/v1.0/users", self._gated(self._list))
        app.router.add_get("/v1.0/users/{user}", self._gated(self._get))
        app.router.add_patch("/v1.0/users/{user}", self._gated(self._patch))
        app.router.add_post("/v1.0/users/{user}/revokeSignInSessions", self._gated(self._revoke))
        return app

    def find(self, ident: str) -> GraphUser | None:
        """A user by object id or UPN (case-insensitive)."""
        for user in self.users:
            if ident.lower() in (user.id.lower(), user.user_principal_name.lower()):
                return user
        return None

    def _gated(self, handler: Handler) -> Handler:
        """``handler`` behind the bearer-token check and the 429 / 503 knobs."""

        async def gate(request: web.Request) -> web.Response:
            if self.revoke_tokens_on[request.method] > 0:
                self.revoke_tokens_on[request.method] -= 1
                self.login.revoke_all()
            if not self.login.valid(request, "https://graph.microsoft.com"):
                if "Authorization" not in request.headers:
                    return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
                return graph_error(
                    401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
                )
            if self.throttle[request.method] > 0:
                self.throttle[request.method] -= 1
                return graph_error(
                    429,
                    "TooManyRequests",
                    "Too many requests, please try again later.",
                    headers={"Retry-After": self.retry_after},
                )
            if self.fail[request.method] > 0:
                self.fail[request.method] -= 1
                return graph_error(503, "serviceNotAvailable", "Service unavailable, please try again later.")
            return await handler(request)

        return gate

    def _missing(self, ident: str) -> web.Response:
        return graph_error(
            404,
            "Request_ResourceNotFound",
            f"Resource '{ident}' does not exist or one of its queried reference-property objects are not present.",
        )

    async def _list(self, request: web.Request) -> web.Response:
        top = int(request.query.get("$top", "100"))
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                "value": [_select(u.to_json(), request) for u in self.users[:top]],
            }
        )

    async def _get(self, request: web.Request) -> web.Response:
        user = self.find(request.match_info["user"])
        if user is None:
            return self._missing(request.match_info["user"])
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                **_select(user.to_json(), request),
            }
        )

    async def _patch(self, request: web.Request) -> web.Response:
        user = self.find(request.match_info["user"])
        if user is None:
            return self._missing(request.match_info["user"])
        try:
            body = json.loads(await request.read())
        except ValueError:
            return graph_error(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type "
                "header is set and payload is of valid JSON format.",
            )
        if not isinstance(body, dict) or not body:
            return graph_error(400, "BadRequest", "Empty Payload. JSON content expected.")
        for key, value in body.items():
            if key != "accountEnabled":
                return graph_error(
                    400, "Request_BadRequest", f"Property '{key}' does not exist on type 'microsoft.graph.user'."
                )
            if not isinstance(value, bool):
                return graph_error(
                    400,
                    "Request_BadRequest",
                    "Invalid value specified for property 'accountEnabled' of resource 'User'.",
                )
        self.patches.append((user.id, body))
        user.account_enabled = body["accountEnabled"]
        return web.Response(status=204)

    async def _revoke(self, request: web.Request) -> web.Response:
        user = self.find(request.match_info["user"])
        if user is None:
            return self._missing(request.match_info["user"])
        self.revocations.append(user.id)
        if self.revoke_answers_204:
            return web.Response(status=204)
        return web.json_response(
            {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": True}
        )

    def state_changes(self) -> int:
        """PATCHes and revocations that reached the directory."""
        return len(self.patches) + len(self.revocations)


def _select(data: dict[str, Any], request: web.Request) -> dict[str, Any]:
    fields = request.query.get("$select")
    if not fields:
        return data
    wanted = {f.strip() for f in fields.split(",")}
    return {k: v for k, v in data.items() if k in wanted}
