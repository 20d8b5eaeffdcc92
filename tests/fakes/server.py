"""Run an aiohttp application on 127.0.0.1 for the length of a test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeVendor:
    """A running fake: its base URL and every request it saw."""

    url: str
    requests: list[Recorded] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[FakeVendor]:
    """Serve ``app`` on a free loopback port; every request is recorded on the yielded FakeVendor."""
    recorded: list[Recorded] = []

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        body = await request.read()
        recorded.append(Recorded(request.method, request.path, dict(request.query), dict(request.headers), body))
        return await handler(request)

    app.middlewares.append(record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake = FakeVendor(url=f"http://{host}:{port}", requests=recorded)
    try:
        yield fake
    finally:
        await runner.cleanup()
