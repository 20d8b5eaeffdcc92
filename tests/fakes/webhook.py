"""A fake webhook receiver: checks the bearer header and the ``X-Hub-Signature-256`` HMAC, parses the JSON body,
and drops repeated ``Idempotency-Key`` deliveries (it answers 200 without recording them again)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

AUTH = "Bearer hook-auth-good-0123456789"
HMAC_SECRET = "hook-hmac-secret-0123456789"
PATH = "/hooks/soar"


@dataclass
class Received:
    """One accepted delivery."""

    key: str
    headers: dict[str, str]
    body: bytes
    payload: Any


@dataclass
class State:
    """Accepted deliveries, every POST seen, and knobs (``status_first`` answers those statuses first)."""

    received: list[Received] = field(default_factory=list)
    posts: int = 0
    duplicates: int = 0
    require_auth: bool = True
    require_signature: bool = True
    status_first: list[int] = field(default_factory=list)
    delay: float = 0.0


def app(state: State | None = None) -> web.Application:
    """The fake; pass a State to inspect deliveries or script failures."""
    st = state if state is not None else State()

    async def hook(request: web.Request) -> web.Response:
        st.posts += 1
        body = await request.read()
        if st.delay:
            await asyncio.sleep(st.delay)
        if st.require_auth and request.headers.get("Authorization") != AUTH:
            return web.json_response({"error": "unauthorized"}, status=401)
        if st.require_signature:
            expected = "sha256=" + hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("X-Hub-Signature-256", ""), expected):
                return web.json_response({"error": "bad signature"}, status=401)
        if st.status_first:
            return web.json_response({"error": "scripted failure"}, status=st.status_first.pop(0))
        if request.content_type != "application/json":
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            payload = json.loads(body)
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            return web.json_response({"error": "Idempotency-Key header required"}, status=400)
        if any(r.key == key for r in st.received):
            st.duplicates += 1
            return web.json_response({"ok": True, "duplicate": True})
        st.received.append(Received(key, dict(request.headers), body, payload))
        return web.json_response({"ok": True}, status=202, headers={"X-Request-Id": f"req-{len(st.received)}"})

    async def head(request: web.Request) -> web.Response:
        return web.Response(status=405, headers={"Allow": "POST"})

    application = web.Application()
    application.router.add_post(PATH, hook)
    application.router.add_route("HEAD", PATH, head)
    return application
