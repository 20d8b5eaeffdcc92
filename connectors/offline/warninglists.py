"""MISP warning lists: known infrastructure (public resolvers, cloud and CDN ranges, top sites, scanners, …).

The data is the copy bundled with ``pymispwarninglists`` (CC0 1.0), or a newer checkout of
MISP/misp-warninglists named by ``warninglists_path``. It is read once, lazily, in a worker thread, into our
own indexes: the package's own search either matches exactly only (its default) or scans every entry of every
hostname list on each query (``slow_search``: about 8 s to load and 25–150 ms per query).

How lists are read (MISP ``type``): ``cidr`` → address ranges; ``string`` → exact values (hashes, names); a
leading dot (``.google.ad``) means the domain and its subdomains; ``hostname`` → a name and its subdomains;
``substring`` → read as ``hostname`` (the lists of that type hold domain names, and a label-wise suffix match
is what they mean without matching ``notevil.com`` for ``evil.com``); ``regex`` → ``/pattern/flags``. Which
indicator kinds a list answers for comes from its ``matching_attributes``; lists for kinds soarbot does not
have (phone numbers, Azure application ids) are not loaded.

The lists carry no category, so each is given a role here, by list id:

- ``BENIGN`` — the list vouches for the value: public DNS resolvers, empty-file and known-good hashes, CA
  fingerprints, the top-20k site lists, big vendors' own domains and mail ranges, banks, universities,
  CRL/OCSP, captive-portal and block-page hosts. A hit is a BENIGN verdict (score 0, never authoritative).
- ``CAUTION`` — known, not benign: scanners and security vendors' ranges, sinkholes, sandbox domains,
  what's-my-IP services (malware uses them to learn its address), disposable-email and parking domains. A hit
  makes the verdict UNKNOWN, with the list named as context, even when another list vouches.
- ``HOSTING`` — services that serve anyone's content: dynamic DNS, URL shorteners, link-in-bio pages, LOTS
  ("living off trusted sites"), IPFS gateways. The service's own domain (``duckdns.org``, ``bit.ly``) is only
  context; a subdomain under it (``evil.duckdns.org``) or a URL on it is treated as ``CAUTION``.
- ``CONTEXT`` — broad, shared ranges that say nothing about who is behind an address: cloud and CDN ranges
  (AWS, GCP, Azure, OVH, GitHub, Cloudflare, Akamai, Fastly, StackPath, Zscaler), VPN/datacenter ranges,
  special-purpose ranges (RFC 1918 and friends: an internal address in an alert is a host to look at, not a
  harmless one), TLD lists, the one-million popularity lists (popular is not trusted) and any list this table
  does not know yet (a list named for scanning is ``CAUTION``). Reported only when nothing more telling hit.

The verdict: any ``CAUTION`` hit → UNKNOWN "known, not vouched for"; else any ``BENIGN`` hit → BENIGN; else
any hit → UNKNOWN "context only"; else UNKNOWN with no lists. Two refinements keep BENIGN for what a list
really vouches for: a popularity or resolver-hostname list (Alexa, Tranco, public DNS hostnames) vouches for
the listed name, not for names under it (``evil.github.io`` is not vouched for by ``github.io`` being
popular); and a URL is vouched for only by an entry for that URL (or, for a bare ``https://host/``, for the
host) — a list entry for its host is context, because the path is the content. ``facts["lists"]`` names
every list hit, the deciding ones first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

from bot.core.errors import ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from connectors.offline.index import (
    Cidr,
    CidrIndex,
    normalise_host,
    normalise_url,
    parent_domains,
    parse_address,
    parse_cidr,
    split_url,
)

logger = logging.getLogger(__name__)

NAME = "misp-warninglists"
LARGE_LISTS = frozenset({"tranco", "google-chrome-crux-1million"})
"""The two one-million-name popularity lists: context only, and most of the load time and memory."""


class Role(StrEnum):
    """What a hit on a list means for the verdict (see the module docstring)."""

    BENIGN = "benign"
    CAUTION = "caution"
    HOSTING = "hosting"
    CONTEXT = "context"


_BENIGN = frozenset(
    {
        # resolvers
        "public-dns-v4",
        "public-dns-v6",
        "public-dns-hostname",
        # hashes and certificates
        "empty-hashes",
        "eicar.com",
        "common-ioc-false-positive",
        "ti-falsepositives",
        "nioc-filehash",
        "mozilla-CA",
        "mozilla-IntermediateCA",
        # top sites (up to 20k names)
        "alexa",
        "cisco_top1000",
        "cisco_top5k",
        "cisco_top10k",
        "cisco_top20k",
        "majestic_million",  # despite its id: the top 10,000
        "moz-top500",
        "tranco10k",
        # vendors' own names and ranges
        "google",
        "googlebot",
        "google-gmail-sending-ips",
        "microsoft",
        "microsoft-office365",
        "microsoft-office365-ip",
        "microsoft-office365-cn",
        "microsoft-win10-connection-endpoints",
        "microsoft-attack-simulator",
        "apple",
        "wikimedia",
        "openai-gptbot",
        "smtp-sending-ips",
        "smtp-receiving-ips",
        # well-known service names
        "crl-hostname",
        "crl-ip",
        "captive-portals",
        "umbrella-blockpage-hostname",
        "umbrella-blockpage-v4",
        "umbrella-blockpage-v6",
        "bank-website",
        "university_domains",
        "dax30",
        "security-provider-blogpost",
        "covid",
        "covid-19-cyber-threat-coalition-whitelist",
        "covid-19-krassi-whitelist",
    }
)
_CAUTION = frozenset(
    {
        "shadowserver",
        "tenable-cloud-ipv4",
        "tenable-cloud-ipv6",
        "check-host-net",
        "sinkholes",
        "automated-malware-analysis",
        "whats-my-ip",
        "findip-host",
        "disposable-email",
        "parking-domain",
        "parking-domain-ns",
    }
)
_HOSTING = frozenset({"dynamic-dns", "lots-project", "url-shortener", "link-in-bio", "public-ipfs-gateways"})
_EXACT_VOUCH = frozenset({"alexa", "tranco", "tranco10k", "public-dns-hostname"})
"""Hostname lists whose vouching covers the listed name only, not its subdomains."""


def classify(list_id: str, name: str) -> Role:
    """The role of a warning list, by id (see the module docstring); unknown lists are context."""
    if list_id in _BENIGN:
        return Role.BENIGN
    if list_id in _HOSTING:
        return Role.HOSTING
    if list_id in _CAUTION or "scanning" in list_id or "scanner" in list_id or "scanning" in name.lower():
        return Role.CAUTION
    return Role.CONTEXT


_K = ObservableKind
_ATTRIBUTE_KINDS: dict[str, tuple[ObservableKind, ...]] = {
    "ip-src": (_K.IP,),
    "ip-dst": (_K.IP,),
    "ip-src|port": (_K.IP,),
    "ip-dst|port": (_K.IP,),
    "domain|ip": (_K.IP, _K.DOMAIN),
    "domain": (_K.DOMAIN,),
    "hostname": (_K.DOMAIN,),
    "hostname|port": (_K.DOMAIN,),
    "url": (_K.URL,),
    "uri": (_K.URL,),
    "email": (_K.EMAIL,),
    "email-src": (_K.EMAIL,),
    "email-dst": (_K.EMAIL,),
    "target-email": (_K.EMAIL,),
    "whois-registrant-email": (_K.EMAIL,),
    "dns-soa-email": (_K.EMAIL,),
}
for _algo, _kind in (("md5", _K.MD5), ("sha1", _K.SHA1), ("sha256", _K.SHA256)):
    for _prefix in ("", "filename|", "x509-fingerprint-"):
        _ATTRIBUTE_KINDS[f"{_prefix}{_algo}"] = (_kind,)
_TYPE_KINDS: dict[str, tuple[ObservableKind, ...]] = {
    "cidr": (_K.IP,),
    "hostname": (_K.DOMAIN, _K.URL),
    "substring": (_K.DOMAIN,),
    "string": (_K.DOMAIN,),
}
KINDS = frozenset({_K.IP, _K.DOMAIN, _K.URL, _K.EMAIL, _K.MD5, _K.SHA1, _K.SHA256})


@dataclass(frozen=True, slots=True, eq=False)
class WarningList:
    """One loaded list: its identity, role and the non-range entries (ranges live in the shared index)."""

    id: str
    name: str
    type: str
    role: Role
    kinds: frozenset[ObservableKind]
    size: int
    exact: frozenset[str] = frozenset()
    tree: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()

    @property
    def vouches_for_subdomains(self) -> bool:
        """False for lists that vouch for the listed names only."""
        return self.id not in _EXACT_VOUCH


class Match(StrEnum):
    """How an indicator met a list entry."""

    EXACT = "exact"  # the value itself (or an address inside a listed range)
    PARENT = "parent"  # a parent domain of the value is listed
    URL_HOST = "url-host"  # the host of a URL (not the URL) is listed


@dataclass(frozen=True, slots=True)
class Hit:
    """One list an indicator is on, and how."""

    list: WarningList
    match: Match

    @property
    def role(self) -> Role:
        """The role this hit plays in the verdict (BENIGN, CAUTION or CONTEXT)."""
        role = self.list.role
        if role is Role.HOSTING:
            return Role.CONTEXT if self.match is Match.EXACT else Role.CAUTION
        vouched = self.match is Match.EXACT or (self.match is Match.PARENT and self.list.vouches_for_subdomains)
        if role is Role.BENIGN and not vouched:
            return Role.CONTEXT
        return role


@dataclass(slots=True)
class Catalogue:
    """Every loaded list, the shared range index and the lists that answer each kind."""

    lists: list[WarningList]
    networks: CidrIndex[WarningList]
    by_kind: dict[ObservableKind, tuple[WarningList, ...]]
    entries: int
    seconds: float
    not_loaded: list[str] = field(default_factory=list)


def default_root() -> Path:
    """The ``lists`` directory bundled with pymispwarninglists (imported here: it is slow to import)."""
    import pymispwarninglists  # an 80 ms import: paid in the loader thread, on first use

    return Path(pymispwarninglists.__file__).parent / "data" / "misp-warninglists" / "lists"


def load_catalogue(root: Path | None, *, skip: Iterable[str] = (), large: bool = False) -> Catalogue:
    """Read every ``<root>/*/list.json`` into indexes (blocking: run it in a worker thread)."""
    started = time.perf_counter()
    root = root or default_root()
    files = sorted(root.glob("*/list.json"))
    if not files:
        raise ConnectorUnavailable(f"{NAME}: no warning lists under {root}")
    excluded = set(skip) | (set() if large else set(LARGE_LISTS))
    networks: CidrIndex[WarningList] = CidrIndex()
    lists: list[WarningList] = []
    not_loaded: list[str] = []
    entries = 0
    for path in files:
        list_id = path.parent.name
        if list_id in excluded:
            not_loaded.append(list_id)
            continue
        try:
            with path.open(encoding="utf-8") as handle:
                raw = json.load(handle)
        except (OSError, ValueError) as err:
            logger.warning("%s: skipping %s: %s", NAME, path, err)
            raw = None
        loaded = _build_list(list_id, raw, networks) if isinstance(raw, dict) else None
        if loaded is None:
            not_loaded.append(list_id)
            continue
        lists.append(loaded)
        entries += loaded.size
    by_kind = {kind: tuple(w for w in lists if kind in w.kinds) for kind in KINDS}
    seconds = time.perf_counter() - started
    return Catalogue(lists, networks, by_kind, entries, seconds, not_loaded)


def _kinds(raw: dict[str, Any]) -> frozenset[ObservableKind]:
    attributes = raw.get("matching_attributes") or []
    if attributes:
        return frozenset(k for a in attributes for k in _ATTRIBUTE_KINDS.get(str(a), ()))
    return frozenset(_TYPE_KINDS.get(str(raw.get("type")), ()))


def _build_list(list_id: str, raw: dict[str, Any], networks: CidrIndex[WarningList]) -> WarningList | None:
    kinds = _kinds(raw)
    list_type = str(raw.get("type", ""))
    values = [str(v) for v in raw.get("list", [])]
    if not kinds or not values:
        return None
    name = str(raw.get("name", list_id))
    # Comprehensions per list type rather than one loop with branches: ~3x faster over 500k entries.
    cleaned = [v.strip().rstrip("\\").strip() for v in values]
    patterns: list[re.Pattern[str]] = []
    ranges: list[Cidr] = []
    exact: set[str] = set()
    tree: set[str] = set()
    if list_type == "regex":
        patterns = [p for p in map(_regex, cleaned) if p is not None]
    elif list_type == "cidr":
        ranges = [c for c in map(parse_cidr, cleaned) if c is not None]
    else:
        names = [v.lower() for v in cleaned if v and " " not in v]
        if list_type != "string":  # hostname / substring lists also hold a few bare addresses
            found = [(v, parse_cidr(v) if v[0].isdigit() or ":" in v else None) for v in names]
            ranges = [c for _, c in found if c is not None]
            names = [v for v, c in found if c is None]
        names = [v for v in names if "/" not in v]
        if list_type == "string":
            exact = {v.rstrip(".") for v in names if not v.startswith(".")}
            tree = {normalise_host(v.lstrip(".")) for v in names if v.startswith(".")}
        else:
            tree = {normalise_host(v.lstrip(".")) for v in names}
        exact.discard("")
        tree.discard("")
    size = len(exact) + len(tree) + len(patterns) + len(ranges)
    loaded = WarningList(
        id=list_id,
        name=name,
        type=list_type,
        role=classify(list_id, name),
        kinds=kinds,
        size=size,
        exact=frozenset(exact),
        tree=frozenset(tree),
        patterns=tuple(patterns),
    )
    for cidr in ranges:
        networks.add(cidr, loaded)
    return loaded


def _regex(text: str) -> re.Pattern[str] | None:
    """Compile a MISP ``/pattern/flags`` regex (only ``i`` matters here); None when Python cannot."""
    if text.startswith("/") and text.rfind("/") > 0:
        end = text.rfind("/")
        body, flags = text[1:end], text[end + 1 :]
    else:
        body, flags = text, ""
    try:
        return re.compile(body, re.IGNORECASE if "i" in flags else 0)
    except re.error:
        return None


def find(catalogue: Catalogue, observable: Observable) -> list[Hit]:
    """Every list ``observable`` is on, each list once (its most direct match kept)."""
    found: dict[str, Hit] = {}
    for hit in _hits(catalogue, observable):
        if hit.list.id not in found:
            found[hit.list.id] = hit
    return list(found.values())


def _hits(catalogue: Catalogue, observable: Observable) -> Iterator[Hit]:
    value = observable.value.strip()
    kind = observable.kind
    if kind is ObservableKind.IP:
        yield from _address_hits(catalogue, value, Match.EXACT)
    elif kind is ObservableKind.DOMAIN:
        yield from _host_hits(catalogue, normalise_host(value), url=False)
    elif kind is ObservableKind.URL:
        parts = split_url(value)
        if parts is not None:
            yield from _url_hits(catalogue, value, parts)
    elif kind is ObservableKind.EMAIL:
        lowered = value.lower()
        lists = catalogue.by_kind[kind]
        for wl in lists:
            if lowered in wl.exact or any(p.search(value) for p in wl.patterns):
                yield Hit(wl, Match.EXACT)
        if "@" in lowered:
            yield from _name_hits(lists, normalise_host(lowered.rpartition("@")[2]), parent_match=Match.PARENT)
    elif kind in catalogue.by_kind:
        lowered = value.lower()
        for wl in catalogue.by_kind[kind]:
            if lowered in wl.exact:
                yield Hit(wl, Match.EXACT)


def _address_hits(catalogue: Catalogue, text: str, match: Match) -> Iterator[Hit]:
    address = parse_address(text)
    if address is not None:
        for _, wl in catalogue.networks.find(address):
            yield Hit(wl, match)


def _host_hits(catalogue: Catalogue, host: str, *, url: bool) -> Iterator[Hit]:
    if parse_address(host) is not None:
        yield from _address_hits(catalogue, host, Match.URL_HOST if url else Match.EXACT)
        return
    exact, parent = (Match.URL_HOST, Match.URL_HOST) if url else (Match.EXACT, Match.PARENT)
    yield from _name_hits(catalogue.by_kind[ObservableKind.DOMAIN], host, exact_match=exact, parent_match=parent)


def _name_hits(
    lists: Iterable[WarningList], host: str, *, exact_match: Match = Match.EXACT, parent_match: Match
) -> Iterator[Hit]:
    if not host:
        return
    parents = list(parent_domains(host))
    for wl in lists:
        if host in wl.exact or host in wl.tree:
            yield Hit(wl, exact_match)
        elif wl.tree and any(p in wl.tree for p in parents):
            yield Hit(wl, parent_match)


def _url_hits(catalogue: Catalogue, value: str, parts: SplitResult) -> Iterator[Hit]:
    host = normalise_host(parts.hostname or "")
    if parts.path in ("", "/") and not parts.query:
        # A bare https://host/ is the site itself: judge it as its host.
        yield from _host_hits(catalogue, host, url=False)
        return
    canonical = normalise_url(value) or ""
    forms = {canonical.lower(), canonical.lower().rstrip("/"), canonical.split("://", 1)[-1].lower().rstrip("/")}
    for wl in catalogue.by_kind[ObservableKind.URL]:
        if not forms.isdisjoint(wl.exact):
            yield Hit(wl, Match.EXACT)
    yield from _host_hits(catalogue, host, url=True)


_ORDER = {Role.CAUTION: 0, Role.BENIGN: 1, Role.CONTEXT: 2}


def verdict(hits: list[Hit]) -> Verdict:
    """Turn the hits into one verdict (see the module docstring)."""
    if not hits:
        return Verdict(NAME, VerdictLevel.UNKNOWN, summary="not on any MISP warning list")
    ranked = sorted(hits, key=lambda h: (_ORDER[h.role], h.list.size))
    top = ranked[0]
    names = [h.list.name for h in ranked]
    facts = {"lists": names, "list_ids": [h.list.id for h in ranked]}
    more = sum(1 for h in ranked if h.role is top.role) - 1
    label = f"MISP warning list: {top.list.name}" + (f" (+{more} more)" if more else "")
    if top.role is Role.BENIGN:
        return Verdict(NAME, VerdictLevel.BENIGN, score=0, summary=label, facts=facts)
    note = "known, not vouched for" if top.role is Role.CAUTION else "context only"
    return Verdict(NAME, VerdictLevel.UNKNOWN, summary=f"{label} — {note}", facts=facts)


class WarningLists:
    """IntelLookup over the MISP warning lists, loaded on first use (nothing leaves the machine)."""

    name = NAME
    kinds = KINDS
    external = False
    credential_id = "local"

    def __init__(self, root: Path | None = None, *, skip: Iterable[str] = (), large: bool = False) -> None:
        self._root = root
        self._skip = tuple(skip)
        self._large = large
        self._catalogue: Catalogue | None = None
        self._loading: asyncio.Task[Catalogue] | None = None
        self._failing = False

    async def aclose(self) -> None:
        """Stop waiting for a load still under way (the worker thread finishes on its own)."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
        self._loading = None

    async def check(self) -> str:
        """Load the lists (if not yet) and say what is loaded."""
        catalogue = await self.catalogue()
        return (
            f"{len(catalogue.lists)} MISP warning lists, {catalogue.entries} entries, loaded in"
            f" {catalogue.seconds:.1f}s ({len(catalogue.not_loaded)} not loaded)"
        )

    async def lookup(self, observable: Observable) -> Verdict:
        """Name the warning lists the indicator is on; BENIGN only when one of them vouches for it."""
        catalogue = await self.catalogue()
        return verdict(find(catalogue, observable))

    async def catalogue(self) -> Catalogue:
        """The loaded lists; the first caller starts one load in a thread that every caller shares."""
        if self._catalogue is not None:
            return self._catalogue
        if self._loading is None:
            self._loading = asyncio.create_task(self._load(), name=f"{NAME} load")
        task = self._loading
        # shield: a caller that gives up (the enrichment deadline) must not cancel the shared load.
        return await asyncio.shield(task)

    async def _load(self) -> Catalogue:
        try:
            catalogue = await asyncio.to_thread(load_catalogue, self._root, skip=self._skip, large=self._large)
        except (OSError, ValueError, ConnectorUnavailable) as err:
            self._loading = None  # the next lookup tries again
            if not self._failing:
                logger.warning("%s: cannot load the warning lists: %s", NAME, err)
            self._failing = True
            if isinstance(err, ConnectorUnavailable):
                raise
            raise ConnectorUnavailable(f"{NAME}: cannot load the warning lists ({err.__class__.__name__})") from err
        self._catalogue = catalogue
        self._failing = False
        logger.info(
            "%s: %d lists, %d entries loaded in %.2fs", NAME, len(catalogue.lists), catalogue.entries, catalogue.seconds
        )
        return catalogue
