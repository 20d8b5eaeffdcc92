"""A fake Microsoft Defender for Endpoint API (machines, isolate, unisolate) with Entra tokens.

Machines live in memory with their isolation state. ``$filter`` accepts the two forms soarbot may send
(``computerDnsName eq '...'`` and ``startswith(computerDnsName,'...')``, quotes doubled inside literals) and
answers 400 to anything else. Isolating an isolated machine (or releasing a released one) answers 400
``ActiveRequestAlreadyExists`` — the documented answer while the same request is active; the fake keeps giving it
after the action completes, which is how soarbot treats it either way.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.entra import EntraLogin

Handler = Callable[[web.Request], Awaitable[web.Response]]
AUDIENCE = "https://api.securitycenter.microsoft.com"
_LITERAL = r"'((?:[^']|'')*)'"
_EQ = re.compile(rf"^computerDnsName eq {_LITERAL}$", re.IGNORECASE)
_STARTSWITH = re.compile(rf"^startswith\(computerDnsName,\s*{_LITERAL}\)$", re.IGNORECASE)


def defender_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A Defender API error body."""
    return web.json_response(
        {"error": {"code": code, "message": message, "target": str(uuid.uuid4())}}, status=status, headers=headers
    )


@dataclass
class Machine:
    """One onboarded machine."""

    id: str
    computer_dns_name: str
    isolated: bool = False
    merged_into: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The Machine entity."""
        return {
            "id": self.id,
            "computerDnsName": self.computer_dns_name,
            "firstSeen": "2024-01-01T10:00:00Z",
            "lastSeen": "2024-05-01T10:00:00Z",
            "osPlatform": "Windows10",
            "healthStatus": "Active",
            "onboardingStatus": "Onboarded",
            "riskScore": "Medium",
            "exposureLevel": "Medium",
            "aadDeviceId": None,
            "machineTags": [],
            "mergedIntoMachineId": self.merged_into,
            "isExcluded": False,
        }


def default_machines() -> list[Machine]:
    """A small fleet: one FQDN machine, a short-named one, a look-alike and two machines sharing a name."""
    return [
        Machine("1e5bc9d7e413ddd7902c2932e418702b84d0cc07", "ws-0001.corp.example"),
        Machine("7292e4b8cb74ff1cc3d8a495eb29dc8858b732f7", "ws-0001x.corp.example"),
        Machine("4f2e0ab3cd9184e1b66a7c2f8d9e0a1b2c3d4e5f", "kiosk-7"),
        Machine("a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "dup-01.corp.example"),
        Machine("b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", "dup-01.lab.example"),
        Machine("c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", "old-05.corp.example", merged_into="d4" * 20),
        Machine("d4" * 20, "old-05.corp.example"),
    ]


@dataclass
class Defender:
    """The fake API; ``actions`` lists every accepted isolate/unisolate (the state changes)."""

    machines: list[Machine] = field(default_factory=default_machines)
    login: EntraLogin = field(default_factory=EntraLogin)
    retry_after: str = "1"
    actions: list[dict[str, Any]] = field(default_factory=list)
    throttle: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it answer 429."""
    revoke_tokens_on: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it find every token revoked (→ 401)."""
    fail: Counter[str] = field(default_factory=Counter)
    """Method → how many of the next calls with it answer 500."""

    def app(self) -> web.Application:
        """The aiohttp application (token endpoint under ``/{tenant}``, API under ``/api``)."""
        app = web.Application()
        self.login.add_routes(app)
        app.router.add_get("/api/machines", self._gated(self._list))
        app.router.add_post("/api/machines/{id}/isolate", self._gated(self._isolate))
        app.router.add_post("/api/machines/{id}/unisolate", self._gated(self._unisolate))
        return app

    def machine(self, machine_id: str) -> Machine | None:
        """A machine by id."""
        return next((m for m in self.machines if m.id == machine_id), None)

    def _gated(self, handler: Handler) -> Handler:
        async def gate(request: web.Request) -> web.Response:
            if self.revoke_tokens_on[request.method] > 0:
                self.revoke_tokens_on[request.method] -= 1
                self.login.revoke_all()
            if not self.login.valid(request, AUDIENCE):
                return defender_error(401, "Unauthorized", "Authorization has been denied for this request.")
            if self.throttle[request.method] > 0:
                self.throttle[request.method] -= 1
                return defender_error(
                    429, "TooManyRequests", "Rate limit is exceeded.", headers={"Retry-After": self.retry_after}
                )
            if self.fail[request.method] > 0:
                self.fail[request.method] -= 1
                return defender_error(500, "InternalServerError", "An internal server error occurred.")
            return await handler(request)

        return gate

    async def _list(self, request: web.Request) -> web.Response:
        machines = self.machines
        query = request.query.get("$filter")
        if query is not None:
            eq, starts = _EQ.match(query), _STARTSWITH.match(query)
            if eq is None and starts is None:
                return defender_error(400, "InvalidRequestBody", f"Invalid filter clause: {query}")
            value = ((eq or starts).group(1)).replace("''", "'").lower()  # type: ignore[union-attr]
            if eq is not None:
                machines = [m for m in machines if m.computer_dns_name.lower() == value]
            else:
                machines = [m for m in machines if m.computer_dns_name.lower().startswith(value)]
        top = int(request.query.get("$top", "10000"))
        return web.json_response(
            {
                "@odata.context": "https://api.security.microsoft.com/api/$metadata#Machines",
                "value": [m.to_json() for m in machines[:top]],
            }
        )

    async def _isolate(self, request: web.Request) -> web.Response:
        return await self._act(request, "Isolate")

    async def _unisolate(self, request: web.Request) -> web.Response:
        return await self._act(request, "Unisolate")

    async def _act(self, request: web.Request, kind: str) -> web.Response:
        machine = self.machine(request.match_info["id"])
        if machine is None:
            return defender_error(404, "ResourceNotFound", f"Machine {request.match_info['id']} was not found")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return defender_error(400, "InvalidRequestBody", "Request body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("Comment"), str) or not body["Comment"]:
            return defender_error(400, "InvalidRequestBody", "Comment is required")
        scope = "Full"
        if kind == "Isolate":
            scope = body.get("IsolationType", "Full")
            if scope not in ("Full", "Selective", "UnManagedDevice"):
                return defender_error(400, "InvalidRequestBody", f"IsolationType {scope} is not valid")
        if machine.isolated == (kind == "Isolate"):
            return defender_error(
                400,
                "ActiveRequestAlreadyExists",
                f"Action {kind} for machine {machine.id} already exists in status Pending",
            )
        machine.isolated = kind == "Isolate"
        action = {
            "@odata.context": "https://api.security.microsoft.com/api/$metadata#MachineActions/$entity",
            "id": str(uuid.uuid4()),
            "type": kind,
            "scope": scope,
            "requestor": "soarbot-app",
            "requestorComment": body["Comment"],
            "status": "Pending",
            "machineId": machine.id,
            "computerDnsName": machine.computer_dns_name,
            "creationDateTimeUtc": "2024-05-01T10:00:00.0000000Z",
            "lastUpdateDateTimeUtc": "2024-05-01T10:00:00.0000000Z",
            "relatedFileInfo": None,
        }
        self.actions.append(action)
        return web.json_response(action, status=201)
