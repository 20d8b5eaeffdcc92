"""Matching structures shared by the offline lookups: address ranges, domain suffixes, value normalisation.

Everything here is pure and in-memory; the lookups build these in a worker thread and then only read them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Generic, NamedTuple, TypeVar
from urllib.parse import SplitResult, urlsplit, urlunsplit

T = TypeVar("T")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NETWORK_CHARS = frozenset("0123456789abcdefABCDEF.:/")
_HEX = frozenset("0123456789abcdef")
HASH_LENGTHS = frozenset({32, 40, 64, 128})


class Cidr(NamedTuple):
    """A network as numbers: IP version, prefix length and the network's top ``prefixlen`` bits."""

    version: int
    prefixlen: int
    key: int

    @property
    def network(self) -> IPNetwork:
        """The ``ipaddress`` network."""
        bits = 32 if self.version == 4 else 128
        return ipaddress.ip_network((self.key << (bits - self.prefixlen), self.prefixlen))


class CidrIndex(Generic[T]):
    """Networks grouped by prefix length: a lookup costs one dict probe per prefix length in use.

    Each network is stored under its top ``prefixlen`` bits in the table of its prefix length, so finding every
    network that holds an address is at most 33 (IPv4) or 129 (IPv6) probes, and in practice the handful of
    prefix lengths a list uses, whatever the number of entries.
    """

    def __init__(self) -> None:
        self._tables: dict[int, dict[int, dict[int, list[T]]]] = {4: {}, 6: {}}
        self._lengths: dict[int, tuple[int, ...]] = {4: (), 6: ()}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, cidr: Cidr, value: T) -> None:
        """Store ``value`` under ``cidr`` (several values may share one network)."""
        tables = self._tables[cidr.version]
        table = tables.get(cidr.prefixlen)
        if table is None:
            table = tables[cidr.prefixlen] = {}
            self._lengths[cidr.version] = tuple(sorted(tables, reverse=True))
        table.setdefault(cidr.key, []).append(value)
        self._count += 1

    def find(self, address: IPAddress) -> Iterator[tuple[Cidr, T]]:
        """Yield ``(network, value)`` for every stored network holding ``address``, most specific first."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        tables = self._tables[address.version]
        bits = address.max_prefixlen
        number = int(address)
        for length in self._lengths[address.version]:
            key = number >> (bits - length)
            values = tables[length].get(key)
            if values:
                cidr = Cidr(address.version, length, key)
                for value in values:
                    yield cidr, value


def parse_cidr(text: str) -> Cidr | None:
    """The network ``text`` spells (an address is a /32 or /128; host bits are ignored), or None.

    IPv4 is parsed by hand: ``ipaddress`` objects cost ~10x more, which is most of the load time of lists
    with 100k ranges. IPv6 goes through ``ipaddress``.
    """
    address, slash, length_text = text.partition("/")
    if ":" in address:
        network = parse_network(text)
        if network is None:
            return None
        return Cidr(
            network.version,
            network.prefixlen,
            int(network.network_address) >> network.max_prefixlen - network.prefixlen,
        )
    parts = address.split(".")
    if len(parts) != 4:
        return None
    number = 0
    for part in parts:
        if not (0 < len(part) <= 3 and part.isascii() and part.isdigit()) or (len(part) > 1 and part[0] == "0"):
            return None
        octet = int(part)
        if octet > 255:
            return None
        number = number << 8 | octet
    length = 32
    if slash:
        if not (0 < len(length_text) <= 2 and length_text.isascii() and length_text.isdigit()):
            return None
        length = int(length_text)
        if length > 32:
            return None
    return Cidr(4, length, number >> (32 - length))


def parse_address(text: str) -> IPAddress | None:
    """The IP address ``text`` spells (IPv6 brackets allowed), or None."""
    text = text.strip().strip("[]")
    if not text or not set(text) <= _NETWORK_CHARS:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_network(text: str) -> IPNetwork | None:
    """The network ``text`` spells (an address is a /32 or /128; host bits are ignored), or None."""
    if not text or not set(text) <= _NETWORK_CHARS or ("." not in text and ":" not in text):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def is_hash(text: str) -> bool:
    """True for a lowercase hex digest of MD5, SHA-1, SHA-256 or SHA-512 length."""
    return len(text) in HASH_LENGTHS and set(text) <= _HEX


def normalise_host(text: str) -> str:
    """Lowercase a host or domain name and drop a trailing root dot and a ``*.`` wildcard prefix."""
    host = text.strip().lower().rstrip(".")
    while host.startswith("*."):
        host = host[2:]
    return host


def parent_domains(host: str) -> Iterator[str]:
    """Yield the proper parents of ``host``: ``a.b.example.com`` → ``b.example.com``, ``example.com``, ``com``."""
    start = host.find(".")
    while start != -1:
        yield host[start + 1 :]
        start = host.find(".", start + 1)


def split_url(text: str) -> SplitResult | None:
    """Parse an absolute URL; None when it has no scheme or host."""
    try:
        parts = urlsplit(text.strip())
        host = parts.hostname
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    return parts


def normalise_url(text: str) -> str | None:
    """Canonical form for exact URL matching: scheme and host lowercased, empty path as ``/``, no fragment."""
    parts = split_url(text)
    if parts is None:
        return None
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def url_host(text: str) -> str | None:
    """The host of an absolute URL, normalised (brackets of an IPv6 literal removed), or None."""
    parts = split_url(text)
    if parts is None or parts.hostname is None:
        return None
    return normalise_host(parts.hostname)
