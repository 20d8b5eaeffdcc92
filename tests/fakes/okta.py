"""A fake Okta Users API: SSWS auth, user lookup by id or login, suspend/unsuspend rules, sessions.

Lifecycle rules as Okta documents them: suspend applies to ACTIVE users only and unsuspend to SUSPENDED users
only; anything else is 400 ``E0000001``. Every answer carries ``X-Rate-Limit-*`` headers (hyphenated, like
Okta's), and ``rate_limit_first`` makes that many requests answer 429 ``E0000047`` with no ``Retry-After``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GOOD_TOKEN = "00okta-token-good-0123456789"
RATE_LIMIT = 600

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _users() -> dict[str, dict[str, Any]]:
    def user(uid: str, login: str, status: str) -> dict[str, Any]:
        return {
            "id": uid,
            "status": status,
            "created": "2024-01-01T00:00:00.000Z",
            "statusChanged": "2024-01-01T00:00:00.000Z",
            "profile": {"login": login, "email": login, "firstName": "Test", "lastName": login.split("@")[0]},
            "_links": {"self": {"href": f"https://example.okta.com/api/v1/users/{uid}"}},
        }

    return {
        u["id"]: u
        for u in (
            user("00u1jdoe", "jdoe@example.com", "ACTIVE"),
            user("00u2held", "held@example.com", "SUSPENDED"),
            user("00u3gone", "gone@example.com", "DEPROVISIONED"),
            user("00uadmin", "admin@example.com", "ACTIVE"),
        )
    }


@dataclass
class State:
    """The fake's users, sessions, counters of state-changing calls, and failure knobs."""

    users: dict[str, dict[str, Any]] = field(default_factory=_users)
    sessions: dict[str, int] = field(default_factory=lambda: {"00u1jdoe": 2, "00u2held": 1})
    suspends: int = 0
    unsuspends: int = 0
    session_clears: int = 0
    rate_limit_first: int = 0
    fail_suspend: int = 0
    remaining: int = RATE_LIMIT

    def status(self, uid: str) -> str:
        return str(self.users[uid]["status"])


def _error(
    status: int, code: str, summary: str, causes: list[str] | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oaeFakeErrorId0123",
            "errorCauses": [{"errorSummary": c} for c in causes or []],
        },
        status=status,
        headers=headers,
    )


def app(state: State | None = None) -> web.Application:
    """The fake; pass a State to inspect it or to turn on its failure knobs."""
    st = state if state is not None else State()

    def rate_headers() -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(RATE_LIMIT),
            "X-Rate-Limit-Remaining": str(st.remaining),
            "X-Rate-Limit-Reset": str(int(time.time()) + 1),
        }

    def guarded(handler: Handler) -> Handler:
        async def gate(request: web.Request) -> web.StreamResponse:
            return await _gate(request, handler)

        return gate

    async def _gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"SSWS {GOOD_TOKEN}":
            return _error(401, "E0000011", "Invalid token provided")
        if st.rate_limit_first > 0:
            st.rate_limit_first -= 1
            return _error(
                429,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
                headers={**rate_headers(), "X-Rate-Limit-Remaining": "0"},
            )
        st.remaining -= 1
        response: web.StreamResponse = await handler(request)
        response.headers.update(rate_headers())
        return response

    def find(ref: str) -> dict[str, Any] | None:
        if ref in st.users:
            return st.users[ref]
        return next((u for u in st.users.values() if u["profile"]["login"].lower() == ref.lower()), None)

    def not_found(ref: str) -> web.Response:
        return _error(404, "E0000007", f"Not found: Resource not found: {ref} (User)")

    async def get_user(request: web.Request) -> web.Response:
        ref = request.match_info["ref"]
        user = st.users["00uadmin"] if ref == "me" else find(ref)
        return web.json_response(user) if user is not None else not_found(ref)

    async def lifecycle(request: web.Request) -> web.Response:
        uid, operation = request.match_info["uid"], request.match_info["op"]
        if uid not in st.users:  # lifecycle operations take the id
            return not_found(uid)
        user = st.users[uid]
        if operation == "suspend":
            st.suspends += 1
            if st.fail_suspend > 0:
                st.fail_suspend -= 1
                return _error(500, "E0000009", "Internal Server Error")
            if user["status"] != "ACTIVE":
                return _error(
                    400, "E0000001", "Api validation failed: suspend", ["Cannot suspend a user that is not active"]
                )
            user["status"] = "SUSPENDED"
            return web.json_response({})
        if operation == "unsuspend":
            st.unsuspends += 1
            if user["status"] != "SUSPENDED":
                return _error(
                    400,
                    "E0000001",
                    "Api validation failed: unsuspend",
                    ["Cannot unsuspend a user that is not suspended"],
                )
            user["status"] = "ACTIVE"
            return web.json_response({})
        return _error(404, "E0000022", f"The endpoint does not support the provided HTTP method: {operation}")

    async def clear_sessions(request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid not in st.users:
            return not_found(uid)
        st.session_clears += 1
        st.sessions[uid] = 0
        return web.Response(status=204)

    application = web.Application()
    application.router.add_get("/api/v1/users/{ref}", guarded(get_user))
    application.router.add_post("/api/v1/users/{uid}/lifecycle/{op}", guarded(lifecycle))
    application.router.add_delete("/api/v1/users/{uid}/sessions", guarded(clear_sessions))
    return application
