"""A fake AbuseIPDB v2 that checks what the real one checks and answers in its documented shapes."""

from __future__ import annotations

from aiohttp import web

GOOD_KEY = "abuse-key-good"

REPORTS = {
    "118.25.6.39": {
        "ipAddress": "118.25.6.39",
        "isPublic": True,
        "ipVersion": 4,
        "isWhitelisted": False,
        "abuseConfidenceScore": 100,
        "countryCode": "CN",
        "usageType": "Data Center/Web Hosting/Transit",
        "isp": "Tencent Cloud Computing (Beijing) Co. Ltd",
        "domain": "tencent.com",
        "hostnames": [],
        "isTor": False,
        "totalReports": 1,
        "numDistinctUsers": 1,
        "lastReportedAt": "2018-12-20T20:55:14+00:00",
    },
    "8.8.8.8": {
        "ipAddress": "8.8.8.8",
        "isPublic": True,
        "ipVersion": 4,
        "isWhitelisted": True,
        "abuseConfidenceScore": 0,
        "countryCode": "US",
        "usageType": "Content Delivery Network",
        "isp": "Google LLC",
        "domain": "google.com",
        "hostnames": ["dns.google"],
        "isTor": False,
        "totalReports": 52,
        "numDistinctUsers": 20,
        "lastReportedAt": "2024-01-01T00:00:00+00:00",
    },
}


def app(*, rate_limit_first: int = 0, fail_first: int = 0, delay: float = 0.0) -> web.Application:
    """The fake; ``rate_limit_first``/``fail_first`` make that many calls answer 429/503 first."""
    state = {"429": rate_limit_first, "503": fail_first, "remaining": 1000}

    async def check(request: web.Request) -> web.StreamResponse:
        if delay:
            import asyncio

            await asyncio.sleep(delay)
        if request.headers.get("Accept") != "application/json":
            return web.Response(status=401, text="<html>Unauthorized</html>", content_type="text/html")
        if request.headers.get("Key") != GOOD_KEY:
            return web.json_response(
                {
                    "errors": [
                        {
                            "detail": "Authentication failed. Your API key is either missing, incorrect, or "
                            "revoked. Note: The APIv2 key differs from the APIv1 key.",
                            "status": 401,
                        }
                    ]
                },
                status=401,
            )
        if state["429"] > 0:
            state["429"] -= 1
            return web.json_response(
                {
                    "errors": [
                        {
                            "detail": "Daily rate limit of 1000 requests exceeded for this endpoint. See "
                            "headers for additional details.",
                            "status": 429,
                        }
                    ]
                },
                status=429,
                headers={
                    "Retry-After": "1",
                    "X-RateLimit-Limit": "1000",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": "1700000000",
                },
            )
        if state["503"] > 0:
            state["503"] -= 1
            return web.Response(status=503, text="Service Unavailable")
        ip = request.query.get("ipAddress", "")
        if not ip or ip.startswith("999."):
            return web.json_response(
                {
                    "errors": [
                        {
                            "detail": "The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or "
                            "2001:4860:4860::8888).",
                            "status": 422,
                            "source": {"parameter": "ipAddress"},
                        }
                    ]
                },
                status=422,
            )
        state["remaining"] -= 1
        data = REPORTS.get(ip) or {
            "ipAddress": ip,
            "isPublic": True,
            "ipVersion": 4,
            "isWhitelisted": None,
            "abuseConfidenceScore": 0,
            "countryCode": None,
            "usageType": None,
            "isp": None,
            "domain": None,
            "hostnames": [],
            "isTor": False,
            "totalReports": 0,
            "numDistinctUsers": 0,
            "lastReportedAt": None,
        }
        return web.json_response(
            {"data": data},
            headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": str(state["remaining"])},
        )

    application = web.Application()
    application.router.add_get("/api/v2/check", check)
    return application
