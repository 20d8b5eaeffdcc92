"""abuse.ch services (URLhaus, ThreatFox): the account's Auth-Key and the session that sends it.

Every abuse.ch API takes the same Auth-Key (https://auth.abuse.ch) in an ``Auth-Key`` header and publishes no
numeric rate limit (fair use), so the session has no limiter: the breaker and retries still apply.
"""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from connectors import ConnectorSettings
from connectors.http import VendorHttp, vendor_session


class AbuseChSettings(ConnectorSettings):
    """Settings every abuse.ch connector shares: the Auth-Key."""

    auth_key: SecretStr


def abusech_session(
    name: str, settings: AbuseChSettings, default_base_url: str, transport: httpx.AsyncBaseTransport | None
) -> VendorHttp:
    """Connector ``name``'s session: ``Auth-Key`` and JSON headers, no limiter (see the module docstring)."""
    headers = {"Auth-Key": settings.auth_key.get_secret_value(), "Accept": "application/json"}
    return vendor_session(name, settings, default_base_url, headers=headers, transport=transport)
