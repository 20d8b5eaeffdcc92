"""The HTTP front door: ``POST /alerts/{source}``, ``GET /healthz`` (alive) and ``GET /readyz`` (can write).

Order of checks for an alert delivery: unknown source → 404; token → 401 (before reading the body, so an
unauthenticated flood costs little); body over the limit → 413; HMAC signature → 401; malformed → 400. The
answer is 202 only after the alerts are committed; a database that cannot be written gives 503 with
``Retry-After`` so the sender retries. Bad input never produces a 5xx.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

from bot.cases import CaseService, IngestOutcome
from bot.core.errors import PayloadError, StoreUnavailable
from bot.core.models import Alert
from bot.intake import auth
from bot.intake.pipeline import Limits, SourceSpec, build_alerts, decode

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


@web.middleware
async def error_boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn anything unexpected into a 500 with a short error id that is also logged."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        # aiohttp's own 404/405/413: answer in JSON like everything else.
        return _error(exc.status, exc.reason)
    except Exception:
        error_id = secrets.token_hex(4)
        logger.exception("Unhandled error %s on %s %s", error_id, request.method, request.path)
        return _error(500, f"internal error (id {error_id})")


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """What the alert endpoint needs."""

    sources: Mapping[str, SourceSpec]
    max_body_bytes: int = 1024 * 1024
    limits: Limits = Limits()


OnIngested = Callable[[Sequence[Alert], Sequence[IngestOutcome]], None]
"""Called after a delivery is committed (before the answer), e.g. to queue enrichment; must not block."""


class AlertEndpoint:
    """Handles ``POST /alerts/{source}``."""

    def __init__(self, config: IntakeConfig, cases: CaseService, on_ingested: OnIngested | None = None) -> None:
        self._config = config
        self._cases = cases
        self._on_ingested = on_ingested

    async def post(self, request: web.Request) -> web.Response:
        """Authenticate, parse and commit one delivery."""
        spec = self._config.sources.get(request.match_info["source"])
        if spec is None:
            return _error(404, "unknown alert source")
        if spec.token is not None and not auth.token_ok(spec.token, request.headers, request.query.get("token")):
            return _error(401, "missing or wrong token")
        limit = self._config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _error(413, f"body larger than {limit} bytes")
        body = await _read_body(request, limit)
        if body is None:
            return _error(413, f"body larger than {limit} bytes")
        if spec.hmac_secret is not None and not auth.signature_ok(spec.hmac_secret, request.headers, body):
            return _error(401, f"missing or wrong {auth.SIGNATURE_HEADER} signature")
        try:
            alerts = build_alerts(spec, decode(body), body, limits=self._config.limits)
        except PayloadError as err:
            return _error(400, str(err))
        try:
            outcomes = await self._cases.ingest(alerts)
        except StoreUnavailable:
            return _error(503, "alert store unavailable; retry later", **{"Retry-After": "5"})
        if self._on_ingested is not None:
            self._on_ingested(alerts, outcomes)
        fresh = [o for o in outcomes if not o.duplicate]
        return web.json_response(
            {
                "accepted": len(fresh),
                "duplicates": len(outcomes) - len(fresh),
                "alerts": [o.to_dict() for o in outcomes],
            },
            status=202,
        )


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """Read the whole body, or None as soon as it grows past ``limit`` (chunked bodies have no length)."""
    chunks: list[bytes] = []
    size = 0
    # StreamReader.read(n) returns what is buffered, not n bytes: loop to the end of the body.
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers. It says nothing of the database (that is ``/readyz``)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 while the database can be written (a real write), 503 with the reason while it cannot."""
    check: Callable[[], Awaitable[str | None]] = request.app[READY_CHECK]
    problem = await check()
    if problem is None:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready", "reason": problem}, status=503, headers={"Retry-After": "5"})


READY_CHECK: web.AppKey[Callable[[], Awaitable[str | None]]] = web.AppKey("ready_check")


def build_app(
    endpoint: AlertEndpoint,
    ready_check: Callable[[], Awaitable[str | None]],
    routes: Sequence[tuple[str, str, Handler]] = (),
) -> web.Application:
    """Assemble the aiohttp application (``routes``: chat platforms' endpoints, e.g. /slack/events)."""
    # client_max_size guards the other routes; the alert route reads its body with its own limit.
    app = web.Application(middlewares=[error_boundary], client_max_size=1024 * 1024)
    app[READY_CHECK] = ready_check
    app.router.add_post("/alerts/{source}", endpoint.post)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app
