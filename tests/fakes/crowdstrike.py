"""A fake CrowdStrike Falcon API: OAuth2 token, host queries and entities, containment actions.

Hosts live in memory with their containment status. ``contain`` moves a ``normal`` host to
``containment_pending`` (``settle()`` completes pending transitions) and is refused with 409 for a host already
contained or on its way; ``lift_containment`` mirrors it. Every answer uses Falcon's envelope
``{"meta": {...}, "resources": [...], "errors": [...]}``; the FQL filter must be exactly ``hostname:'<name>'``
with ``\\'`` escapes, as the real query service parses it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.Response]]
CLIENT_ID = "0f3c1b7e9a8d4c2b8e6f5a4d3c2b1a09"
GOOD_SECRET = "Falc0nS3cret-for-tests-ZZZZZZZZZZZZZZ"
_FILTER = re.compile(r"^hostname:'((?:[^'\\]|\\.)*)'$")
PENDING_TO_FINAL = {"containment_pending": "contained", "lift_containment_pending": "normal"}


def envelope(
    status: int,
    resources: list[Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
    *,
    total: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A Falcon answer in its meta/resources/errors envelope."""
    meta: dict[str, Any] = {"query_time": 0.012, "powered_by": "device-api", "trace_id": str(uuid.uuid4())}
    if total is not None:
        meta["pagination"] = {"offset": 0, "limit": 100, "total": total}
    return web.json_response(
        {"meta": meta, "resources": resources or [], "errors": errors or []}, status=status, headers=headers
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A Falcon error answer."""
    return envelope(status, errors=[{"code": status, "message": message}], headers=headers)


@dataclass
class FalconHost:
    """One host (device) in the fake tenant."""

    device_id: str
    hostname: str
    status: str = "normal"


def default_hosts() -> list[FalconHost]:
    """A few hosts: two ordinary ones, a contained one, two sharing a name, one with a quote in its name."""
    return [
        FalconHost("ea2085de804f4dde7053af48828889cb", "WS-0001"),
        FalconHost("5b2f8e6d4c3a49f18e7d6c5b4a392817", "WS-0002"),
        FalconHost("c0ffee00c0ffee00c0ffee00c0ffee00", "SRV-DB-01", status="contained"),
        FalconHost("1111aaaa2222bbbb3333cccc4444dddd", "DUP-HOST"),
        FalconHost("5555eeee6666ffff7777aaaa8888bbbb", "DUP-HOST"),
        FalconHost("9999999999999999aaaaaaaaaaaaaaaa", "O'BRIEN-LT"),
    ]


@dataclass
class Falcon:
    """The fake API; ``actions`` lists every accepted host action (the state changes)."""

    hosts: list[FalconHost] = field(default_factory=default_hosts)
    client_id: str = CLIENT_ID
    client_secret: str = GOOD_SECRET
    lifetime: float = 1799
    token_requests: int = 0
    tokens: dict[str, float] = field(default_factory=dict)
    actions: list[tuple[str, str]] = field(default_factory=list)
    throttle: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it answer 429."""
    revoke_tokens_on: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it find every token revoked (→ 401)."""
    fail: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it answer 500."""

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_get("/devices/queries/devices/v1", self._gated(self._query))
        app.router.add_get("/devices/entities/devices/v2", self._gated(self._entities))
        app.router.add_post("/devices/entities/devices-actions/v2", self._gated(self._action))
        return app

    def host(self, device_id: str) -> FalconHost | None:
        """A host by device id."""
        return next((h for h in self.hosts if h.device_id == device_id), None)

    def settle(self) -> None:
        """Complete every pending containment transition (the sensors checked in)."""
        for host in self.hosts:
            host.status = PENDING_TO_FINAL.get(host.status, host.status)

    def revoke_all(self) -> None:
        """Forget every issued token (as if they had all expired)."""
        self.tokens.clear()

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.content_type != "application/x-www-form-urlencoded":
            return error(400, "Failed to generate access token: invalid content type")
        form = await request.post()
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return error(
                403,
                "Failed to issue access token - Client authentication failed (e.g., unknown client, no client "
                "authentication included, or unsupported authentication method)",
            )
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + self.lifetime
        return web.json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": int(self.lifetime)}, status=201
        )

    def _gated(self, handler: Handler) -> Handler:
        async def gate(request: web.Request) -> web.Response:
            if self.revoke_tokens_on[request.method] > 0:
                self.revoke_tokens_on[request.method] -= 1
                self.revoke_all()
            header = request.headers.get("Authorization", "")
            expiry = self.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
            if expiry is None or time.monotonic() >= expiry:
                return error(401, "access denied, invalid bearer token")
            if self.throttle[request.method] > 0:
                self.throttle[request.method] -= 1
                reset = str(int(time.time()) + 1)
                return error(
                    429,
                    "API rate limit exceeded.",
                    headers={
                        "X-Ratelimit-Limit": "6000",
                        "X-Ratelimit-Remaining": "0",
                        "X-Ratelimit-Retryafter": reset,
                    },
                )
            if self.fail[request.method] > 0:
                self.fail[request.method] -= 1
                return error(500, "internal server error")
            return await handler(request)

        return gate

    async def _query(self, request: web.Request) -> web.Response:
        query = request.query.get("filter")
        hosts = self.hosts
        if query is not None:
            match = _FILTER.match(query)
            if match is None:
                return error(400, f"Invalid filter: {query}")
            name = re.sub(r"\\(.)", r"\1", match.group(1)).lower()
            hosts = [h for h in hosts if h.hostname.lower() == name]
        limit = int(request.query.get("limit", "100"))
        return envelope(200, [h.device_id for h in hosts[:limit]], total=len(hosts))

    async def _entities(self, request: web.Request) -> web.Response:
        ids = request.query.getall("ids", [])
        if not ids:
            return error(400, "ids is required")
        found = [h for h in (self.host(i) for i in ids) if h is not None]
        if not found:
            return error(404, "No matching device found")
        return envelope(
            200,
            [
                {
                    "device_id": h.device_id,
                    "cid": "3f2c7a9b1e4d4c6a8b0e2f4a6c8e0a2b",
                    "hostname": h.hostname,
                    "platform_name": "Windows",
                    "status": h.status,
                    "last_seen": "2024-05-01T10:00:00Z",
                }
                for h in found
            ],
        )

    async def _action(self, request: web.Request) -> web.Response:
        action = request.query.get("action_name")
        if action not in ("contain", "lift_containment", "hide_host", "unhide_host"):
            return error(400, f"action_name {action!r} is not a valid action")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return error(400, "invalid JSON body")
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return error(400, "ids must be a non-empty list of device ids")
        if action not in ("contain", "lift_containment"):
            return error(400, f"{action} is not supported by this fake")
        affected, errors = [], []
        for device_id in ids:
            host = self.host(device_id)
            if host is None:
                errors.append({"code": 404, "message": f"Device {device_id} not found", "id": device_id})
            elif action == "contain" and host.status != "normal" and host.status != "lift_containment_pending":
                errors.append({"code": 409, "message": f"Host {device_id} is already {host.status}", "id": device_id})
            elif action == "lift_containment" and host.status in ("normal", "lift_containment_pending"):
                errors.append({"code": 409, "message": f"Host {device_id} is not contained", "id": device_id})
            else:
                host.status = "containment_pending" if action == "contain" else "lift_containment_pending"
                self.actions.append((action, device_id))
                affected.append({"id": device_id, "path": ""})
        status = 202 if affected else errors[0]["code"]
        return envelope(status, affected, errors)
