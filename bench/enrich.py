"""Enrichment benchmark: 100 alerts x 5 indicators against local vendor fakes that answer in 100 ms.

Prints per-alert enrichment latency p50/p95 (every lookup goes to the fakes) and the same alerts again from the
cache. Targets: p50 at most 130 ms (the slowest single lookup, 100 ms, is the floor) and cached under 5 ms.

    python bench/enrich.py [--alerts 100] [--concurrency 1] [--delay 0.1]

The fakes (AbuseIPDB, VirusTotal, GreyNoise, URLhaus, ThreatFox, each 100 ms away) run in a child process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web  # noqa: E402

from bot.core.models import Observable, ObservableKind  # noqa: E402
from bot.enrichment import EnrichmentService  # noqa: E402
from bot.store.db import Database  # noqa: E402
from connectors import build_registry, settings_model  # noqa: E402
from tests.fakes.server import serve  # noqa: E402

# connector name -> (fake module, fake app kwargs for a delay, connector settings given the fake's URL)
Setup = tuple[str, Callable[[float], web.Application], Callable[[str], dict[str, Any]]]


def delayed(app: web.Application, seconds: float) -> web.Application:
    """Make every answer of a fake take ``seconds`` (a vendor 100 ms away)."""

    @web.middleware
    async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await handler(request)

    app.middlewares.insert(0, slow)
    return app


def setups() -> list[Setup]:
    """Every intel vendor whose quota can be raised for a fake (RDAP and Shodan are quota-bound: left out)."""
    from tests.fakes import abuseipdb, greynoise, threatfox, urlhaus, virustotal

    return [
        (
            "abuseipdb",
            lambda d: delayed(abuseipdb.app(), d),
            lambda url: {"api_key": abuseipdb.GOOD_KEY, "base_url": f"{url}/api/v2", "daily_limit": 100000},
        ),
        (
            "virustotal",
            lambda d: delayed(virustotal.app(), d),
            lambda url: {
                "api_key": virustotal.GOOD_KEY,
                "base_url": f"{url}/api/v3",
                "per_minute": 100000,
                "per_day": 100000,
            },
        ),
        (
            "greynoise",
            lambda d: delayed(greynoise.app(), d),
            lambda url: {"api_key": greynoise.GOOD_KEY, "base_url": url, "per_day": 100000},
        ),
        (
            "urlhaus",
            lambda d: delayed(urlhaus.app(), d),
            lambda url: {"auth_key": urlhaus.GOOD_KEY, "base_url": f"{url}/v1"},
        ),
        (
            "threatfox",
            lambda d: delayed(threatfox.app(), d),
            lambda url: {"auth_key": threatfox.GOOD_KEY, "base_url": f"{url}/api/v1"},
        ),
    ]


def indicators(n: int) -> list[Observable]:
    """Five fresh indicators for alert ``n``: two IPs, a domain, a URL and a file hash."""
    return [
        Observable(ObservableKind.IP, f"198.51.{n // 250}.{n % 250 + 1}"),
        Observable(ObservableKind.IP, f"203.0.{n // 250}.{n % 250 + 1}"),
        Observable(ObservableKind.DOMAIN, f"host{n}.example-bad.com"),
        Observable(ObservableKind.URL, f"http://host{n}.example-bad.com/payload.exe"),
        Observable(ObservableKind.SHA256, f"{n:064x}"),
    ]


async def timed_run(service: EnrichmentService, alerts: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            started = time.perf_counter()
            reports = await service.enrich(indicators(n))
            latencies.append(time.perf_counter() - started)
            failed = [f for r in reports for f in r.failures]
            if failed:
                raise RuntimeError(f"lookup failed: {failed[0]}")

    await asyncio.gather(*(one(n) for n in range(alerts)))
    return sorted(latencies)


def summary(label: str, latencies: list[float]) -> str:
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)] * 1000
    return f"{label}: p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {latencies[-1] * 1000:.1f} ms"


async def serve_fakes(delay: float) -> None:
    """Child-process mode: serve every fake and print their URLs as one JSON line."""
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for name, make_app, _ in setups():
            urls[name] = (await stack.enter_async_context(serve(make_app(delay)))).url
        print(json.dumps(urls), flush=True)
        await asyncio.Event().wait()


async def run(args: argparse.Namespace) -> int:
    # The vendors run in their own process: their CPU is not ours, as with real vendors.
    fakes = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-fakes", "--delay", str(args.delay), stdout=asyncio.subprocess.PIPE
    )
    assert fakes.stdout is not None
    urls = json.loads(await fakes.stdout.readline())
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(fakes.terminate)
        configured: dict[str, Any] = {"offline": settings_model("offline").model_validate({})}
        for name, _, make_settings in setups():
            configured[name] = settings_model(name).model_validate(make_settings(urls[name]))
        registry = build_registry(configured)
        stack.push_async_callback(registry.aclose)
        db = Database(Path(tempfile.mkdtemp(prefix="soarbot-enrich-")) / "bench.db")
        await db.open()
        stack.push_async_callback(db.close)
        service = EnrichmentService(registry.intel, db)
        await service.enrich(indicators(10_000))  # warm-up: connections, offline data
        cold = await timed_run(service, args.alerts, args.concurrency)
        warm = await timed_run(service, args.alerts, args.concurrency)
    print(
        f"alerts={args.alerts} x 5 indicators, concurrency={args.concurrency}, vendor delay={args.delay * 1000:.0f} ms"
    )
    print(f"sources: {', '.join(service.sources)}")
    print(summary("enrichment (vendors)", cold))
    print(summary("enrichment (cached) ", warm))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1, help="alerts enriched at once")
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fakes:
        asyncio.run(serve_fakes(args.delay))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
