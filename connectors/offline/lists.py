"""Local allow and block lists: files of indicators the team maintains, reloaded when they change.

A file is plain text (one indicator per line, ``#`` starts a comment; text after `` #`` on an entry's line is its
note) or, when its name ends in ``.csv``, CSV (first column the indicator, optional second column a note; ``#``
rows and a header row are skipped). An entry is an IP address, a CIDR range (IPv4 or IPv6), a URL (matched
exactly, after lowercasing scheme and host), an email address, an MD5/SHA-1/SHA-256 hash, or a name: a domain
or host (a listed domain also matches its subdomains; ``*.example.com`` means the same as ``example.com``), a
user name or a CVE id.

Which entries an indicator is checked against:

- IP: every range that holds it. Domain / host: the name and each of its parent domains (or the ranges, when
  the host is an IP literal). User, CVE: the name, exactly (a user may also be listed by email / UPN).
- URL and email: the exact value; a *block* list also matches the URL's host or the email's domain. An *allow*
  list does not: allowing a domain vouches for the domain, not for every URL on it (file-sharing and hosting
  sites serve anyone's content) nor for every mailbox.

An allow-list hit wins over a block-list hit. Both are ``authoritative``: the merge lets them decide alone.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.errors import ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from connectors.offline.index import (
    CidrIndex,
    is_hash,
    normalise_host,
    normalise_url,
    parent_domains,
    parse_address,
    parse_cidr,
    url_host,
)

logger = logging.getLogger(__name__)

NAME = "offline-lists"
HEADER_WORDS = frozenset(
    {"indicator", "indicators", "value", "ioc", "observable", "entry", "ip", "address", "cidr", "network", "domain"}
    | {"host", "hostname", "url", "hash", "email", "user", "username"}
)
"""A CSV file whose first row starts with one of these words has a header row."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a list file: the indicator as written and its note."""

    value: str
    note: str = ""


@dataclass(slots=True)
class ListIndex:
    """The entries of one file, by what they can match; every probe is a dict lookup."""

    networks: CidrIndex[Entry] = field(default_factory=CidrIndex)
    urls: dict[str, Entry] = field(default_factory=dict)
    emails: dict[str, Entry] = field(default_factory=dict)
    hashes: dict[str, Entry] = field(default_factory=dict)
    names: dict[str, Entry] = field(default_factory=dict)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.networks) + len(self.urls) + len(self.emails) + len(self.hashes) + len(self.names)

    def add(self, text: str, note: str = "") -> bool:
        """Add one indicator; False (and counted in ``skipped``) when it is not one."""
        value = text.strip()
        entry = Entry(value, note.strip())
        if not value or len(value.split(None, 1)) != 1:
            self.skipped += 1
            return False
        if "://" in value:
            url = normalise_url(value)
            if url is None:
                self.skipped += 1
                return False
            self.urls.setdefault(url, entry)
            return True
        cidr = parse_cidr(value)
        if cidr is not None:
            self.networks.add(cidr, entry)
            return True
        lowered = value.lower()
        if "@" in lowered:
            self.emails.setdefault(lowered, entry)
        elif is_hash(lowered):
            self.hashes.setdefault(lowered, entry)
        else:
            name = normalise_host(lowered)
            if not name:
                self.skipped += 1
                return False
            self.names.setdefault(name, entry)
        return True

    def match(self, observable: Observable, *, containing: bool) -> Entry | None:
        """The entry ``observable`` hits, or None; ``containing`` also checks a URL's host and an email's domain."""
        value = observable.value.strip()
        match observable.kind:
            case ObservableKind.IP:
                return self._address(value)
            case ObservableKind.DOMAIN | ObservableKind.HOST:
                return self._host(value)
            case ObservableKind.URL:
                url = normalise_url(value)
                hit = self.urls.get(url) if url is not None else None
                if hit is None and containing and (host := url_host(value)) is not None:
                    hit = self._host(host)
                return hit
            case ObservableKind.EMAIL:
                lowered = value.lower()
                hit = self.emails.get(lowered)
                if hit is None and containing and "@" in lowered:
                    hit = self._host(lowered.rpartition("@")[2])
                return hit
            case ObservableKind.MD5 | ObservableKind.SHA1 | ObservableKind.SHA256:
                return self.hashes.get(value.lower())
            case ObservableKind.USER:
                lowered = value.lower()
                return self.names.get(lowered) or self.emails.get(lowered)
            case ObservableKind.CVE:
                return self.names.get(value.lower())

    def _address(self, value: str) -> Entry | None:
        address = parse_address(value)
        if address is None:
            return None
        return next((entry for _, entry in self.networks.find(address)), None)

    def _host(self, value: str) -> Entry | None:
        host = normalise_host(value)
        if not host:
            return None
        if parse_address(host) is not None:
            return self._address(host)
        hit = self.names.get(host)
        if hit is not None:
            return hit
        for parent in parent_domains(host):
            hit = self.names.get(parent)
            if hit is not None:
                return hit
        return None


def parse_list(text: str, *, csv_format: bool) -> ListIndex:
    """Parse a list file's text (see the module docstring for the formats)."""
    index = ListIndex()
    if csv_format:
        rows = csv.reader(io.StringIO(text))
        first = True
        for row in rows:
            cells = [cell.strip() for cell in row]
            if not cells or not cells[0] or cells[0].startswith("#"):
                continue
            if first and cells[0].lower() in HEADER_WORDS:
                first = False
                continue
            first = False
            index.add(cells[0], cells[1] if len(cells) > 1 else "")
        return index
    for line in text.splitlines():
        parts = line.split(None, 1)
        if not parts or parts[0].startswith("#"):
            continue
        value, note = parts[0], parts[1] if len(parts) > 1 else ""
        if "://" not in value and "#" in value:  # "evil.com#note"; a URL keeps its fragment
            value, _, tail = value.partition("#")
            note = f"{tail} {note}"
        index.add(value, note.strip().lstrip("#").strip())
    return index


def read_list(path: Path) -> ListIndex:
    """Read and parse one file (blocking: call it in a worker thread)."""
    text = path.read_text(encoding="utf-8-sig")
    return parse_list(text, csv_format=path.suffix.lower() == ".csv")


Stamp = tuple[int, int]
"""``(st_mtime_ns, st_size)``: a file is re-read when this changes."""


def _stamps(paths: Sequence[Path]) -> list[Stamp | OSError]:
    result: list[Stamp | OSError] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError as err:
            result.append(err)
        else:
            result.append((stat.st_mtime_ns, stat.st_size))
    return result


@dataclass(slots=True)
class ListFile:
    """One configured file: its last good contents, and whether it is currently unreadable."""

    path: Path
    label: str
    allow: bool
    index: ListIndex = field(default_factory=ListIndex)
    stamp: Stamp | None = None
    problem: str | None = None

    def failed(self, error: Exception) -> None:
        """Remember that the file cannot be read; warn only on the first failure in a row."""
        problem = f"{error.__class__.__name__}: {getattr(error, 'strerror', None) or error}"
        if self.problem is None:
            kept = f"keeping the last {len(self.index)} entries" if self.stamp is not None else "no entries"
            logger.warning("%s: cannot read %s (%s); %s", NAME, self.label, problem, kept)
        self.problem = problem
        self.stamp = None

    def loaded(self, index: ListIndex, stamp: Stamp) -> None:
        """Take new contents; log a recovery once."""
        if self.problem is not None:
            logger.info("%s: %s is readable again", NAME, self.label)
        self.problem = None
        if index.skipped:
            logger.warning("%s: %s: skipped %d lines that are not indicators", NAME, self.label, index.skipped)
        self.index = index
        self.stamp = stamp


class LocalLists:
    """IntelLookup over local allow and block lists (nothing leaves the machine)."""

    name = NAME
    kinds = frozenset(ObservableKind)
    external = False

    def __init__(
        self,
        allowlists: Iterable[str],
        blocklists: Iterable[str],
        *,
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._files = [ListFile(_path(p), p, allow=True) for p in allowlists]
        self._files += [ListFile(_path(p), p, allow=False) for p in blocklists]
        self.credential_id = hashlib.sha256(
            "\x1f".join(f"{'allow' if f.allow else 'block'}:{f.path}" for f in self._files).encode()
        ).hexdigest()[:16]
        self._interval = reload_interval
        self._clock = clock
        self._checked: float | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> str:
        """Load the lists and say how many entries each side has; raise when a configured file is unreadable."""
        await self._refresh(force=True)
        broken = [f"{f.label} ({f.problem})" for f in self._files if f.problem is not None]
        if broken:
            raise ConnectorUnavailable(f"{self.name}: cannot read {', '.join(broken)}")
        return ", ".join(
            f"{side} lists: {len(files)} file(s), {sum(len(f.index) for f in files)} entries"
            for side, files in (("allow", self._side(allow=True)), ("block", self._side(allow=False)))
        )

    async def lookup(self, observable: Observable) -> Verdict:
        """Allow list first, then block list; a miss is UNKNOWN."""
        await self._refresh()
        for allow in (True, False):
            for file in self._side(allow=allow):
                entry = file.index.match(observable, containing=not allow)
                if entry is not None:
                    return self._verdict(file, entry)
        return Verdict(self.name, VerdictLevel.UNKNOWN, summary="not on a local allow or block list")

    def _side(self, *, allow: bool) -> list[ListFile]:
        return [f for f in self._files if f.allow is allow]

    def _verdict(self, file: ListFile, entry: Entry) -> Verdict:
        side = "allow" if file.allow else "block"
        summary = f"on {side} list {file.label}" + (f": {entry.note}" if entry.note else "")
        facts = {"list": file.label, "entry": entry.value} | ({"note": entry.note} if entry.note else {})
        return Verdict(
            self.name,
            VerdictLevel.BENIGN if file.allow else VerdictLevel.MALICIOUS,
            score=0 if file.allow else 100,
            summary=summary,
            facts=facts,
            authoritative=True,
        )

    async def _refresh(self, *, force: bool = False) -> None:
        """Re-read the files whose stamp changed, at most every ``reload_interval`` seconds."""
        if not force and self._checked is not None and self._clock() - self._checked < self._interval:
            return
        async with self._lock:
            if not force and self._checked is not None and self._clock() - self._checked < self._interval:
                return  # another caller refreshed while this one waited
            stamps = await asyncio.to_thread(_stamps, [f.path for f in self._files])
            for file, stamp in zip(self._files, stamps, strict=True):
                if isinstance(stamp, OSError):
                    file.failed(stamp)
                elif stamp != file.stamp:
                    try:
                        index = await asyncio.to_thread(read_list, file.path)
                    except (OSError, UnicodeDecodeError, csv.Error) as err:
                        file.failed(err)
                    else:
                        file.loaded(index, stamp)
            self._checked = self._clock()


def _path(configured: str) -> Path:
    return Path(os.path.expanduser(configured))
