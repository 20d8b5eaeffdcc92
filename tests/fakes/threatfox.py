"""A fake ThreatFox API v1 that checks what the real one checks and answers in its documented shapes.

Only ``POST /api/v1/`` with a JSON body is served. A missing or wrong ``Auth-Key`` gets ``unknown_auth_key`` with
HTTP 401; a miss is ``no_result`` (singular) with ``data`` a sentence, as the real API answers.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

GOOD_KEY = "threatfox-auth-key-good"

SAMPLE_MD5 = "5b4a8a4f8e7e2c3c2d5b1a0f6e9d8c7b"
SAMPLE_SHA256 = "9f1c6b2a3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"


def _ioc(
    id_: str,
    ioc: str,
    ioc_type: str,
    threat_type: str,
    malware: str,
    printable: str,
    confidence: int,
    tags: list[str] | None,
    *,
    first_seen: str = "2021-03-02 09:46:28 UTC",
    samples: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "id": id_,
        "ioc": ioc,
        "threat_type": threat_type,
        "threat_type_desc": "Indicator that identifies a botnet command&control server (C&C)"
        if threat_type == "botnet_cc"
        else "Indicator that identifies a malware distribution server (payload delivery)",
        "ioc_type": ioc_type,
        "ioc_type_desc": {
            "ip:port": "ip:port combination that is used for botnet Command&control (C&C)",
            "domain": "Domain that is used for botnet Command&control (C&C)",
            "url": "URL that is used for payload delivery",
        }[ioc_type],
        "malware": malware,
        "malware_printable": printable,
        "malware_alias": None,
        "malware_malpedia": f"https://malpedia.caad.fkie.fraunhofer.de/details/{malware}",
        "confidence_level": confidence,
        "first_seen": first_seen,
        "last_seen": None,
        "reference": None,
        "reporter": "abuse_ch",
        "tags": tags,
        "malware_samples": samples or [],
    }


IOCS: list[dict[str, Any]] = [
    _ioc(
        "41",
        "139.180.203.104:443",
        "ip:port",
        "botnet_cc",
        "win.cobalt_strike",
        "Cobalt Strike",
        100,
        ["CobaltStrike"],
        samples=[
            {
                "time_stamp": "2021-03-23 08:18:06 UTC",
                "md5_hash": SAMPLE_MD5,
                "sha256_hash": SAMPLE_SHA256,
                "malware_bazaar": f"https://bazaar.abuse.ch/sample/{SAMPLE_SHA256}/",
            }
        ],
    ),
    _ioc("1207", "139.180.203.104:8080", "ip:port", "botnet_cc", "win.cobalt_strike", "Cobalt Strike", 75, None),
    _ioc("88231", "39.180.203.104:80", "ip:port", "botnet_cc", "elf.mirai", "Mirai", 30, ["Mirai", "elf"]),
    _ioc(
        "1195644",
        "update-winsrv.com",
        "domain",
        "botnet_cc",
        "win.asyncrat",
        "AsyncRAT",
        75,
        ["AsyncRAT", "RAT"],
        first_seen="2023-11-02 14:05:11 UTC",
    ),
    _ioc(
        "1195702",
        "http://45.95.147.236/bins/sora.arm7",
        "url",
        "payload_delivery",
        "elf.mirai",
        "Mirai",
        100,
        ["mirai", "sora"],
    ),
]

MISS = "Your search did not yield any results"
HEX = frozenset("0123456789abcdef")


def app(*, rate_limit_first: int = 0, bad_key_status: int = 401, miss_status: str = "no_result") -> web.Application:
    """The fake; ``rate_limit_first`` answers that many calls 429 first, ``miss_status`` is the word for a miss."""
    state = {"429": rate_limit_first}

    def miss() -> web.Response:
        return web.json_response({"query_status": miss_status, "data": MISS})

    async def api(request: web.Request) -> web.Response:
        if request.headers.get("Auth-Key") != GOOD_KEY:
            return web.json_response({"query_status": "unknown_auth_key"}, status=bad_key_status)
        if state["429"] > 0:
            state["429"] -= 1
            return web.Response(status=429, text="Too Many Requests")
        try:
            body = json.loads(await request.text())
        except ValueError:
            body = None
        if request.content_type != "application/json" or not isinstance(body, dict):
            return web.json_response({"query_status": "unknown_query"})
        if body.get("query") == "search_ioc":
            term = str(body.get("search_term", "")).strip()
            if len(term) < 3 or " " in term:
                return web.json_response({"query_status": "illegal_search_term"})
            exact = body.get("exact_match") is True
            hits = [i for i in IOCS if (i["ioc"] == term if exact else term in i["ioc"])]
        elif body.get("query") == "search_hash":
            digest = str(body.get("hash", "")).lower()
            if len(digest) not in (32, 64) or not set(digest) <= HEX:
                return web.json_response({"query_status": "illegal_hash"})
            hits = [i for i in IOCS if any(digest in (s["md5_hash"], s["sha256_hash"]) for s in i["malware_samples"])]
        else:
            return web.json_response({"query_status": "unknown_query"})
        if not hits:
            return miss()
        return web.json_response({"query_status": "ok", "data": hits})

    application = web.Application()
    application.router.add_route("*", "/api/v1/", api)
    return application
