"""URLhaus API v1 (abuse.ch): ``POST /v1/url/``, ``/v1/host/`` and ``/v1/payload/`` (https://urlhaus-api.abuse.ch).

Quirks this module absorbs:

- Requests are **form-encoded POSTs**; anything else is answered ``query_status: http_post_expected``.
- The trailing slash of each path is part of it.
- ``Auth-Key`` is mandatory; a missing or wrong key is ``query_status: unknown_auth_key``, with HTTP 401 or 403
  (mapped by ``VendorHttp``) or sometimes with HTTP 200 (mapped here).
- The outcome is ``query_status`` inside an HTTP 200: ``ok``, ``no_results``, ``invalid_url``, ``invalid_host``,
  ``invalid_md5_hash`` … Numbers are strings (``"url_count": "120"``) and lists may be ``null``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.core.errors import ConnectorUnavailable
from connectors.abusech import AbuseChNoData, read_answer
from connectors.http import VendorHttp

BASE_URL = "https://urlhaus-api.abuse.ch/v1"

HashKind = Literal["md5", "sha256"]


class NoData(AbuseChNoData):
    """URLhaus has nothing for the query; ``query_status`` says why (``no_results``, ``invalid_host``, …)."""

    vendor = "urlhaus"


@dataclass(frozen=True, slots=True)
class UrlReport:
    """The parts of a ``/v1/url/`` answer soarbot uses."""

    id: str
    url: str
    url_status: str
    host: str | None
    threat: str | None
    tags: tuple[str, ...]
    date_added: str | None
    reporter: str | None
    reference: str | None


@dataclass(frozen=True, slots=True)
class HostUrl:
    """One malware URL listed under a host."""

    url: str
    url_status: str
    threat: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HostReport:
    """The parts of a ``/v1/host/`` answer soarbot uses."""

    host: str
    first_seen: str | None
    url_count: int
    urls: tuple[HostUrl, ...]
    reference: str | None


@dataclass(frozen=True, slots=True)
class PayloadReport:
    """The parts of a ``/v1/payload/`` answer soarbot uses."""

    md5: str | None
    sha256: str | None
    file_type: str | None
    file_size: int | None
    signature: str | None
    first_seen: str | None
    last_seen: str | None
    url_count: int


class UrlhausClient:
    """Typed access to the URLhaus lookups."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def url(self, url: str) -> UrlReport:
        """Report on one URL (``NoData`` when URLhaus does not list it)."""
        body = await self._post("/url/", {"url": url})
        return UrlReport(
            id=str(body.get("id") or ""),
            url=str(body.get("url") or url),
            url_status=str(body.get("url_status") or "unknown"),
            host=_str(body.get("host")),
            threat=_str(body.get("threat")),
            tags=_tags(body.get("tags")),
            date_added=_str(body.get("date_added")),
            reporter=_str(body.get("reporter")),
            reference=_str(body.get("urlhaus_reference")),
        )

    async def host(self, host: str) -> HostReport:
        """Report on one host name or IP address and the malware URLs seen on it."""
        body = await self._post("/host/", {"host": host})
        urls = body.get("urls")
        return HostReport(
            host=str(body.get("host") or host),
            first_seen=_str(body.get("firstseen")),
            url_count=_int(body.get("url_count")) or 0,
            urls=tuple(
                HostUrl(
                    url=str(entry.get("url") or ""),
                    url_status=str(entry.get("url_status") or "unknown"),
                    threat=_str(entry.get("threat")),
                    tags=_tags(entry.get("tags")),
                )
                for entry in (urls if isinstance(urls, list) else ())
                if isinstance(entry, dict)
            ),
            reference=_str(body.get("urlhaus_reference")),
        )

    async def payload(self, digest: str, kind: HashKind) -> PayloadReport:
        """Report on one payload (malware sample) by its MD5 or SHA-256."""
        body = await self._post("/payload/", {f"{kind}_hash": digest})
        return PayloadReport(
            md5=_str(body.get("md5_hash")),
            sha256=_str(body.get("sha256_hash")),
            file_type=_str(body.get("file_type")),
            file_size=_int(body.get("file_size")),
            signature=_str(body.get("signature")),
            first_seen=_str(body.get("firstseen")),
            last_seen=_str(body.get("lastseen")),
            url_count=_int(body.get("url_count")) or 0,
        )

    async def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        """POST ``form`` and return the body of an ``ok`` answer; every other outcome raises."""
        status, body = read_answer("urlhaus", await self.http.request("POST", path, data=form))
        if status == "ok" and isinstance(body, dict):
            return body
        if status == "no_results" or status.startswith("invalid_"):
            raise NoData(status)
        if status == "http_post_expected":
            raise ConnectorUnavailable("urlhaus: the API expected a form POST (http_post_expected): a soarbot bug")
        raise ConnectorUnavailable(f"urlhaus: unexpected query_status {status[:40]!r}")


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _tags(value: Any) -> tuple[str, ...]:
    return tuple(str(tag) for tag in value) if isinstance(value, list) else ()
