"""A fake Shodan REST API that checks what the real one checks and answers in its documented shapes.

Like the real API: the key is the ``key`` query parameter (missing or wrong → 401 with nginx's HTML page),
an address it has not scanned is 404 ``{"error": "No information available for that IP."}``, ``asn`` is a
string, ``ports`` are unsorted and ``vulns`` is absent when a host has none.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from aiohttp import web

GOOD_KEY = "shodan-key-good-ABCDEF0123456789"

NOT_FOUND = "No information available for that IP."

_UNAUTHORIZED_PAGE = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

HOSTS: dict[str, dict[str, Any]] = {
    "8.8.8.8": {
        "ip_str": "8.8.8.8",
        "ip": 134744072,
        "hostnames": ["dns.google"],
        "domains": ["dns.google"],
        "org": "Google LLC",
        "isp": "Google LLC",
        "asn": "AS15169",
        "country_code": "US",
        "country_name": "United States",
        "city": "Mountain View",
        "os": None,
        "ports": [443, 53],
        "tags": [],
        "last_update": "2024-05-01T06:12:41.123456",
        "data": [
            {
                "port": 53,
                "transport": "udp",
                "product": "Google DNS",
                "data": "\nRecursion: enabled",
                "timestamp": "2024-05-01T06:12:41.123456",
            },
            {
                "port": 443,
                "transport": "tcp",
                "product": "Google frontend",
                "data": "HTTP/1.1 200 OK\r\n...",
                "timestamp": "2024-04-30T22:01:09.654321",
            },
        ],
    },
    "64.225.1.20": {
        "ip_str": "64.225.1.20",
        "ip": 1088487700,
        "hostnames": ["legacy-web.example.net"],
        "domains": ["example.net"],
        "org": "DigitalOcean, LLC",
        "isp": "DigitalOcean, LLC",
        "asn": "AS14061",
        "country_code": "US",
        "city": "North Bergen",
        "os": "Ubuntu",
        "ports": [443, 22, 80],
        "tags": ["cloud"],
        "vulns": ["CVE-2021-41617", "CVE-2023-38408", "CVE-2016-20012"],
        "last_update": "2024-04-29T11:40:02.000000",
        "data": [
            {
                "port": 22,
                "transport": "tcp",
                "product": "OpenSSH",
                "version": "8.2p1 Ubuntu-4ubuntu0.5",
                "data": "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5",
                "timestamp": "2024-04-29T11:40:02.000000",
            },
        ],
    },
    "91.92.251.103": {
        "ip_str": "91.92.251.103",
        "ip": 1532820327,
        "hostnames": [],
        "domains": [],
        "org": "Limenet",
        "isp": "Limenet",
        "asn": "AS394711",
        "country_code": "NL",
        "os": None,
        "ports": [8443, 443],
        "tags": ["C2", "self-signed"],
        "last_update": "2024-05-01T02:03:04.000000",
        "data": [
            {
                "port": 443,
                "transport": "tcp",
                "product": "Cobalt Strike Beacon",
                "data": "HTTP/1.1 404 Not Found",
                "timestamp": "2024-05-01T02:03:04.000000",
            },
        ],
    },
    "20.1.2.3": {
        "ip_str": "20.1.2.3",
        "ip": 335610371,
        "hostnames": [],
        "domains": [],
        "org": "Microsoft Corporation",
        "isp": "Microsoft Corporation",
        "asn": "AS8075",
        "country_code": "US",
        "os": "Windows",
        "ports": [3389, 445, 80, 21],
        "tags": [],
        "vulns": [f"CVE-20{year}-{n:04d}" for year in (17, 19, 20, 21, 22, 23) for n in (100, 2000)],
        "last_update": "2024-04-28T00:00:00.000000",
        "data": [],
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

    async def host(request: web.Request) -> web.Response:
        if delay:
            await asyncio.sleep(delay)
        key = request.query.get("key")
        if key != GOOD_KEY:
            return web.Response(status=401, text=_UNAUTHORIZED_PAGE, content_type="text/html")
        if state["429"] > 0:
            state["429"] -= 1
            return web.json_response(
                {
                    "error": "Request rate limit reached (1/second). Please wait a second before trying again "
                    "and slow down your API calls, or consider upgrading to a higher API plan."
                },
                status=429,
                headers={"Retry-After": retry_after} if retry_after is not None else None,
            )
        if state["503"] > 0:
            state["503"] -= 1
            return web.Response(status=503, text="<html><body>503 Service Temporarily Unavailable</body></html>")
        ip = request.match_info["ip"]
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return web.json_response({"error": "Invalid IP"}, status=400)
        if ip not in HOSTS:
            return web.json_response({"error": NOT_FOUND}, status=404)
        return web.json_response(HOSTS[ip])

    application = web.Application()
    application.router.add_get("/shodan/host/{ip}", host)
    return application
