"""Cloudflare API v4: IP Access Rules of an account or a zone.

``{scope}`` is ``accounts/<account_id>`` or ``zones/<zone_id>``; auth is a Bearer API token. Every answer is an
envelope ``{"success": bool, "errors": [{"code", "message"}], "messages": [], "result": ...}``. A rule for a
configuration (target + value) that already has one fails with code ``10009``
(``firewallaccessrules.api.duplicate_of_existing``); code ``10000`` is an authentication error. The API allows
1,200 requests per 5 minutes and answers 429 with ``retry-after`` beyond that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorUnavailable
from connectors.http import VendorHttp, json_body

BASE_URL = "https://api.cloudflare.com/client/v4"
AUTH_ERROR = 10000
DUPLICATE = 10009


@dataclass(frozen=True, slots=True)
class AccessRule:
    """One IP Access Rule."""

    id: str
    mode: str
    target: str
    value: str
    notes: str


@dataclass(frozen=True, slots=True)
class Created:
    """The answer to a create: the new rule, or ``duplicate`` when one already existed for the configuration."""

    rule: AccessRule | None
    duplicate: bool


class CloudflareClient:
    """Typed access to the access-rule endpoints under one scope (``accounts/<id>`` or ``zones/<id>``)."""

    def __init__(self, http: VendorHttp, scope: str) -> None:
        self.http = http
        self.rules_path = f"/{scope}/firewall/access_rules/rules"

    async def create_rule(self, *, mode: str, target: str, value: str, notes: str) -> Created:
        """Create a rule; never retried. A duplicate configuration is reported, not raised."""
        body = {"mode": mode, "configuration": {"target": target, "value": value}, "notes": notes}
        response = await self.http.request("POST", self.rules_path, json=body, retry=False)
        envelope = _envelope(response)
        if envelope.get("success") is True:
            return Created(rule=_rule(envelope.get("result")), duplicate=False)
        if DUPLICATE in _codes(envelope):
            return Created(rule=None, duplicate=True)
        raise _failure(response, envelope, f"creating a {mode} rule for {value}")

    async def find_rules(self, *, target: str, value: str, per_page: int = 50) -> list[AccessRule]:
        """The rules whose configuration is exactly ``target``/``value``."""
        params = {"configuration.target": target, "configuration.value": value, "per_page": str(per_page)}
        response = await self.http.request("GET", self.rules_path, params=params)
        envelope = _envelope(response)
        if envelope.get("success") is not True:
            raise _failure(response, envelope, f"listing rules for {value}")
        result = envelope.get("result")
        rules = [_rule(item) for item in result] if isinstance(result, list) else []
        return [rule for rule in rules if rule.target == target and rule.value == value]

    async def count_rules(self) -> int | None:
        """How many rules the scope has (``result_info.total_count``); proves the token and its scope."""
        response = await self.http.request("GET", self.rules_path, params={"per_page": "1"})
        envelope = _envelope(response)
        if envelope.get("success") is not True:
            raise _failure(response, envelope, "listing rules")
        info = envelope.get("result_info")
        total = info.get("total_count") if isinstance(info, dict) else None
        return total if isinstance(total, int) else None

    async def delete_rule(self, rule_id: str) -> bool:
        """Delete one rule; never retried. False when Cloudflare answers 404 (the rule no longer exists)."""
        response = await self.http.request("DELETE", f"{self.rules_path}/{rule_id}", retry=False)
        envelope = _envelope(response)
        if envelope.get("success") is True:
            return True
        if response.status_code == 404:
            return False
        raise _failure(response, envelope, f"deleting rule {rule_id}")


def _envelope(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 500:
        raise ConnectorUnavailable(f"cloudflare: HTTP {response.status_code}")
    body = json_body(response)
    if not isinstance(body, dict):
        raise ConnectorUnavailable(f"cloudflare: unexpected answer (HTTP {response.status_code})")
    return body


def _codes(envelope: dict[str, Any]) -> set[int]:
    errors = envelope.get("errors")
    if not isinstance(errors, list):
        return set()
    return {e["code"] for e in errors if isinstance(e, dict) and isinstance(e.get("code"), int)}


def _failure(response: httpx.Response, envelope: dict[str, Any], what: str) -> ConnectorError:
    errors = envelope.get("errors")
    text = "; ".join(
        f"{e.get('code')} {e.get('message')}"
        for e in (errors if isinstance(errors, list) else [])
        if isinstance(e, dict)
    )
    message = f"cloudflare: {what} failed: {text[:300] or f'HTTP {response.status_code}'}"
    if AUTH_ERROR in _codes(envelope):
        return ConnectorAuthError(message)
    return ConnectorError(message)


def _rule(item: Any) -> AccessRule:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise ConnectorUnavailable("cloudflare: access rule without an id")
    configuration = item.get("configuration")
    if not isinstance(configuration, dict):
        configuration = {}
    return AccessRule(
        id=item["id"],
        mode=str(item.get("mode", "")),
        target=str(configuration.get("target", "")),
        value=str(configuration.get("value", "")),
        notes=str(item.get("notes") or ""),
    )
