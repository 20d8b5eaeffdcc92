"""A fake VirusTotal v3 that checks what the real one checks and answers in its documented shapes.

Like the real API: every valid IP has an object (possibly with no detections), unknown domains, URLs and
files are 404 ``NotFoundError``, a malformed IP is 400 ``InvalidArgumentError``, URL ids are unpadded
URL-safe base64 and a URL object's ``id`` is the SHA-256 of the URL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
from typing import Any

from aiohttp import web

GOOD_KEY = "vt-key-good-0123456789abcdef"

EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
EICAR_SHA1 = "3395856ce81f2b7382dee72602f798b642f14140"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

PHISHING_URL = "https://secure-paypa1.com/signin?next=/account/verify?id=42"


def _stats(harmless: int, malicious: int, suspicious: int, undetected: int, timeout: int = 0) -> dict[str, int]:
    return {
        "harmless": harmless,
        "malicious": malicious,
        "suspicious": suspicious,
        "undetected": undetected,
        "timeout": timeout,
    }


IPS: dict[str, dict[str, Any]] = {
    "8.8.8.8": {
        "as_owner": "GOOGLE",
        "asn": 15169,
        "continent": "NA",
        "country": "US",
        "network": "8.8.8.0/24",
        "regional_internet_registry": "ARIN",
        "reputation": 530,
        "tags": [],
        "jarm": "29d3fd00029d29d00042d43d00041d598ac0c1012db967bb1ad0ff2491b3ae",
        "last_analysis_date": 1714550400,
        "last_analysis_stats": _stats(62, 0, 0, 28),
        "total_votes": {"harmless": 210, "malicious": 31},
    },
    "185.220.101.1": {
        "as_owner": "Stiftung Erneuerbare Freiheit",
        "asn": 60729,
        "continent": "EU",
        "country": "DE",
        "network": "185.220.101.0/24",
        "regional_internet_registry": "RIPE NCC",
        "reputation": -12,
        "tags": ["tor"],
        "last_analysis_date": 1714550400,
        "last_analysis_stats": _stats(58, 14, 2, 20),
        "total_votes": {"harmless": 1, "malicious": 9},
    },
}

DOMAINS: dict[str, dict[str, Any]] = {
    "down.mykings.pw": {
        "categories": {"Dr.Web": "known infection source"},
        "creation_date": 1485015979,
        "registrar": "Namecheap",
        "reputation": 0,
        "tags": [],
        "last_analysis_stats": _stats(83, 8, 0, 7),
        "last_analysis_results": {
            "ADMINUSLabs": {
                "category": "harmless",
                "engine_name": "ADMINUSLabs",
                "method": "blacklist",
                "result": "clean",
            }
        },
        "last_dns_records": [{"ttl": 3599, "type": "A", "value": "1.2.3.4"}],
        "total_votes": {"harmless": 0, "malicious": 0},
    },
    "paypa1-support.net": {
        "registrar": "NameSilo, LLC",
        "reputation": -3,
        "tags": [],
        "last_analysis_stats": _stats(60, 0, 3, 29),
    },
    "example.org": {
        "registrar": "RESERVED-Internet Assigned Numbers Authority",
        "reputation": 12,
        "tags": [],
        "last_analysis_stats": _stats(66, 0, 0, 26),
    },
    "fresh-parked-domain.net": {
        "registrar": "GoDaddy.com, LLC",
        "reputation": 0,
        "tags": [],
        "last_analysis_stats": _stats(0, 0, 0, 91),
    },
}

URLS: dict[str, dict[str, Any]] = {
    PHISHING_URL: {
        "url": PHISHING_URL,
        "last_final_url": PHISHING_URL,
        "title": "Sign in to your account",
        "last_analysis_date": 1714550400,
        "last_http_response_code": 200,
        "threat_names": [],
        "times_submitted": 3,
        "reputation": -5,
        "categories": {"Forcepoint ThreatSeeker": "phishing and other frauds"},
        "tags": [],
        "last_analysis_stats": _stats(68, 11, 1, 12),
    },
}

FILES: dict[str, dict[str, Any]] = {
    EICAR_SHA256: {
        "md5": EICAR_MD5,
        "sha1": EICAR_SHA1,
        "sha256": EICAR_SHA256,
        "size": 68,
        "type_description": "Text",
        "meaningful_name": "eicar.com",
        "names": ["eicar.com", "eicar.com.txt"],
        "reputation": -1,
        "tags": ["text", "known-distributor"],
        "popular_threat_classification": {
            "suggested_threat_label": "virus.eicar/test",
            "popular_threat_category": [{"count": 20, "value": "virus"}],
        },
        "last_analysis_stats": {
            "harmless": 0,
            "type-unsupported": 4,
            "suspicious": 0,
            "confirmed-timeout": 0,
            "timeout": 0,
            "failure": 0,
            "malicious": 62,
            "undetected": 10,
        },
    },
}
_FILE_INDEX = {
    digest: sha256 for sha256, attrs in FILES.items() for digest in (attrs["md5"], attrs["sha1"], attrs["sha256"])
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _object(kind: str, ident: str, collection: str, attributes: dict[str, Any]) -> web.Response:
    return web.json_response(
        {
            "data": {
                "id": ident,
                "type": kind,
                "links": {"self": f"https://www.virustotal.com/api/v3/{collection}/{ident}"},
                "attributes": attributes,
            }
        }
    )


def app(
    *,
    rate_limit_first: int = 0,
    fail_first: int = 0,
    delay: float = 0.0,
    retry_after: str | None = None,
) -> web.Application:
    """The fake; ``rate_limit_first``/``fail_first`` make that many calls answer 429/503 first.

    VirusTotal's 429 carries no ``Retry-After`` unless ``retry_after`` is given.
    """
    state = {"429": rate_limit_first, "503": fail_first}

    # Called by each handler rather than installed as a middleware: ``serve`` appends its recording middleware
    # after the app's own, so a refusing middleware here would hide those calls from the test.
    async def gate(request: web.Request) -> web.Response | None:
        if delay:
            await asyncio.sleep(delay)
        key = request.headers.get("x-apikey")
        if key is None:
            return _error(401, "AuthenticationRequiredError", "X-Apikey header is missing")
        if key != GOOD_KEY:
            return _error(401, "WrongCredentialsError", "Wrong API key")
        if state["429"] > 0:
            state["429"] -= 1
            headers = {"Retry-After": retry_after} if retry_after is not None else None
            return _error(429, "QuotaExceededError", "Quota exceeded", headers)
        if state["503"] > 0:
            state["503"] -= 1
            return _error(503, "TransientError", "Please retry your request later")
        return None

    async def ip_address(request: web.Request) -> web.Response:
        if (refused := await gate(request)) is not None:
            return refused
        ip = request.match_info["ip"]
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return _error(400, "InvalidArgumentError", f'"{ip}" is not a valid IP address')
        attributes = IPS.get(ip) or {"reputation": 0, "tags": [], "last_analysis_stats": _stats(0, 0, 0, 93)}
        return _object("ip_address", ip, "ip_addresses", attributes)

    async def domain(request: web.Request) -> web.Response:
        if (refused := await gate(request)) is not None:
            return refused
        name = request.match_info["domain"]
        if name not in DOMAINS:
            return _error(404, "NotFoundError", f'Domain "{name}" not found')
        return _object("domain", name, "domains", DOMAINS[name])

    async def url(request: web.Request) -> web.Response:
        if (refused := await gate(request)) is not None:
            return refused
        ident = request.match_info["id"]
        try:
            decoded = base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if decoded not in URLS:
            return _error(404, "NotFoundError", f'URL "{ident}" not found')
        return _object("url", hashlib.sha256(decoded.encode()).hexdigest(), "urls", URLS[decoded])

    async def file(request: web.Request) -> web.Response:
        if (refused := await gate(request)) is not None:
            return refused
        digest = request.match_info["hash"].lower()
        if digest not in _FILE_INDEX:
            return _error(404, "NotFoundError", f'File "{digest}" not found')
        sha256 = _FILE_INDEX[digest]
        return _object("file", sha256, "files", FILES[sha256])

    application = web.Application()
    application.router.add_get("/api/v3/ip_addresses/{ip}", ip_address)
    application.router.add_get("/api/v3/domains/{domain}", domain)
    application.router.add_get("/api/v3/urls/{id}", url)
    application.router.add_get("/api/v3/files/{hash}", file)
    return application
