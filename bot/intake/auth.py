"""Per-source authentication of alert deliveries.

A source may have a ``token`` (``Authorization: Bearer T`` or ``?token=T``, because Splunk's webhook cannot set
headers) and/or an ``hmac_secret`` (``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``). When
both are configured, both must pass. Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"


def token_ok(expected: str, headers: Mapping[str, str], query_token: str | None) -> bool:
    """Check a bearer token from the Authorization header or the ``token`` query parameter."""
    presented = query_token
    authorization = headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        presented = credentials.strip()
    if not presented:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected.encode())


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Check the ``X-Hub-Signature-256`` header against the raw body."""
    presented = headers.get(SIGNATURE_HEADER, "").strip()
    if not presented:
        return False
    return hmac.compare_digest(presented.lower().encode("utf-8", "surrogateescape"), signature(secret, body).encode())
