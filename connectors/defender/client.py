"""Microsoft Defender for Endpoint API: find machines by DNS name, isolate and release them.

Tokens come from Entra ID (``POST {login}/{tenant}/oauth2/v2.0/token``, client credentials, scope
``https://api.securitycenter.microsoft.com/.default``); calls carry ``Authorization: Bearer``. Isolation answers
201 with a MachineAction; while an identical request is still active it answers 400 with the error code
``ActiveRequestAlreadyExists``. Errors are ``{"error": {"code", "message", "target"}}``. Limits: 100 calls per
minute and 1,500 per hour, 429 with ``Retry-After`` beyond.
(https://learn.microsoft.com/en-us/defender-endpoint/api/isolate-machine, .../get-machines)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from bot.core.errors import ConnectorNotFound
from connectors.http import json_answer, json_or_none
from connectors.microsoft import LOGIN_URL as LOGIN_URL
from connectors.microsoft import AppClient
from connectors.microsoft import error_text as error_text

BASE_URL = "https://api.security.microsoft.com"
SCOPE = "https://api.securitycenter.microsoft.com/.default"
ALREADY_ACTIVE = "ActiveRequestAlreadyExists"
IsolationType = Literal["Full", "Selective"]


@dataclass(frozen=True, slots=True)
class Machine:
    """The parts of a Machine entity soarbot uses."""

    id: str
    computer_dns_name: str
    health_status: str | None
    merged_into: str | None


@dataclass(frozen=True, slots=True)
class MachineAction:
    """A MachineAction as returned when an isolate / unisolate request is accepted."""

    id: str
    type: str
    status: str
    machine_id: str


class DefenderClient(AppClient):
    """Typed access to the Defender endpoints soarbot calls."""

    scope = SCOPE

    async def any_machine(self) -> bool:
        """Whether the app can read at least one machine (proves the token and ``Machine.Read.All``)."""
        response = await self.auth.request("GET", "/api/machines", retry=True, params={"$top": "1"})
        if response.status_code == 404:  # documented: no recent machines
            return False
        return bool(_answer(response, "list machines").get("value"))

    async def machines_named(self, prefix: str) -> list[Machine]:
        """Machines whose ``computerDnsName`` starts with ``prefix`` (OData ``startswith``, case-insensitive)."""
        response = await self.auth.request(
            "GET",
            "/api/machines",
            retry=True,
            params={"$filter": f"startswith(computerDnsName,{odata_string(prefix)})"},
        )
        if response.status_code == 404:
            return []
        machines = []
        for item in _answer(response, f"find machine {prefix!r}").get("value") or []:
            if isinstance(item, dict) and item.get("id"):
                machines.append(
                    Machine(
                        id=str(item["id"]),
                        computer_dns_name=str(item.get("computerDnsName") or ""),
                        health_status=item.get("healthStatus"),
                        merged_into=item.get("mergedIntoMachineId") or None,
                    )
                )
        return machines

    async def isolate(self, machine_id: str, *, comment: str, isolation_type: IsolationType) -> MachineAction | None:
        """Request isolation once (never retried); ``None`` when an isolation request is already active."""
        body = {"Comment": comment, "IsolationType": isolation_type}
        return await self._act(machine_id, "isolate", body)

    async def unisolate(self, machine_id: str, *, comment: str) -> MachineAction | None:
        """Request release from isolation once (never retried); ``None`` when such a request is already active."""
        return await self._act(machine_id, "unisolate", {"Comment": comment})

    async def _act(self, machine_id: str, verb: str, body: dict[str, str]) -> MachineAction | None:
        path = f"/api/machines/{quote(machine_id, safe='')}/{verb}"
        response = await self.auth.request("POST", path, retry=False, json=body)
        if response.status_code == 400 and _error_code(json_or_none(response)) == ALREADY_ACTIVE:
            return None
        if response.status_code == 404:
            raise ConnectorNotFound(
                f"defender: {verb} {machine_id}: {error_text(json_or_none(response)) or 'not found'}"
            )
        data = _answer(response, f"{verb} {machine_id}", ok=(200, 201))
        return MachineAction(
            id=str(data.get("id") or ""),
            type=str(data.get("type") or verb),
            status=str(data.get("status") or "Pending"),
            machine_id=str(data.get("machineId") or machine_id),
        )


def odata_string(value: str) -> str:
    """``value`` as an OData string literal: single-quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _error_code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code")) if isinstance(error, dict) and error.get("code") else None


def _answer(response: httpx.Response, what: str, ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
    """The JSON body of a good answer; anything else raises with Defender's error text."""
    return json_answer(response, "defender", what, error_text, ok)
