"""A fake RDAP bootstrap plus registries, answering RFC 9083 JSON like rdap.org → ARIN / Verisign.

``/ip/{ip}`` and ``/domain/{name}`` answer 302 to ``/registry/ip/{ip}`` (ARIN-style) and ``/com/v1/domain/{name}``
(Verisign-style) on the same server; the registries answer ``application/rdap+json`` or a 404 error object.
``YOUNG_DOMAIN`` is registered ``young_days_ago`` days before the real current time.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

RDAP_JSON = "application/rdap+json"
YOUNG_DOMAIN = "secure-login-verify.com"

GOOGLE_NET = ipaddress.ip_network("8.8.8.0/24")


def _vcard(*props: tuple[str, str]) -> list[Any]:
    return ["vcard", [["version", {}, "text", "4.0"], *[[name, {}, "text", value] for name, value in props]]]


def network(origin: str) -> dict[str, Any]:
    """ARIN's answer for 8.8.8.0/24, abridged."""
    return {
        "rdapConformance": ["nro_rdap_profile_0", "rdap_level_0", "cidr0", "arin_originas0"],
        "notices": [
            {
                "title": "Terms of Service",
                "description": [
                    "By using the ARIN RDAP/Whois service, you are agreeing to the RDAP/Whois Terms of Use"
                ],
                "links": [
                    {
                        "value": f"{origin}/registry/ip/8.8.8.8",
                        "rel": "terms-of-service",
                        "type": "text/html",
                        "href": "https://www.arin.net/resources/registry/whois/tou/",
                    }
                ],
            }
        ],
        "handle": "NET-8-8-8-0-2",
        "startAddress": "8.8.8.0",
        "endAddress": "8.8.8.255",
        "ipVersion": "v4",
        "name": "GOGL",
        "type": "DIRECT ALLOCATION",
        "parentHandle": "NET-8-0-0-0-0",
        "country": "US",
        "status": ["active"],
        "objectClassName": "ip network",
        "cidr0_cidrs": [{"v4prefix": "8.8.8.0", "length": 24}],
        "links": [
            {
                "value": f"{origin}/registry/ip/8.8.8.8",
                "rel": "self",
                "type": RDAP_JSON,
                "href": f"{origin}/registry/ip/8.8.8.0",
            },
            {
                "value": f"{origin}/registry/ip/8.8.8.8",
                "rel": "alternate",
                "type": "application/xml",
                "href": "https://whois.arin.net/rest/net/NET-8-8-8-0-2",
            },
        ],
        "events": [
            {"eventAction": "last changed", "eventDate": "2023-12-28T17:24:56-05:00"},
            {"eventAction": "registration", "eventDate": "2023-12-28T17:24:33-05:00"},
        ],
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "GOGL",
                "roles": ["registrant"],
                "vcardArray": _vcard(("fn", "Google LLC"), ("kind", "org")),
                "events": [{"eventAction": "registration", "eventDate": "2000-03-30T00:00:00-05:00"}],
                "entities": [
                    {
                        "objectClassName": "entity",
                        "handle": "ABUSE5250-ARIN",
                        "roles": ["abuse"],
                        "vcardArray": _vcard(("fn", "Abuse"), ("kind", "group"), ("email", "network-abuse@google.com")),
                    },
                    {
                        "objectClassName": "entity",
                        "handle": "ZG39-ARIN",
                        "roles": ["technical", "administrative"],
                        "vcardArray": _vcard(("fn", "Google LLC"), ("email", "arin-contact@google.com")),
                    },
                ],
            }
        ],
    }


def domain(origin: str, name: str, registered: str, registrar: str, iana_id: str, abuse: str) -> dict[str, Any]:
    """Verisign's answer for a .com name, abridged."""
    return {
        "objectClassName": "domain",
        "handle": "2138514_DOMAIN_COM-VRSN" if name == "google.com" else "2870163511_DOMAIN_COM-VRSN",
        "ldhName": name.upper(),
        "links": [
            {
                "value": f"{origin}/com/v1/domain/{name.upper()}",
                "rel": "self",
                "href": f"{origin}/com/v1/domain/{name.upper()}",
                "type": RDAP_JSON,
            }
        ],
        "status": ["client delete prohibited", "client transfer prohibited", "client update prohibited"],
        "entities": [
            {
                "objectClassName": "entity",
                "handle": iana_id,
                "roles": ["registrar"],
                "publicIds": [{"type": "IANA Registrar ID", "identifier": iana_id}],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", registrar]]],
                "entities": [
                    {
                        "objectClassName": "entity",
                        "roles": ["abuse"],
                        "vcardArray": [
                            "vcard",
                            [
                                ["version", {}, "text", "4.0"],
                                ["fn", {}, "text", ""],
                                ["tel", {"type": "voice"}, "uri", "tel:+1.2086851750"],
                                ["email", {}, "text", abuse],
                            ],
                        ],
                    }
                ],
            }
        ],
        "events": [
            {"eventAction": "registration", "eventDate": registered},
            {"eventAction": "expiration", "eventDate": "2028-09-14T04:00:00Z"},
            {"eventAction": "last changed", "eventDate": "2019-09-09T15:39:04Z"},
            {"eventAction": "last update of RDAP database", "eventDate": "2025-01-10T12:00:00Z"},
        ],
        "secureDNS": {"delegationSigned": False},
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": f"NS{n}.{name.upper()}"}
            if name == "google.com"
            else {"objectClassName": "nameserver", "ldhName": f"{'AB'[n - 1]}.DNSPOD.COM"}
            for n in (1, 2)
        ],
        "rdapConformance": ["rdap_level_0", "icann_rdap_technical_implementation_guide_0"],
    }


def not_found() -> web.Response:
    return web.json_response(
        {
            "rdapConformance": ["rdap_level_0"],
            "errorCode": 404,
            "title": "Not Found",
            "description": ["The server did not find a match for the query."],
        },
        status=404,
        content_type=RDAP_JSON,
    )


def app(*, rate_limit_first: int = 0, retry_after: str = "1", young_days_ago: int = 5) -> web.Application:
    """The fake; ``rate_limit_first`` makes that many registry answers 429 with ``Retry-After: retry_after``."""
    state = {"429": rate_limit_first}

    def origin(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def bootstrap_ip(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{origin(request)}/registry/ip/{request.match_info['ip']}")

    async def bootstrap_domain(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{origin(request)}/com/v1/domain/{request.match_info['name']}")

    def limited() -> web.Response | None:
        if state["429"] > 0:
            state["429"] -= 1
            return web.json_response(
                {"errorCode": 429, "title": "Too Many Requests", "description": ["Rate limit exceeded"]},
                status=429,
                content_type=RDAP_JSON,
                headers={"Retry-After": retry_after},
            )
        return None

    async def registry_ip(request: web.Request) -> web.Response:
        if (answer := limited()) is not None:
            return answer
        try:
            address = ipaddress.ip_address(request.match_info["ip"])
        except ValueError:
            return web.json_response(
                {"errorCode": 400, "title": "Bad Request", "description": ["Invalid IP address"]},
                status=400,
                content_type=RDAP_JSON,
            )
        if address not in GOOGLE_NET:
            return not_found()
        return web.json_response(network(origin(request)), content_type=RDAP_JSON)

    async def registry_domain(request: web.Request) -> web.Response:
        if (answer := limited()) is not None:
            return answer
        name = request.match_info["name"].lower()
        if name == "google.com":
            body = domain(
                origin(request),
                name,
                "1997-09-15T04:00:00Z",
                "MarkMonitor Inc.",
                "292",
                "abusecomplaints@markmonitor.com",
            )
        elif name == YOUNG_DOMAIN:
            registered = datetime.now(UTC) - timedelta(days=young_days_ago, hours=1)
            body = domain(
                origin(request),
                name,
                registered.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "NameSilo, LLC",
                "1479",
                "abuse@namesilo.com",
            )
        else:
            return not_found()
        return web.json_response(body, content_type=RDAP_JSON)

    application = web.Application()
    application.router.add_get("/ip/{ip}", bootstrap_ip)
    application.router.add_get("/domain/{name}", bootstrap_domain)
    application.router.add_get("/registry/ip/{ip}", registry_ip)
    application.router.add_get("/com/v1/domain/{name}", registry_domain)
    return application
