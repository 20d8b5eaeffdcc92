"""A fake URLhaus API v1 that checks what the real one checks and answers in its documented shapes.

Only form-encoded POSTs to the exact paths (trailing slash included) are served; a GET or a JSON body gets
``http_post_expected``, a missing or wrong ``Auth-Key`` gets ``unknown_auth_key`` with HTTP 401.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

GOOD_KEY = "urlhaus-auth-key-good"

ONLINE_URL = "http://sskymedia.com/VMYB-ht_JAQo-gi/INV/99401FORPO/20673114777/US/Outstanding-Invoices/"
OFFLINE_URL = "http://117.195.49.21:49427/Mozi.m"
MD5 = "12c8aec5766ac3e6f26f2505e2f4a8f2"
SHA256 = "01fa56184fcaa42b6ee1882787a34098c79898c182814774fd81dc18a6af0b00"

URLS: dict[str, dict[str, Any]] = {
    ONLINE_URL: {
        "query_status": "ok",
        "id": "105821",
        "urlhaus_reference": "https://urlhaus.abuse.ch/url/105821/",
        "url": ONLINE_URL,
        "url_status": "online",
        "host": "sskymedia.com",
        "date_added": "2019-01-19 01:33:26 UTC",
        "last_online": None,
        "threat": "malware_download",
        "blacklists": {"spamhaus_dbl": "abused_legit_malware", "surbl": "listed"},
        "reporter": "Cryptolaemus1",
        "larted": "true",
        "takedown_time_seconds": None,
        "tags": ["emotet", "epoch2", "heodo"],
        "payloads": [
            {
                "firstseen": "2019-01-19",
                "filename": "5616769081079106.doc",
                "file_type": "doc",
                "response_size": "179664",
                "response_md5": MD5,
                "response_sha256": SHA256,
                "urlhaus_download": f"https://urlhaus-api.abuse.ch/v1/download/{SHA256}/",
                "signature": None,
                "virustotal": {"result": "16 / 58", "percent": "27.59", "link": "https://www.virustotal.com/file/"},
                "imphash": None,
                "ssdeep": "3072:Ai9kyxWfmE3a7hb+/SlkLnfrvF6mHhMF2GyGFMQwN:ai9kyxqmEqxnfh6mHiF2GyGFMQwNpKXTNE",
                "tlsh": None,
            }
        ],
    },
    OFFLINE_URL: {
        "query_status": "ok",
        "id": "2210417",
        "urlhaus_reference": "https://urlhaus.abuse.ch/url/2210417/",
        "url": OFFLINE_URL,
        "url_status": "offline",
        "host": "117.195.49.21",
        "date_added": "2022-05-22 07:41:06 UTC",
        "last_online": "2022-05-24 03:10:55 UTC",
        "threat": "malware_download",
        "blacklists": {"spamhaus_dbl": "not listed", "surbl": "not listed"},
        "reporter": "geenensp",
        "larted": "false",
        "takedown_time_seconds": "156589",
        "tags": ["elf", "Mozi"],
        "payloads": [],
    },
}

HOSTS: dict[str, dict[str, Any]] = {
    "vektorex.com": {
        "query_status": "ok",
        "urlhaus_reference": "https://urlhaus.abuse.ch/host/vektorex.com/",
        "host": "vektorex.com",
        "firstseen": "2019-01-15 07:09:01 UTC",
        "url_count": "120",
        "blacklists": {"spamhaus_dbl": "abused_legit_malware", "surbl": "listed"},
        "urls": [
            {
                "id": "121319",
                "urlhaus_reference": "https://urlhaus.abuse.ch/url/121319/",
                "url": "http://vektorex.com/source/Z/6115640.exe",
                "url_status": "online",
                "date_added": "2019-01-30 08:47:04 UTC",
                "threat": "malware_download",
                "reporter": "zbetcheckin",
                "larted": "true",
                "takedown_time_seconds": None,
                "tags": ["AZORult", "exe"],
            },
            {
                "id": "121318",
                "urlhaus_reference": "https://urlhaus.abuse.ch/url/121318/",
                "url": "http://vektorex.com/source/Z/Scan-Copy.exe",
                "url_status": "offline",
                "date_added": "2019-01-30 08:46:51 UTC",
                "threat": "malware_download",
                "reporter": "zbetcheckin",
                "larted": "true",
                "takedown_time_seconds": "8064",
                "tags": ["exe", "Loki"],
            },
        ],
    },
    "117.195.49.21": {
        "query_status": "ok",
        "urlhaus_reference": "https://urlhaus.abuse.ch/host/117.195.49.21/",
        "host": "117.195.49.21",
        "firstseen": "2022-05-22 07:41:06 UTC",
        "url_count": "2",
        "blacklists": {"spamhaus_dbl": "not listed", "surbl": "not listed"},
        "urls": [
            {
                "id": "2210417",
                "urlhaus_reference": "https://urlhaus.abuse.ch/url/2210417/",
                "url": OFFLINE_URL,
                "url_status": "offline",
                "date_added": "2022-05-22 07:41:06 UTC",
                "threat": "malware_download",
                "reporter": "geenensp",
                "larted": "false",
                "takedown_time_seconds": "156589",
                "tags": ["elf", "Mozi"],
            },
            {
                "id": "2209877",
                "urlhaus_reference": "https://urlhaus.abuse.ch/url/2209877/",
                "url": "http://117.195.49.21:49427/i",
                "url_status": "offline",
                "date_added": "2022-05-21 11:02:40 UTC",
                "threat": "malware_download",
                "reporter": "geenensp",
                "larted": "false",
                "takedown_time_seconds": None,
                "tags": None,
            },
        ],
    },
}

PAYLOAD: dict[str, Any] = {
    "query_status": "ok",
    "md5_hash": MD5,
    "sha256_hash": SHA256,
    "file_type": "exe",
    "file_size": "445952",
    "signature": "AZORult",
    "firstseen": "2019-01-30 08:47:04",
    "lastseen": "2019-02-02 10:11:35",
    "url_count": "2",
    "urlhaus_download": f"https://urlhaus-api.abuse.ch/v1/download/{SHA256}/",
    "virustotal": {"result": "41 / 70", "percent": "58.57", "link": "https://www.virustotal.com/file/"},
    "imphash": "f8de5d3a2c2e9d6f2a6e1f4e3f2b1c0a",
    "ssdeep": "6144:jYzqKL/BfmU4cQ0uY8eWgvZ3gjs4BCN4L:jYzqKtmlcQx/O3q9BCN",
    "tlsh": None,
    "urls": [
        {
            "url_id": "121319",
            "url": "http://vektorex.com/source/Z/6115640.exe",
            "url_status": "online",
            "urlhaus_reference": "https://urlhaus.abuse.ch/url/121319/",
            "filename": "6115640.exe",
            "firstseen": "2019-01-30",
            "lastseen": None,
        },
        {
            "url_id": "121402",
            "url": "http://vektorex.com/source/Z/6115640b.exe",
            "url_status": "offline",
            "urlhaus_reference": "https://urlhaus.abuse.ch/url/121402/",
            "filename": "6115640b.exe",
            "firstseen": "2019-01-31",
            "lastseen": "2019-02-02",
        },
    ],
}

HEX = frozenset("0123456789abcdef")


def app(*, rate_limit_first: int = 0, bad_key_status: int = 401) -> web.Application:
    """The fake; ``rate_limit_first`` answers that many calls 429 first, ``bad_key_status`` is the bad-key status."""
    state = {"429": rate_limit_first}

    async def form(request: web.Request) -> dict[str, str] | web.Response:
        """The posted form, or the answer the real API gives when the request is not one."""
        if request.headers.get("Auth-Key") != GOOD_KEY:
            return web.json_response({"query_status": "unknown_auth_key"}, status=bad_key_status)
        if state["429"] > 0:
            state["429"] -= 1
            return web.Response(status=429, text="Too Many Requests")
        if request.method != "POST" or request.content_type != "application/x-www-form-urlencoded":
            return web.json_response({"query_status": "http_post_expected"})
        return {key: str(value) for key, value in (await request.post()).items()}

    async def url(request: web.Request) -> web.Response:
        fields = await form(request)
        if isinstance(fields, web.Response):
            return fields
        value = fields.get("url", "")
        if not value.startswith(("http://", "https://")):
            return web.json_response({"query_status": "invalid_url"})
        return web.json_response(URLS.get(value, {"query_status": "no_results"}))

    async def host(request: web.Request) -> web.Response:
        fields = await form(request)
        if isinstance(fields, web.Response):
            return fields
        value = fields.get("host", "")
        if "." not in value and ":" not in value:
            return web.json_response({"query_status": "invalid_host"})
        return web.json_response(HOSTS.get(value, {"query_status": "no_results"}))

    async def payload(request: web.Request) -> web.Response:
        fields = await form(request)
        if isinstance(fields, web.Response):
            return fields
        if "md5_hash" in fields:
            value, length, invalid = fields["md5_hash"], 32, "invalid_md5"
        elif "sha256_hash" in fields:
            value, length, invalid = fields["sha256_hash"], 64, "invalid_sha256"
        else:
            return web.json_response({"query_status": "invalid_md5"})
        if len(value) != length or not set(value) <= HEX:
            return web.json_response({"query_status": invalid})
        if value in (MD5, SHA256):
            return web.json_response(PAYLOAD)
        return web.json_response({"query_status": "no_results"})

    application = web.Application()
    for path, handler in (("/v1/url/", url), ("/v1/host/", host), ("/v1/payload/", payload)):
        application.router.add_route("*", path, handler)
    return application
