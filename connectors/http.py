"""The one way connectors talk HTTP: a shared client per connector, retries, quotas and a circuit breaker.

``VendorHttp.request`` applies, in order: the circuit breaker (fail fast while a vendor is down), the rate
limiter (wait for a slot rather than fail), the call, and the error mapping. Lookups may retry with
exponential backoff and jitter on connection errors, 5xx and 429 (``Retry-After`` honoured). Containment calls
pass ``retry=False``: they are never repeated blind, only made idempotent by the vendor's own semantics.
401/403 become ``ConnectorAuthError``; every other status is returned for the connector to interpret.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from bot import __version__
from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorUnavailable

logger = logging.getLogger(__name__)

USER_AGENT = f"soarbot/{__version__} (+https://github.com/soarbot/soarbot)"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class _RedactUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; keep only the origin (paths and queries may hold secrets)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                f"{arg.scheme}://{arg.netloc.decode('ascii', 'replace')}/…" if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactUrls())


class SecretQuery(httpx.AsyncBaseTransport):
    """Add secret query parameters (``?key=…``) to the request on the wire only.

    The request object the client logs, keeps on responses and quotes in exceptions never holds the secret.
    """

    def __init__(self, params: Mapping[str, str], inner: httpx.AsyncBaseTransport) -> None:
        self._params = dict(params)
        self._inner = inner

    def __repr__(self) -> str:
        return f"SecretQuery(names={sorted(self._params)}, inner={self._inner!r})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send a copy of ``request`` with the secret parameters merged in."""
        wire = httpx.Request(
            request.method,
            request.url.copy_merge_params(self._params),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(wire)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def make_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    follow_redirects: bool = False,
    verify: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    query_secrets: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """Build a connector's long-lived client: base URL, explicit timeouts, pooled connections, our user agent.

    ``retries=1`` on the transport repeats only connection failures, where nothing reached the vendor.
    ``query_secrets`` are keys that a vendor wants in the query string; they exist only on the wire.
    """
    transport = transport or httpx.AsyncHTTPTransport(retries=1, verify=verify)
    if query_secrets:
        transport = SecretQuery(query_secrets, transport)
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        follow_redirects=follow_redirects,
        transport=transport,
    )


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` calls per ``seconds``."""

    limit: int
    seconds: float


class RateLimiter:
    """Sliding-window limiter that queues callers until a slot is free (it never fails a call).

    Several windows may apply at once (VirusTotal public: 4 per minute and 500 per day). A vendor's own
    report that the quota is spent (``exhaust``) holds every caller until the reset time it gave.
    """

    def __init__(self, *windows: Window, clock: Any = time.monotonic) -> None:
        self._windows = windows
        self._calls: list[deque[float]] = [deque() for _ in windows]
        self._lock = asyncio.Lock()
        self._clock = clock
        self._blocked_until = 0.0

    def _wait_time(self, now: float) -> float:
        wait = max(0.0, self._blocked_until - now)
        for window, calls in zip(self._windows, self._calls, strict=True):
            while calls and calls[0] <= now - window.seconds:
                calls.popleft()
            if len(calls) >= window.limit:
                wait = max(wait, calls[0] + window.seconds - now)
        return wait

    async def acquire(self) -> None:
        """Wait until every window has room, then take a slot (callers are served in arrival order)."""
        async with self._lock:
            while (wait := self._wait_time(self._clock())) > 0:  # noqa: ASYNC110 - time-based, no event to wait on
                await asyncio.sleep(wait)
            now = self._clock()
            for calls in self._calls:
                calls.append(now)

    def exhaust(self, seconds: float) -> None:
        """Hold all callers for ``seconds`` (the vendor said the quota is spent)."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class CircuitBreaker:
    """Open after ``threshold`` consecutive failures; after ``cooldown`` let one trial call through.

    Logs once when it opens and once when the vendor recovers, not on every failure.
    """

    def __init__(self, name: str, *, threshold: int = 5, cooldown: float = 30.0, clock: Any = time.monotonic) -> None:
        self.name = name
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        """True while calls are refused."""
        return self._opened_at is not None and self._clock() - self._opened_at < self._cooldown

    def before_call(self) -> None:
        """Raise ConnectorUnavailable while open; after the cooldown one trial call goes through."""
        if self.is_open:
            raise ConnectorUnavailable(f"{self.name} is unavailable (circuit open after repeated failures)")

    def success(self) -> None:
        """Record a good call; closes the circuit."""
        if self._opened_at is not None:
            logger.info("%s recovered; circuit closed", self.name)
        self._failures = 0
        self._opened_at = None

    def failure(self) -> None:
        """Record a failed call; opens the circuit at the threshold (or re-opens it after a failed trial)."""
        self._failures += 1
        if self._opened_at is not None:
            self._opened_at = self._clock()  # failed trial: stay open, quietly
        elif self._failures >= self._threshold:
            self._opened_at = self._clock()
            logger.warning(
                "%s failed %d times in a row; circuit open for %.0fs", self.name, self._failures, self._cooldown
            )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How lookups retry: ``attempts`` in all, exponential backoff from ``base`` with full jitter."""

    attempts: int = 3
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (full jitter)."""
        return random.uniform(0, min(self.cap, self.base * 2**attempt))  # noqa: S311 - jitter, not crypto


NO_RETRY = RetryPolicy(attempts=1)


@dataclass(slots=True)
class Quota:
    """What the vendor last said about our remaining quota (from response headers)."""

    limit: int | None = None
    remaining: int | None = None
    reset: str | None = None
    updated: float = field(default=0.0)


def retry_after(response: httpx.Response, default: float) -> float:
    """Seconds from a ``Retry-After`` header (delta or HTTP date), else ``default``."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


class VendorHttp:
    """A connector's HTTP session: shared client + limiter + breaker + retries + quota bookkeeping."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        *,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.name = name
        self.client = client
        self.limiter = limiter
        self.breaker = breaker or CircuitBreaker(name)
        self.retry = retry
        self.quota = Quota()

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aclose()

    async def request(self, method: str, url: str, *, retry: bool = True, **kwargs: Any) -> httpx.Response:
        """Send one request under the breaker, limiter and retry policy; see the module docstring."""
        policy = self.retry if retry else NO_RETRY
        attempt = 0
        while True:
            self.breaker.before_call()
            if self.limiter is not None:
                await self.limiter.acquire()
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.HTTPError as err:  # transport failures, and answers httpx cannot decode
                self.breaker.failure()
                if attempt + 1 < policy.attempts:
                    await asyncio.sleep(policy.backoff(attempt))
                    attempt += 1
                    continue
                # Never include the URL: some vendors take the key in the query string.
                raise ConnectorUnavailable(f"{self.name}: {err.__class__.__name__} talking to the API") from err
            self._record_quota(response)
            if response.status_code in RETRYABLE_STATUS:
                if response.status_code == 429 and self.limiter is not None:
                    self.limiter.exhaust(retry_after(response, policy.backoff(attempt)))
                else:
                    self.breaker.failure()
                if attempt + 1 < policy.attempts:
                    wait = min(retry_after(response, policy.backoff(attempt)), policy.max_retry_after)
                    await asyncio.sleep(wait)
                    attempt += 1
                    continue
                what = "rate limited (429)" if response.status_code == 429 else f"HTTP {response.status_code}"
                raise ConnectorUnavailable(f"{self.name}: {what}")
            if response.status_code in (401, 403):
                raise ConnectorAuthError(f"{self.name}: credentials rejected (HTTP {response.status_code})")
            self.breaker.success()
            return response

    def _record_quota(self, response: httpx.Response) -> None:
        headers = response.headers
        remaining = headers.get("X-RateLimit-Remaining") or headers.get("x-ratelimit-remaining")
        if remaining is None:
            return
        self.quota.remaining = _int(remaining)
        self.quota.limit = _int(headers.get("X-RateLimit-Limit"))
        self.quota.reset = headers.get("X-RateLimit-Reset")
        self.quota.updated = time.time()
        if self.quota.remaining == 0:
            logger.warning("%s quota spent (limit %s); next reset %s", self.name, self.quota.limit, self.quota.reset)


class SessionSettings(Protocol):
    """The settings a connector's HTTP session reads; every ``connectors.ConnectorSettings`` has them."""

    @property
    def base_url(self) -> str | None:
        """Replaces the vendor's URL prefix when set (fakes, proxies)."""

    @property
    def timeout(self) -> float:
        """Seconds per request (connect: at most 5)."""

    @property
    def verify_tls(self) -> bool:
        """Whether the vendor's TLS certificate is checked."""


def vendor_session(
    name: str,
    settings: SessionSettings,
    default_base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy = RetryPolicy(),
    query_secrets: Mapping[str, str] | None = None,
    follow_redirects: bool = False,
) -> VendorHttp:
    """Build connector ``name``'s session: a ``make_client`` client on ``settings.base_url or default_base_url``.

    The client takes its timeout and TLS check from ``settings``; ``transport`` replaces the network (tests).
    """
    client = make_client(
        settings.base_url or default_base_url,
        headers=headers,
        timeout=settings.timeout,
        follow_redirects=follow_redirects,
        verify=settings.verify_tls,
        transport=transport,
        query_secrets=query_secrets,
    )
    return VendorHttp(name, client, limiter=limiter, retry=retry)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or ConnectorUnavailable when the vendor sent something else."""
    try:
        return response.json()
    except ValueError as err:
        raise ConnectorUnavailable(f"unexpected non-JSON answer (HTTP {response.status_code})") from err


def credential_id(*secrets: str) -> str:
    """A short, non-secret fingerprint of credentials: rotating a key changes it (and so misses the cache)."""
    return hashlib.sha256("\x1f".join(secrets).encode()).hexdigest()[:16]


def json_or_none(response: httpx.Response) -> Any:
    """The response's JSON, or None (for reading error details, which vendors do not always send as JSON)."""
    try:
        return response.json()
    except ValueError:
        return None


def json_answer(
    response: httpx.Response,
    vendor: str,
    what: str,
    error_text: Callable[[Any], str | None],
    ok: tuple[int, ...] = (200,),
) -> dict[str, Any]:
    """The JSON object of a good answer; any other status raises with the vendor's own error text."""
    if response.status_code not in ok:
        detail = error_text(json_or_none(response)) or "no error details"
        raise ConnectorError(f"{vendor}: {what}: HTTP {response.status_code}: {detail}")
    body = json_body(response)
    if not isinstance(body, dict):
        raise ConnectorUnavailable(f"{vendor}: {what}: answer is not a JSON object")
    return body
