"""Cloudflare IP Access Rules: block an IP or range (firewall containment), delete the rule to unblock.

Idempotency comes from Cloudflare itself: it keeps one rule per configuration (target + value) in a scope and
answers a second create with error ``10009``. That answer counts as ALREADY blocked, after looking the existing
rule up so ``revert`` can delete it, unless the existing rule has another mode (an allow rule for the same IP is
never taken for a block). ``revert`` deletes the rule ``apply`` returned, or looks it up by configuration; no
rule means the IP is ALREADY unblocked. Creates and deletes are never retried blind.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any, Literal

import httpx
from pydantic import SecretStr, model_validator

from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorUnavailable
from bot.core.ports import ActionOutcome, ActionResult, ContainmentKind
from connectors import ConnectorSettings
from connectors.cloudflare.client import BASE_URL, AccessRule, CloudflareClient
from connectors.http import RateLimiter, Window, credential_id, vendor_session

logger = logging.getLogger(__name__)

RANGE_PREFIXES = {4: frozenset({16, 24}), 6: frozenset({32, 48, 64})}
"""The CIDR lengths Cloudflare accepts for an ``ip_range`` target."""
NOTES_MAX = 500


class Settings(ConnectorSettings):
    """``connectors.cloudflare``: exactly one of ``account_id`` (all zones) or ``zone_id`` (one zone)."""

    api_token: SecretStr
    account_id: str | None = None
    zone_id: str | None = None
    mode: Literal["block", "challenge", "js_challenge", "managed_challenge"] = "block"

    @model_validator(mode="after")
    def _one_scope(self) -> Settings:
        if (self.account_id is None) == (self.zone_id is None):
            raise ValueError("set exactly one of account_id (rules for every zone) or zone_id (one zone)")
        return self

    @property
    def scope(self) -> str:
        """``accounts/<id>`` or ``zones/<id>``."""
        return f"accounts/{self.account_id}" if self.account_id is not None else f"zones/{self.zone_id}"


def rule_target(value: str) -> tuple[str, str]:
    """The access-rule ``(target, value)`` for an address or CIDR range (ConnectorError if Cloudflare can't take it).

    A single address is ``ip`` or ``ip6``; a /32 (IPv4) or /128 (IPv6) range is treated as that address; other
    ranges are ``ip_range`` and must be IPv4 /16 or /24, or IPv6 /32, /48 or /64.
    """
    text = value.strip()
    try:
        if "/" not in text:
            address = ipaddress.ip_address(text)
            return ("ip" if address.version == 4 else "ip6", address.compressed)
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as err:
        raise ConnectorError(f"cloudflare: {value!r} is not an IP address or network ({err})") from err
    if network.num_addresses == 1:
        return ("ip" if network.version == 4 else "ip6", network.network_address.compressed)
    allowed = RANGE_PREFIXES[network.version]
    if network.prefixlen not in allowed:
        lengths = ", ".join(f"/{n}" for n in sorted(allowed))
        raise ConnectorError(f"cloudflare: IPv{network.version} ranges must be {lengths}; got {network.compressed}")
    return ("ip_range", network.compressed)


class CloudflareContainment:
    """Containment for IPs: an IP Access Rule in ``mode`` (block by default)."""

    name = "cloudflare"
    capability = ContainmentKind.FIREWALL

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        token = settings.api_token.get_secret_value()
        self.http = vendor_session(
            self.name,
            settings,
            BASE_URL,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            transport=transport,
            # 1,200 calls per 5 minutes per user; going over blocks every call for 5 minutes, so stay under it.
            limiter=RateLimiter(Window(1200, 300)),
        )
        self.client = CloudflareClient(self.http, settings.scope)
        self.credential_id = credential_id(token)
        self.mode = settings.mode
        self._scope = settings.scope

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """List one rule to prove the token and its access to the account or zone."""
        total = await self.client.count_rules()
        return f"API token accepted for {self._scope}; {total if total is not None else 'unknown'} access rules"

    async def apply(self, target: str, *, reason: str, idempotency_key: str) -> ActionResult:
        """Block ``target`` (an IP or an allowed CIDR range) with an access rule."""
        kind, value = rule_target(target)
        notes = f"soarbot: {reason} [{idempotency_key}]"[:NOTES_MAX]
        created = await self.client.create_rule(mode=self.mode, target=kind, value=value, notes=notes)
        if created.rule is not None:
            logger.info(
                "cloudflare: %s rule %s created for %s [%s]", self.mode, created.rule.id, value, idempotency_key
            )
            return self._result("block IP", target, ActionOutcome.DONE, f"{self.mode} rule created", created.rule)
        existing = await self.client.find_rules(target=kind, value=value)
        ours = next((rule for rule in existing if rule.mode == self.mode), None)
        if ours is None and existing:
            raise ConnectorError(
                f"cloudflare: {value} already has a {existing[0].mode} rule ({existing[0].id}); not changing it"
            )
        return self._result("block IP", target, ActionOutcome.ALREADY, f"an existing {self.mode} rule applies", ours)

    async def revert(self, target: str, *, reason: str, undo: Mapping[str, Any]) -> ActionResult:
        """Delete the rule ``apply`` created (``undo["rule_id"]``), else the ``mode`` rule found for ``target``."""
        rule_id = undo.get("rule_id")
        if not isinstance(rule_id, str) or not rule_id:
            kind, value = rule_target(target)
            found = [rule for rule in await self.client.find_rules(target=kind, value=value) if rule.mode == self.mode]
            if not found:
                return self._result("unblock IP", target, ActionOutcome.ALREADY, f"no {self.mode} rule", None)
            rule_id = found[0].id
        deleted = await self._delete(rule_id, target)
        if not deleted:
            return self._result("unblock IP", target, ActionOutcome.ALREADY, f"rule {rule_id} was already gone", None)
        logger.info("cloudflare: rule %s deleted for %s", rule_id, target)
        return ActionResult(
            connector=self.name,
            action="unblock IP",
            target=target,
            outcome=ActionOutcome.DONE,
            message=f"cloudflare rule {rule_id} deleted",
            reference=rule_id,
        )

    async def _delete(self, rule_id: str, target: str) -> bool:
        """Delete a rule; when Cloudflare refuses, re-read: a rule that is gone counts as deleted before."""
        try:
            return await self.client.delete_rule(rule_id)
        except (ConnectorAuthError, ConnectorUnavailable):
            raise
        except ConnectorError:
            kind, value = rule_target(target)
            if any(rule.id == rule_id for rule in await self.client.find_rules(target=kind, value=value)):
                raise
            return False

    def _result(
        self, action: str, target: str, outcome: ActionOutcome, what: str, rule: AccessRule | None
    ) -> ActionResult:
        return ActionResult(
            connector=self.name,
            action=action,
            target=target,
            outcome=outcome,
            message=f"cloudflare {self._scope}: {what}" + (f" ({rule.id})" if rule else ""),
            reference=rule.id if rule else None,
            undo={"rule_id": rule.id} if rule else {},
        )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The Cloudflare firewall responder."""
    return [CloudflareContainment(settings, transport)]
