"""Generic webhook notifier: POST each event as JSON (optionally through a template) to one URL.

Delivery is at-most-once per call: a POST is never retried here, because a timeout or a 5xx does not say whether
the receiver acted. Each POST carries ``Idempotency-Key``; when the caller retries a failed delivery it sends the
same key, and a receiver that honours the header drops the duplicate. ``base_url`` is not used: ``url`` is the
whole address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import Field, SecretStr, field_validator

from bot.core.ports import ActionOutcome, ActionResult
from connectors import ConnectorSettings
from connectors.http import VendorHttp, credential_id, make_client
from connectors.webhook.client import RESERVED_HEADERS, WebhookClient, compile_template, render, syntax_problem

logger = logging.getLogger(__name__)


class Settings(ConnectorSettings):
    """``connectors.webhook``."""

    url: str = Field(description="the receiver's full URL (http:// or https://)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra non-secret headers")
    auth_header: SecretStr | None = Field(default=None, description="value of the Authorization header")
    template: str | None = Field(default=None, description="Jinja2 template rendering the JSON body")
    hmac_secret: SecretStr | None = Field(default=None, description="signs the body as X-Hub-Signature-256")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _no_reserved_headers(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(name for name in value if name.lower() in RESERVED_HEADERS)
        if reserved:
            raise ValueError(
                f"{', '.join(reserved)} is set by the connector (use auth_header for Authorization, "
                "hmac_secret for the signature)"
            )
        return value

    @field_validator("template")
    @classmethod
    def _valid_template(cls, value: str | None) -> str | None:
        if value is not None and (problem := syntax_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("hmac_secret", "auth_header")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty (leave it out instead)")
        return value


class WebhookNotifier:
    """Notifier posting to one webhook URL."""

    name = "webhook"

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = dict(settings.headers)
        secrets: list[str] = []
        if settings.auth_header is not None:
            headers["Authorization"] = settings.auth_header.get_secret_value()
            secrets.append(headers["Authorization"])
        hmac_secret = settings.hmac_secret.get_secret_value() if settings.hmac_secret is not None else None
        if hmac_secret is not None:
            secrets.append(hmac_secret)
        client = make_client(
            "", headers=headers, timeout=settings.timeout, verify=settings.verify_tls, transport=transport
        )
        self.http = VendorHttp(self.name, client)
        self.client = WebhookClient(self.http, settings.url, hmac_secret=hmac_secret)
        self.credential_id = credential_id(settings.url, *secrets)
        self.template = compile_template(settings.template) if settings.template is not None else None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Send a HEAD request (which delivers nothing) to prove the receiver is reachable."""
        status = await self.client.probe()
        return f"{self.client.where} reachable (HTTP {status} to HEAD; credentials are only checked on delivery)"

    async def notify(self, event: Mapping[str, Any], *, idempotency_key: str) -> ActionResult:
        """POST ``event`` once with its idempotency key (see the module docstring for retries)."""
        body = await asyncio.to_thread(render, self.template, event, idempotency_key)
        delivery = await self.client.deliver(body, idempotency_key)
        logger.info("webhook: delivered %s to %s (HTTP %d)", idempotency_key, self.client.where, delivery.status)
        return ActionResult(
            connector=self.name,
            action="send notification",
            target=self.client.where,
            outcome=ActionOutcome.DONE,
            message=f"delivered to {self.client.where} (HTTP {delivery.status})",
            reference=delivery.request_id,
        )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The webhook notifier."""
    return [WebhookNotifier(settings, transport)]
