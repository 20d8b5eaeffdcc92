"""A generic outbound webhook: one JSON POST per event, optionally shaped by a sandboxed Jinja2 template.

Each request carries ``Content-Type: application/json``, ``Idempotency-Key: <key>`` and, with a secret,
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the exact body>`` (the scheme soarbot's own intake checks).
Templates run in Jinja2's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: they see ``event`` (the
event as plain JSON data) and ``idempotency_key``, cannot call unsafe attributes or mutate anything, and must
render valid JSON (``{{ event.title | tojson }}`` quotes a string safely).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.core.errors import ConnectorError, ConnectorUnavailable
from connectors.http import VendorHttp

SIGNATURE_HEADER = "X-Hub-Signature-256"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RESERVED_HEADERS = frozenset({"authorization", "content-type", "idempotency-key", "x-hub-signature-256"})
"""Headers the connector sets itself; ``headers`` may not override them."""

_ENVIRONMENT = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def compile_template(source: str) -> Template:
    """Compile a body template (TemplateSyntaxError names the line)."""
    return _ENVIRONMENT.from_string(source)


def syntax_problem(source: str) -> str | None:
    """Why ``source`` is not a valid template, or None."""
    try:
        compile_template(source)
    except TemplateSyntaxError as err:
        return f"template syntax error on line {err.lineno}: {err.message}"
    return None


def plain(event: Mapping[str, Any]) -> Any:
    """The event as plain JSON data (anything JSON cannot hold becomes its string)."""
    return json.loads(json.dumps(dict(event), default=str))


def render(template: Template | None, event: Mapping[str, Any], idempotency_key: str) -> bytes:
    """The request body: the rendered template (checked to be JSON), else the event as JSON."""
    data = plain(event)
    if template is None:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        text = template.render(event=data, idempotency_key=idempotency_key)
    except TemplateError as err:
        raise ConnectorError(f"webhook: template failed to render: {err.__class__.__name__}: {err}") from err
    try:
        json.loads(text)
    except ValueError as err:
        raise ConnectorError(f"webhook: template rendered invalid JSON: {err}") from err
    return text.strip().encode()


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def display(url: str) -> str:
    """``scheme://host[:port]`` of a URL: paths and queries of webhook URLs often hold tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


@dataclass(frozen=True, slots=True)
class Delivery:
    """The receiver's answer to a delivered event."""

    status: int
    request_id: str | None


class WebhookClient:
    """POSTs bodies to one URL."""

    def __init__(self, http: VendorHttp, url: str, *, hmac_secret: str | None = None) -> None:
        self.http = http
        self.url = url
        self.where = display(url)
        self._secret = hmac_secret

    async def deliver(self, body: bytes, idempotency_key: str) -> Delivery:
        """POST ``body`` once: 2xx → Delivery, 4xx → ConnectorError, 5xx/timeout → ConnectorUnavailable.

        Never retried: the receiver may have acted on a request whose answer was lost. A later retry by the
        caller sends the same ``Idempotency-Key``, so the receiver can drop the duplicate.
        """
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        response = await self.http.request("POST", self.url, content=body, headers=headers, retry=False)
        status = response.status_code
        if 200 <= status < 300:
            return Delivery(status, response.headers.get("X-Request-Id"))
        reply = _short(response)
        if status >= 500:
            raise ConnectorUnavailable(f"webhook: {self.where} answered HTTP {status}{reply}")
        if 300 <= status < 400:
            raise ConnectorError(f"webhook: {self.where} answered a redirect (HTTP {status}); set the final URL")
        raise ConnectorError(f"webhook: {self.where} refused the event (HTTP {status}){reply}")

    async def probe(self) -> int:
        """Send a HEAD request to the URL (delivers nothing); any HTTP answer below 500 proves reachability."""
        response = await self.http.request("HEAD", self.url)
        if response.status_code >= 500:
            raise ConnectorUnavailable(f"webhook: {self.where} answered HTTP {response.status_code}")
        return response.status_code


def _short(response: httpx.Response) -> str:
    text = " ".join(response.text.split())[:200]
    return f": {text}" if text else ""
