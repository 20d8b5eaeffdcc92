"""A fake GreyNoise Community API v3 that checks what the real one checks and answers in its documented shapes.

Like the real API: the ``key`` header is optional (absent → the unauthenticated plan, with its own quota), a
wrong key is 401, an address it has not seen is 404 **with a JSON body**, a non-routable or non-IPv4 address
is 400, and 429 carries the plan / rate-limit body without ``Retry-After`` unless asked.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from aiohttp import web

GOOD_KEY = "gn-key-good-0123456789"

NOT_OBSERVED = "IP not observed scanning the internet or contained in RIOT data set."

ADDRESSES: dict[str, dict[str, Any]] = {
    "8.8.8.8": {
        "ip": "8.8.8.8",
        "noise": False,
        "riot": True,
        "classification": "benign",
        "name": "Google Public DNS",
        "link": "https://viz.greynoise.io/riot/8.8.8.8",
        "last_seen": "2024-05-01",
        "message": "Success",
    },
    "45.155.205.233": {
        "ip": "45.155.205.233",
        "noise": True,
        "riot": False,
        "classification": "malicious",
        "name": "unknown",
        "link": "https://viz.greynoise.io/ip/45.155.205.233",
        "last_seen": "2024-05-01",
        "message": "Success",
    },
    "89.248.165.74": {
        "ip": "89.248.165.74",
        "noise": True,
        "riot": False,
        "classification": "suspicious",
        "name": "unknown",
        "link": "https://viz.greynoise.io/ip/89.248.165.74",
        "last_seen": "2024-04-30",
        "message": "Success",
    },
    "80.82.77.139": {
        "ip": "80.82.77.139",
        "noise": True,
        "riot": False,
        "classification": "benign",
        "name": "Shodan.io",
        "link": "https://viz.greynoise.io/ip/80.82.77.139",
        "last_seen": "2024-05-01",
        "message": "Success",
    },
    "103.145.13.1": {
        "ip": "103.145.13.1",
        "noise": True,
        "riot": False,
        "classification": "unknown",
        "name": "unknown",
        "link": "https://viz.greynoise.io/ip/103.145.13.1",
        "last_seen": "2024-04-29",
        "message": "Success",
    },
    "1.1.1.1": {
        "ip": "1.1.1.1",
        "noise": False,
        "riot": True,
        "classification": "unknown",
        "name": "Cloudflare Public DNS",
        "link": "https://viz.greynoise.io/riot/1.1.1.1",
        "last_seen": "2024-05-01",
        "message": "Success",
    },
}


def app(
    *,
    rate_limit_first: int = 0,
    fail_first: int = 0,
    delay: float = 0.0,
    retry_after: str | None = None,
) -> web.Application:
    """The fake; ``rate_limit_first``/``fail_first`` make that many calls answer 429/503 first."""
    state = {"429": rate_limit_first, "503": fail_first}

    async def community(request: web.Request) -> web.Response:
        if delay:
            await asyncio.sleep(delay)
        key = request.headers.get("key")
        if key is not None and key != GOOD_KEY:
            return web.json_response({"message": "Forbidden"}, status=401)
        if state["429"] > 0:
            state["429"] -= 1
            plan = "community" if key else "unauthenticated"
            return web.json_response(
                {
                    "plan": plan,
                    "rate-limit": "50-lookups/day" if key else "100-lookups/day",
                    "plan_url": "https://greynoise.io/pricing",
                    "message": "You have hit your daily rate limit. Please create a free account or upgrade "
                    "your plan at https://greynoise.io/pricing.",
                },
                status=429,
                headers={"Retry-After": retry_after} if retry_after is not None else None,
            )
        if state["503"] > 0:
            state["503"] -= 1
            return web.Response(status=503, text="Service Unavailable")
        ip = request.match_info["ip"]
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            address = None
        if address is None or address.version != 4 or not address.is_global:
            return web.json_response({"message": "Request is not a valid routable IPv4 address"}, status=400)
        if ip in ADDRESSES:
            return web.json_response(ADDRESSES[ip])
        return web.json_response({"ip": ip, "noise": False, "riot": False, "message": NOT_OBSERVED}, status=404)

    application = web.Application()
    application.router.add_get("/v3/community/{ip}", community)
    return application
