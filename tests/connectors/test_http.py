"""The shared limiter and breaker, with a fake clock (no sleeping in tests)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.core.errors import ConnectorUnavailable
from connectors.http import CircuitBreaker, RateLimiter, Window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_limiter_queues_instead_of_exceeding_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    limiter = RateLimiter(Window(4, 60), clock=clock)
    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    times = []
    for _ in range(9):
        await limiter.acquire()
        times.append(clock.now)
    # Never more than 4 calls in any 60 s window: the 5th waits a minute, the 9th two.
    for i in range(4, 9):
        assert times[i] - times[i - 4] >= 60
    assert times[4] == pytest.approx(1060) and times[8] == pytest.approx(1120)


async def test_limiter_exhaust_holds_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()

    async def fake_sleep(seconds: float) -> None:
        clock.now += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    limiter = RateLimiter(Window(100, 1), clock=clock)
    limiter.exhaust(30)
    await limiter.acquire()
    assert clock.now == pytest.approx(1030)


def test_breaker_opens_logs_once_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    breaker = CircuitBreaker("vendor", threshold=3, cooldown=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="connectors.http"):
        for _ in range(6):
            breaker.failure()
        assert breaker.is_open
        with pytest.raises(ConnectorUnavailable):
            breaker.before_call()
        clock.now += 11
        breaker.before_call()  # one trial call allowed after the cooldown
        breaker.failure()  # the trial failed: open again, without another log line
        assert breaker.is_open
        clock.now += 11
        breaker.before_call()
        breaker.success()
    assert not breaker.is_open
    messages = [r.getMessage() for r in caplog.records]
    assert sum("circuit open" in m for m in messages) == 1
    assert sum("recovered" in m for m in messages) == 1


async def test_httpx_request_logs_keep_only_the_origin(caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    from connectors.http import make_client

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["key"] == "s3cret-query-key"  # the vendor does get it
        return httpx.Response(200, json={})

    client = make_client(
        "https://hooks.example.com", transport=httpx.MockTransport(handler), query_secrets={"key": "s3cret-query-key"}
    )
    with caplog.at_level(logging.INFO, logger="httpx"):
        await client.get("/services/T000/B000/s3cret-path-token", params={"q": "x"})
    await client.aclose()
    [record] = [r for r in caplog.records if r.name == "httpx"]
    message = record.getMessage()
    assert "https://hooks.example.com/…" in message
    assert "s3cret" not in message
