"""ThreatFox API v1 (abuse.ch): ``POST /api/v1/`` with a JSON body naming the query (https://threatfox.abuse.ch/api/).

Quirks this module absorbs:

- One endpoint (trailing slash included); the JSON body's ``query`` picks the operation: ``search_ioc``
  (``search_term``, ``exact_match``) and ``search_hash`` (``hash``, MD5 or SHA-256 of a sample).
- ``Auth-Key`` is mandatory; a missing or wrong key is ``query_status: unknown_auth_key`` (HTTP 401 or 403,
  mapped by ``VendorHttp``, or HTTP 200, mapped here).
- The outcome is ``query_status``: ``ok`` with ``data`` a list of IOCs; a miss is ``no_result`` (singular,
  ``no_results`` accepted too) with ``data`` a sentence; ``illegal_search_term`` / ``illegal_hash`` for a term it
  will not search. ``confidence_level`` is a number, ``id`` a string.
- IP addresses are mostly stored as ``ip:port`` IOCs, which an exact search for the bare address does not match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.errors import ConnectorUnavailable
from connectors.abusech import AbuseChNoData, read_answer
from connectors.http import VendorHttp

BASE_URL = "https://threatfox-api.abuse.ch/api/v1"

NO_RESULT = frozenset({"no_result", "no_results"})


class NoData(AbuseChNoData):
    """ThreatFox has nothing for the query; ``query_status`` says why (``no_result``, ``illegal_search_term``)."""

    vendor = "threatfox"


@dataclass(frozen=True, slots=True)
class Ioc:
    """One ThreatFox IOC record, the parts soarbot uses."""

    id: str
    ioc: str
    ioc_type: str | None
    threat_type: str | None
    malware: str | None
    malware_printable: str | None
    confidence: int
    first_seen: str | None
    last_seen: str | None
    reporter: str | None
    tags: tuple[str, ...]


class ThreatFoxClient:
    """Typed access to the ThreatFox searches."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def search_ioc(self, term: str, *, exact: bool = True) -> tuple[Ioc, ...]:
        """IOCs matching ``term`` (an IP, ``ip:port``, domain or URL); ``NoData`` when there are none."""
        return await self._query({"query": "search_ioc", "search_term": term, "exact_match": exact})

    async def search_hash(self, digest: str) -> tuple[Ioc, ...]:
        """IOCs linked to the malware sample with this MD5 or SHA-256; ``NoData`` when there are none."""
        return await self._query({"query": "search_hash", "hash": digest})

    async def _query(self, body: dict[str, Any]) -> tuple[Ioc, ...]:
        """POST one query and return the IOCs of an ``ok`` answer; every other outcome raises."""
        status, answer = read_answer("threatfox", await self.http.request("POST", "/", json=body))
        if status in NO_RESULT or status.startswith("illegal_"):
            raise NoData(status)
        if status != "ok" or not isinstance(answer, dict):
            raise ConnectorUnavailable(f"threatfox: unexpected query_status {status[:40]!r}")
        data = answer.get("data")
        if not isinstance(data, list):
            raise ConnectorUnavailable("threatfox: ok answer without a data list")
        iocs = tuple(_ioc(entry) for entry in data if isinstance(entry, dict))
        if not iocs:
            raise NoData("no_result")
        return iocs


def _ioc(entry: dict[str, Any]) -> Ioc:
    tags = entry.get("tags")
    return Ioc(
        id=str(entry.get("id") or ""),
        ioc=str(entry.get("ioc") or ""),
        ioc_type=_str(entry.get("ioc_type")),
        threat_type=_str(entry.get("threat_type")),
        malware=_str(entry.get("malware")),
        malware_printable=_str(entry.get("malware_printable")),
        confidence=_confidence(entry.get("confidence_level")),
        first_seen=_str(entry.get("first_seen")),
        last_seen=_str(entry.get("last_seen")),
        reporter=_str(entry.get("reporter")),
        tags=tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
    )


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _confidence(value: Any) -> int:
    try:
        return max(0, min(100, int(value)))
    except (TypeError, ValueError):
        return 0
