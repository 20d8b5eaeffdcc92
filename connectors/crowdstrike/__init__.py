"""CrowdStrike Falcon: network-contain a host (EDR containment), lift containment to release it.

Idempotency comes from the host's own status, never from repeating a call. ``apply`` resolves the hostname to
exactly one device id (none → ConnectorNotFound, several → ConnectorError: several hosts are never contained on
a guess), reads the host's status and only asks Falcon to contain a host that is ``normal`` or
``lift_containment_pending``; ``contained`` or ``containment_pending`` is ALREADY without any POST. The contain
POST is sent once (``retry=False``); if Falcon refuses it with 409 the host is read again and its new status
decides. ``revert`` mirrors this with ``lift_containment``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import Field, SecretStr

from bot.core.errors import ConnectorError, ConnectorNotFound
from bot.core.ports import ActionOutcome, ActionResult, ContainmentKind
from connectors import ConnectorSettings
from connectors.crowdstrike.client import CLOUDS, Cloud, FalconClient, Host, HostAction, HostStatus
from connectors.http import vendor_session
from connectors.oauth import in_context

logger = logging.getLogger(__name__)

CONTAIN = "contain host"
RELEASE = "release host"
_WANTED: dict[HostAction, frozenset[HostStatus]] = {
    "contain": frozenset({HostStatus.CONTAINED, HostStatus.CONTAINMENT_PENDING}),
    "lift_containment": frozenset({HostStatus.NORMAL, HostStatus.LIFT_CONTAINMENT_PENDING}),
}


class Settings(ConnectorSettings):
    """``connectors.crowdstrike``: an API client with the Hosts read + write scope."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    cloud: Cloud = Field(default="us-1", description="us-1 | us-2 | eu-1 | us-gov-1 (base_url overrides it)")
    member_cid: str | None = Field(default=None, description="child CID, for Flight Control (MSSP) parents")


class FalconContainment:
    """Containment for hosts: Falcon network containment."""

    name = "crowdstrike"
    capability = ContainmentKind.EDR

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = vendor_session(
            self.name, settings, CLOUDS[settings.cloud], headers={"Accept": "application/json"}, transport=transport
        )
        self.client = FalconClient(
            self.http,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            member_cid=settings.member_cid,
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Get a token and count the visible hosts (proves the credentials and the Hosts scope)."""
        total = await self.client.count_hosts()
        return f"API client accepted; {total} hosts visible"

    async def apply(self, target: str, *, reason: str, idempotency_key: str) -> ActionResult:
        """Network-contain the host named ``target`` (ALREADY when it is contained or on its way)."""
        try:
            host = await self._resolve(target)
            return await self._drive(CONTAIN, target, host, "contain", reason, idempotency_key)
        except ConnectorError as err:
            raise in_context(self.name, f"contain host {target!r}", err) from err

    async def revert(self, target: str, *, reason: str, undo: Mapping[str, Any]) -> ActionResult:
        """Lift containment of the host (``undo["device_id"]`` from ``apply``, else resolved by name)."""
        try:
            device_id = undo.get("device_id")
            host = await self.client.host(str(device_id)) if device_id else await self._resolve(target)
            return await self._drive(RELEASE, target, host, "lift_containment", reason, "")
        except ConnectorError as err:
            raise in_context(self.name, f"release host {target!r}", err) from err

    async def _resolve(self, hostname: str) -> Host:
        if not hostname.strip():
            raise ConnectorError("empty hostname")
        ids = await self.client.host_ids(hostname)
        if not ids:
            raise ConnectorNotFound(f"no Falcon host named {hostname!r}")
        if len(ids) > 1:
            raise ConnectorError(f"ambiguous: {len(ids)} hosts named {hostname!r} ({', '.join(ids[:5])})")
        return await self.client.host(ids[0])

    async def _drive(
        self, verb: str, target: str, host: Host, action: HostAction, reason: str, key: str
    ) -> ActionResult:
        """Ask for ``action`` unless the host's status already is (or is becoming) the wanted one."""
        wanted = _WANTED[action]
        if host.status in wanted:
            return self._result(verb, target, host, ActionOutcome.ALREADY)
        if not await self.client.act(host.device_id, action):
            host = await self.client.host(host.device_id)  # 409: the status changed since we read it
            if host.status not in wanted:
                raise ConnectorError(f"Falcon refused {action} (409) with the host {host.status}")
            return self._result(verb, target, host, ActionOutcome.ALREADY)
        logger.info("crowdstrike: %s requested for %s (%s): %s [%s]", action, target, host.device_id, reason, key)
        return self._result(verb, target, host, ActionOutcome.DONE)

    def _result(self, verb: str, target: str, host: Host, outcome: ActionOutcome) -> ActionResult:
        if outcome is ActionOutcome.DONE:
            message = f"Falcon host {host.hostname or target}: {verb} requested"
        else:
            message = f"Falcon host {host.hostname or target}: already {host.status}"
        return ActionResult(
            connector=self.name,
            action=verb,
            target=target,
            outcome=outcome,
            message=message,
            reference=host.device_id,
            undo={"device_id": host.device_id},
        )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The Falcon host-containment responder."""
    return [FalconContainment(settings, transport)]
