"""Microsoft Defender for Endpoint: isolate a machine (EDR containment), release it from isolation.

Finding the machine: ``computerDnsName`` is the FQDN for domain-joined machines and the bare name otherwise, so
an exact ``eq`` filter on a short hostname misses most fleets. The lookup asks for
``startswith(computerDnsName,'<name>')`` and keeps the machines whose DNS name *is* the name or is the name
followed by a domain (``ws-1`` matches ``ws-1`` and ``ws-1.corp.example``, never ``ws-10``), case-insensitively;
records merged into another machine (``mergedIntoMachineId``) are dropped. None left → ConnectorNotFound;
several → ConnectorError: several machines are never isolated on a guess.

Idempotency: the Machine entity carries no isolation state, so there is nothing cheap to read first. The
isolate POST is sent once (``retry=False``) and Defender's own answer decides: 201 is DONE, and 400
``ActiveRequestAlreadyExists`` (an identical request is already active) is ALREADY. ``revert`` does the same with
unisolate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.errors import ConnectorError, ConnectorNotFound
from bot.core.ports import ActionOutcome, ActionResult, ContainmentKind
from connectors.defender.client import BASE_URL, DefenderClient, IsolationType, Machine, MachineAction
from connectors.http import RateLimiter, Window, vendor_session
from connectors.microsoft import AppSettings
from connectors.oauth import in_context

logger = logging.getLogger(__name__)

ISOLATE = "isolate host"
RELEASE = "release host"


class Settings(AppSettings):
    """``connectors.defender``: an Entra app with the ``Machine.Isolate`` and ``Machine.Read.All`` permissions.

    ``base_url`` is the API (default https://api.security.microsoft.com; regional hosts such as
    https://eu.api.security.microsoft.com work too).
    """

    isolation_type: IsolationType = "Full"


class DefenderContainment:
    """Containment for hosts: Defender machine isolation."""

    name = "defender"
    capability = ContainmentKind.EDR

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = vendor_session(
            self.name,
            settings,
            BASE_URL,
            headers={"Accept": "application/json"},
            transport=transport,
            # Documented limits of the machines and isolate APIs: 100 calls a minute, 1,500 an hour.
            limiter=RateLimiter(Window(100, 60), Window(1500, 3600)),
        )
        self.client = DefenderClient(
            self.http,
            login_url=settings.login_url,
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
        )
        self._isolation_type: IsolationType = settings.isolation_type

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Get a token and read one machine (proves the credentials and the read permission)."""
        seen = await self.client.any_machine()
        return "app credentials accepted; " + ("machines visible" if seen else "no machines visible")

    async def apply(self, target: str, *, reason: str, idempotency_key: str) -> ActionResult:
        """Isolate the machine named ``target`` (ALREADY when an isolation request is already active)."""
        try:
            machine = await self._resolve(target)
            action = await self.client.isolate(
                machine.id, comment=_comment(reason, idempotency_key), isolation_type=self._isolation_type
            )
        except ConnectorError as err:
            raise in_context(self.name, f"isolate host {target!r}", err) from err
        if action is not None:
            logger.info("defender: isolation of %s (%s) requested: %s", target, machine.id, action.id)
        return self._result(ISOLATE, target, machine.id, action)

    async def revert(self, target: str, *, reason: str, undo: Mapping[str, Any]) -> ActionResult:
        """Release the machine (``undo["machine_id"]`` from ``apply``, else resolved by name)."""
        try:
            machine_id = str(undo.get("machine_id") or "") or (await self._resolve(target)).id
            action = await self.client.unisolate(machine_id, comment=_comment(reason, ""))
        except ConnectorError as err:
            raise in_context(self.name, f"release host {target!r}", err) from err
        if action is not None:
            logger.info("defender: release of %s (%s) requested: %s", target, machine_id, action.id)
        return self._result(RELEASE, target, machine_id, action)

    async def _resolve(self, hostname: str) -> Machine:
        name = hostname.strip().lower()
        if not name:
            raise ConnectorError("empty hostname")
        found = [
            m
            for m in await self.client.machines_named(name)
            if m.merged_into is None
            and (m.computer_dns_name.lower() == name or m.computer_dns_name.lower().startswith(name + "."))
        ]
        if not found:
            raise ConnectorNotFound(f"no Defender machine named {hostname!r}")
        if len(found) > 1:
            names = ", ".join(m.computer_dns_name for m in found[:5])
            raise ConnectorError(f"ambiguous: {len(found)} machines named {hostname!r} ({names})")
        return found[0]

    def _result(self, verb: str, target: str, machine_id: str, action: MachineAction | None) -> ActionResult:
        if action is None:
            outcome = ActionOutcome.ALREADY
            message = f"Defender machine {target}: already requested (ActiveRequestAlreadyExists)"
        else:
            outcome = ActionOutcome.DONE
            message = f"Defender machine {target}: {verb} requested (machine action {action.status})"
        return ActionResult(
            connector=self.name,
            action=verb,
            target=target,
            outcome=outcome,
            message=message,
            reference=action.id if action is not None else None,
            undo={"machine_id": machine_id},
        )


def _comment(reason: str, key: str) -> str:
    """The audit comment Defender requires: the reason, and soarbot's idempotency key when there is one."""
    text = reason.strip() or "requested by soarbot"
    return f"{text} (soarbot {key})" if key else text


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The Defender machine-isolation responder."""
    return [DefenderContainment(settings, transport)]
