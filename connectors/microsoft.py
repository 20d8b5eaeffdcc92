"""Microsoft identity platform apps, shared by the Defender and Entra connectors.

Both sign in as an Entra app with the client-credentials grant (``POST {login}/{tenant}/oauth2/v2.0/token``,
scope ``<resource>/.default``), and both APIs describe failures as ``{"error": {"code", "message", ...}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr

from connectors import ConnectorSettings
from connectors.http import VendorHttp
from connectors.oauth import ClientCredentials

LOGIN_URL = "https://login.microsoftonline.com"


class AppSettings(ConnectorSettings):
    """Settings every Microsoft connector shares: the Entra app it signs in as, and where it signs in."""

    tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    login_url: str = LOGIN_URL


class AppClient:
    """Base of a Microsoft API client: ``http`` and the app's client-credentials token (``auth``) for it.

    A subclass names its API's ``scope`` and sets ``retry_throttled`` when the API documents 429 as "throttled,
    request not performed" (see ``ClientCredentials``).
    """

    scope: ClassVar[str]
    retry_throttled: ClassVar[bool] = False

    def __init__(
        self, http: VendorHttp, *, login_url: str, tenant_id: str, client_id: str, client_secret: SecretStr
    ) -> None:
        self.http = http
        self.auth = ClientCredentials(
            http,
            token_url=f"{login_url.rstrip('/')}/{quote(tenant_id, safe='')}/oauth2/v2.0/token",
            client_id=client_id,
            client_secret=client_secret,
            form={"grant_type": "client_credentials", "scope": self.scope},
            error_text=error_text,
            retry_throttled=self.retry_throttled,
        )


def error_text(body: Any) -> str | None:
    """``code: message`` of a Defender / Graph ``{"error": {...}}`` body."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return ": ".join(str(part) for part in (code, message) if part) or None
    return None
