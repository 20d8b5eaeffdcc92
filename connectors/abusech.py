"""abuse.ch services (URLhaus, ThreatFox): the account's Auth-Key and the session that sends it.

Every abuse.ch API takes the same Auth-Key (https://auth.abuse.ch) in an ``Auth-Key`` header and publishes no
numeric rate limit (fair use), so the session has no limiter: the breaker and retries still apply.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from bot.core.errors import ConnectorAuthError, ConnectorNotFound, ConnectorUnavailable
from connectors import ConnectorSettings
from connectors.http import VendorHttp, json_body, vendor_session


class AbuseChSettings(ConnectorSettings):
    """Settings every abuse.ch connector shares: the Auth-Key."""

    auth_key: SecretStr


def abusech_session(
    name: str, settings: AbuseChSettings, default_base_url: str, transport: httpx.AsyncBaseTransport | None
) -> VendorHttp:
    """Connector ``name``'s session: ``Auth-Key`` and JSON headers, no limiter (see the module docstring)."""
    headers = {"Auth-Key": settings.auth_key.get_secret_value(), "Accept": "application/json"}
    return vendor_session(name, settings, default_base_url, headers=headers, transport=transport)


class AbuseChNoData(ConnectorNotFound):
    """The service has nothing for the query; ``query_status`` says why. Subclasses set ``vendor``."""

    vendor: ClassVar[str] = "abuse.ch"

    def __init__(self, query_status: str) -> None:
        super().__init__(f"{self.vendor}: {query_status}")
        self.query_status = query_status


def read_answer(vendor: str, response: httpx.Response) -> tuple[str, Any]:
    """The ``query_status`` and body of an abuse.ch answer; a rejected key or a non-200 answer raises.

    abuse.ch reports ``unknown_auth_key`` with 200, 401 or 403, so the key is judged by the body, not the status.
    """
    body = json_body(response)
    status = str(body.get("query_status", "")) if isinstance(body, dict) else ""
    if status == "unknown_auth_key":
        raise ConnectorAuthError(f"{vendor}: Auth-Key rejected (unknown_auth_key)")
    if response.status_code != 200:
        raise ConnectorUnavailable(f"{vendor}: HTTP {response.status_code}")
    return status, body
