"""CrowdStrike Falcon Hosts API: find a host, read its containment status, contain / lift containment.

Auth is OAuth2 client credentials (``POST /oauth2/token``, form ``client_id``/``client_secret`` → **201**), then
``Authorization: Bearer``. Every answer has the shape ``{"meta": {...}, "resources": [...], "errors": [{"code",
"message"}]}``. Host actions take ``action_name`` in the **query** and ``{"ids": [...]}`` in the body and answer
202; a host already in (or on its way to) the asked state is refused with 409.
(https://developer.crowdstrike.com/api-reference/collections/hosts/)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from bot.core.errors import ConnectorError, ConnectorNotFound, ConnectorUnavailable
from connectors.http import VendorHttp, json_answer, json_or_none
from connectors.oauth import ClientCredentials

CLOUDS = {
    "us-1": "https://api.crowdstrike.com",
    "us-2": "https://api.us-2.crowdstrike.com",
    "eu-1": "https://api.eu-1.crowdstrike.com",
    "us-gov-1": "https://api.laggar.gcw.crowdstrike.com",
}
Cloud = Literal["us-1", "us-2", "eu-1", "us-gov-1"]
HostAction = Literal["contain", "lift_containment"]
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a password


class HostStatus(StrEnum):
    """A host's network containment status (``status`` of a device entity)."""

    NORMAL = "normal"
    CONTAINMENT_PENDING = "containment_pending"
    CONTAINED = "contained"
    LIFT_CONTAINMENT_PENDING = "lift_containment_pending"


@dataclass(frozen=True, slots=True)
class Host:
    """The parts of a device entity soarbot uses."""

    device_id: str
    hostname: str
    status: HostStatus


class FalconClient:
    """Typed access to the Falcon endpoints soarbot calls."""

    def __init__(self, http: VendorHttp, *, client_id: str, client_secret: SecretStr, member_cid: str | None) -> None:
        self.http = http
        self.auth = ClientCredentials(
            http,
            token_url=TOKEN_PATH,
            client_id=client_id,
            client_secret=client_secret,
            form={"member_cid": member_cid} if member_cid else None,
            error_text=error_text,
        )

    async def count_hosts(self) -> int:
        """How many hosts the API client can see (one cheap query: proves the token and the Hosts scope)."""
        response = await self.auth.request("GET", "/devices/queries/devices/v1", retry=True, params={"limit": "1"})
        body = _answer(response, "list hosts")
        meta = body.get("meta")
        pagination = meta.get("pagination") if isinstance(meta, dict) else None
        total = pagination.get("total") if isinstance(pagination, dict) else None
        return int(total) if isinstance(total, int) else len(body.get("resources") or [])

    async def host_ids(self, hostname: str) -> list[str]:
        """The device ids whose hostname is ``hostname`` (FQL exact match, quotes escaped)."""
        response = await self.auth.request(
            "GET", "/devices/queries/devices/v1", retry=True, params={"filter": f"hostname:{fql_string(hostname)}"}
        )
        body = _answer(response, f"find host {hostname!r}")
        return [str(device_id) for device_id in body.get("resources") or []]

    async def host(self, device_id: str) -> Host:
        """One host's details and containment status."""
        response = await self.auth.request("GET", "/devices/entities/devices/v2", retry=True, params={"ids": device_id})
        if response.status_code == 404:
            raise ConnectorNotFound(f"crowdstrike: no host with device id {device_id}")
        body = _answer(response, f"read host {device_id}")
        for resource in body.get("resources") or []:
            if isinstance(resource, dict) and resource.get("device_id") == device_id:
                try:
                    status = HostStatus(str(resource.get("status")))
                except ValueError as err:
                    raise ConnectorUnavailable(
                        f"crowdstrike: host {device_id} has an unknown status {resource.get('status')!r}"
                    ) from err
                return Host(device_id, str(resource.get("hostname") or ""), status)
        raise ConnectorNotFound(f"crowdstrike: no host with device id {device_id}")

    async def act(self, device_id: str, action: HostAction) -> bool:
        """Ask for ``action`` on one host, once (never retried); False when Falcon refuses it with 409.

        A 409 means the host is not in a state the action applies to (already contained, already released, or
        a request pending); the caller re-reads the host rather than repeating the call.
        """
        response = await self.auth.request(
            "POST",
            "/devices/entities/devices-actions/v2",
            retry=False,
            params={"action_name": action},
            json={"ids": [device_id]},
        )
        if response.status_code == 409:
            return False
        if response.status_code == 404:
            raise ConnectorNotFound(
                f"crowdstrike: {action} {device_id}: {error_text(json_or_none(response)) or 'not found'}"
            )
        body = _answer(response, f"{action} {device_id}", ok=(202,))
        affected = [r.get("id") for r in body.get("resources") or [] if isinstance(r, dict)]
        if device_id not in affected:
            raise ConnectorError(f"crowdstrike: {action} {device_id}: the host is not among the affected ones")
        return True


def fql_string(value: str) -> str:
    """``value`` as an FQL string literal: single-quoted, with backslashes and quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def error_text(body: Any) -> str | None:
    """The messages of a Falcon ``errors`` list, joined."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        messages = [str(e.get("message")) for e in body["errors"] if isinstance(e, dict) and e.get("message")]
        return "; ".join(messages) or None
    return None


def _answer(response: httpx.Response, what: str, ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
    """The JSON body of a good answer; anything else raises with Falcon's error text."""
    return json_answer(response, "crowdstrike", what, error_text, ok)
