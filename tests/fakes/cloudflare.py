"""A fake Cloudflare v4 IP Access Rules API for one account and one zone.

Answers in Cloudflare's envelope (``success``, ``errors``, ``messages``, ``result``). A second rule for the same
configuration in a scope is refused with ``10009 firewallaccessrules.api.duplicate_of_existing``; a wrong token
gets 403 ``10000 Authentication error``. The codes for validation errors, a missing rule and rate limiting are
⚠ unverified guesses at Cloudflare's (only the HTTP status matters to the connector).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GOOD_TOKEN = "cf-token-good-0123456789abcdef"
ACCOUNT_ID = "01a7362d577a6c3019a474fd6f485823"
ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
MODES = ("block", "challenge", "whitelist", "js_challenge", "managed_challenge")
TARGETS = ("ip", "ip6", "ip_range", "asn", "country")
RANGE_PREFIXES = {4: (16, 24), 6: (32, 48, 64)}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class State:
    """Rules per scope (``accounts/<id>`` / ``zones/<id>``), counters of state-changing calls, failure knobs."""

    rules: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    creates: int = 0  # every POST
    created: int = 0  # POSTs that made a rule
    deletes: int = 0
    rate_limit_first: int = 0
    fail_create: int = 0
    auth_status: int = 403
    missing_delete_status: int = 404

    def scope_rules(self, scope: str) -> dict[str, dict[str, Any]]:
        return self.rules.setdefault(scope, {})

    def add(self, scope: str, mode: str, target: str, value: str, notes: str = "") -> str:
        """Seed a rule (as if made by hand); returns its id."""
        rule_id = uuid.uuid4().hex
        self.scope_rules(scope)[rule_id] = _rule(rule_id, scope, mode, target, value, notes)
        return rule_id


def _rule(rule_id: str, scope: str, mode: str, target: str, value: str, notes: str) -> dict[str, Any]:
    kind, scope_id = scope.split("/")
    return {
        "id": rule_id,
        "paused": False,
        "mode": mode,
        "allowed_modes": list(MODES),
        "configuration": {"target": target, "value": value},
        "notes": notes,
        "created_on": "2024-05-01T10:00:00.000000Z",
        "modified_on": "2024-05-01T10:00:00.000000Z",
        "scope": {"id": scope_id, "type": "account" if kind == "accounts" else "zone"},
    }


def envelope(
    result: Any = None, *, errors: list[dict[str, Any]] | None = None, status: int = 200, **extra: Any
) -> web.Response:
    return web.json_response(
        {"result": result, "success": not errors, "errors": errors or [], "messages": [], **extra}, status=status
    )


def _valid(target: str, value: str) -> bool:
    try:
        if target == "ip":
            return ipaddress.ip_address(value).version == 4
        if target == "ip6":
            return ipaddress.ip_address(value).version == 6
        if target == "ip_range":
            network = ipaddress.ip_network(value, strict=True)
            return network.prefixlen in RANGE_PREFIXES[network.version]
    except ValueError:
        return False
    return bool(value)


def _dig(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for part in path:
        value = value[part]
    return value


def app(state: State | None = None) -> web.Application:
    """The fake; pass a State to seed rules, inspect counters or turn on failure knobs."""
    st = state if state is not None else State()

    def guarded(handler: Handler) -> Handler:
        async def gate(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {GOOD_TOKEN}":
                return envelope(errors=[{"code": 10000, "message": "Authentication error"}], status=st.auth_status)
            kind, scope_id = request.match_info["kind"], request.match_info["scope_id"]
            if (kind, scope_id) not in {("accounts", ACCOUNT_ID), ("zones", ZONE_ID)}:
                return envelope(
                    errors=[
                        {
                            "code": 7003,
                            "message": f"Could not route to {request.path}, perhaps your object identifier is invalid?",
                        }
                    ],
                    status=404,
                )
            if st.rate_limit_first > 0:
                st.rate_limit_first -= 1
                response = envelope(
                    errors=[{"code": 971, "message": "Please wait and consider throttling your request speed"}],
                    status=429,
                )
                response.headers.update(
                    {"retry-after": "1", "Ratelimit": '"default";r=0;t=1', "Ratelimit-Policy": '"default";q=1200;w=300'}
                )
                return response
            return await handler(request)

        return gate

    def scope_of(request: web.Request) -> str:
        return f"{request.match_info['kind']}/{request.match_info['scope_id']}"

    async def create(request: web.Request) -> web.Response:
        st.creates += 1
        if st.fail_create > 0:
            st.fail_create -= 1
            return web.Response(status=500, text="<html>500 Internal Server Error</html>", content_type="text/html")
        try:
            body = await request.json()
        except ValueError:
            body = None
        configuration = body.get("configuration") if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or body.get("mode") not in MODES
            or not isinstance(configuration, dict)
            or configuration.get("target") not in TARGETS
            or not _valid(str(configuration.get("target")), str(configuration.get("value", "")))
            or not isinstance(body.get("notes", ""), str)
        ):
            return envelope(errors=[{"code": 10014, "message": "firewallaccessrules.api.validation_error"}], status=400)
        rules = st.scope_rules(scope_of(request))
        target, value = configuration["target"], configuration["value"]
        if any(r["configuration"] == {"target": target, "value": value} for r in rules.values()):
            return envelope(
                errors=[{"code": 10009, "message": "firewallaccessrules.api.duplicate_of_existing"}], status=400
            )
        rule_id = st.add(scope_of(request), body["mode"], target, value, body.get("notes", ""))
        st.created += 1
        return envelope(rules[rule_id])

    async def list_rules(request: web.Request) -> web.Response:
        query = request.query
        rules = list(st.scope_rules(scope_of(request)).values())
        for key, path in (
            ("configuration.target", ("configuration", "target")),
            ("configuration.value", ("configuration", "value")),
            ("mode", ("mode",)),
        ):
            if key in query:
                rules = [r for r in rules if _dig(r, path) == query[key]]
        per_page = int(query.get("per_page", "20"))
        page = int(query.get("page", "1"))
        shown = rules[(page - 1) * per_page : page * per_page]
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(shown),
            "total_count": len(rules),
            "total_pages": max(1, -(-len(rules) // per_page)),
        }
        return envelope(shown, result_info=info)

    async def delete(request: web.Request) -> web.Response:
        st.deletes += 1
        rules = st.scope_rules(scope_of(request))
        rule_id = request.match_info["rule_id"]
        if rules.pop(rule_id, None) is None:
            return envelope(
                errors=[{"code": 10001, "message": "firewallaccessrules.api.not_found"}],
                status=st.missing_delete_status,
            )
        return envelope({"id": rule_id})

    base = "/client/v4/{kind}/{scope_id}/firewall/access_rules/rules"
    application = web.Application()
    application.router.add_post(base, guarded(create))
    application.router.add_get(base, guarded(list_rules))
    application.router.add_delete(base + "/{rule_id}", guarded(delete))
    return application
