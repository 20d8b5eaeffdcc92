"""Indicator refang, extraction, validation and normalisation, all offline.

Parsers hand over structured :class:`~bot.intake.parsers.base.Entity` candidates and free text;
:func:`collect` turns both into the validated, deduplicated observables stored on an alert. :func:`normalise`
checks one candidate, :func:`extract` scans text, :func:`refang` undoes the usual defanging (``hxxp``,
``[.]``, ``[at]``, …).

Domains are checked against the Public Suffix List snapshot bundled with ``tldextract``: this module never
opens a socket and never writes a cache file. Every regex is linear in its input (no nested quantifier can
split the same text two ways), and results of the costly checks are memoised, because intake runs this for
every alert.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import tldextract

from bot.core.models import Observable, ObservableKind
from bot.intake.parsers.base import Entity

__all__ = ["collect", "extract", "normalise", "refang"]

_Canon = tuple[ObservableKind, str, bool]
"""What a canonicaliser returns: the (possibly corrected) kind, the canonical value and the internal flag."""

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_VALUE = 8192
"""Longest structured value or URL we look at; anything longer is not an indicator."""
_MAX_HOSTNAME = 253
_MAX_USER = 256
_MAX_CACHED = 512
"""Values up to this length go through the memoised canonicaliser; longer ones are checked uncached."""
_NESTED_URLS = 4
"""How many URLs embedded in another URL (redirectors, archives) are reported per URL."""

# --- refang -------------------------------------------------------------------------------------------------

# The leading lookahead lets the engine skip every position that cannot start a defang mark; that makes
# the scan several times faster on ordinary log text. Case is spelt out instead of re.IGNORECASE for the
# same reason.
_REFANG_RE = re.compile(
    r"""
    (?=[\[({\\]|[hHfF][xX])
    (?:
      (?P<http>\b[hH][xX]{2}[pP](?=[sS]?\b))                    # hxxp, hXXps
    | (?P<ftp>\b[fF][xX][pP](?=\[?:))                          # fxp:// (only before a colon: FXP is a word)
    | (?P<sep>\[\s*://\s*\])                                   # [://]
    | (?P<colon>\[\s*:\s*\])                                   # [:]
    | (?P<dot>[\[({]\s*(?:\.|[dD][oO][tT])\s*[\])}]|\\\.)      # [.] (.) {.} [dot] (dot) {dot} \.
    | (?P<at>[\[({]\s*(?:@|[aA][tT])\s*[\])}])                 # [@] [at] (at) {at}
    )
    """,
    re.VERBOSE,
)
_REFANG_TO = {"http": "http", "ftp": "ftp", "sep": "://", "colon": ":", "dot": ".", "at": "@"}
_DOT_WORD_RE = re.compile(r"(?<=\w)\x20+dot\x20+(?=\w)", re.IGNORECASE)  # "evil dot com"


def _refang_match(match: re.Match[str]) -> str:
    return _REFANG_TO[match.lastgroup or ""]


def refang(text: str) -> str:
    """Undo common defanging: ``hxxps://evil[.]com``, ``bad[at]evil(dot)com``, ``1.2.3[.]4``, ``fxp[:]//``."""
    text = _REFANG_RE.sub(_refang_match, text)
    if " dot " in text.lower():
        text = _DOT_WORD_RE.sub(".", text)
    return text


# --- offline Public Suffix List -----------------------------------------------------------------------------


@functools.cache
def _psl() -> tldextract.TLDExtract:
    """Build the one extractor, on first use.

    ``suffix_list_urls=()`` leaves no URL to fetch, so tldextract falls back to the snapshot shipped in the
    wheel; ``cache_dir=None`` disables its disk cache (the ``TLDEXTRACT_CACHE`` variable is only read for the
    default argument). Private suffixes (``github.io``, ``blogspot.com``) are not suffixes here, so
    ``user.github.io`` is accepted (whole) as a name under the ICANN suffix ``io``.
    """
    return tldextract.TLDExtract(
        suffix_list_urls=(),
        cache_dir=None,
        fallback_to_snapshot=True,
        include_psl_private_domains=False,
    )


@functools.lru_cache(maxsize=16384)
def _registrable(name: str) -> bool:
    """Whether ``name`` (lowercase, ASCII) has a registrable label under an ICANN public suffix."""
    parts = _psl()(name)
    return bool(parts.domain) and bool(parts.suffix) and "_" not in parts.domain


# --- canonicalisers -----------------------------------------------------------------------------------------

# Documentation ranges (RFC 5737, RFC 3849, RFC 9637) are marked non-global by ``ipaddress``, yet they are not
# anybody's private infrastructure: demo and test alerts everywhere use them for "the attacker". We treat them
# as external so that those alerts behave like real ones; no real lookup can leak anything about them.
_DOCUMENTATION_NETS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("2001:db8::/32"),
    ipaddress.ip_network("3fff::/20"),
)

_PORT_RE = re.compile(r"[0-9]{1,5}")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_URL_SHAPE_RE = re.compile(r"(?:https?|ftp)://[^\x00-\x20\x7f]+", re.IGNORECASE)
_HEX_RE = re.compile(r"[0-9a-f]+")
_CVE_RE = re.compile(r"CVE-(?:1999|20[0-9]{2})-[0-9]{4,12}")
_HASH_KINDS = {32: ObservableKind.MD5, 40: ObservableKind.SHA1, 64: ObservableKind.SHA256}
_PLACEHOLDERS = frozenset(
    {"", "-", "?", "n/a", "na", "none", "null", "nil", "unknown", "(unknown)", "undefined"},
)


def _is_internal(address: _IPAddress) -> bool:
    """Whether an address must stay inside: private, shared, reserved, loopback, link-local, multicast, …."""
    if any(address in net for net in _DOCUMENTATION_NETS):
        return False
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def _is_port(text: str) -> bool:
    return _PORT_RE.fullmatch(text) is not None and int(text) <= 65535


def _could_be_ip(text: str) -> bool:
    """Cheap pre-check: a public suffix never ends in a digit, IP forms do (or hold ``:``/``]``)."""
    return ":" in text or text[-1] in "0123456789]"


def _ip(value: str) -> _Canon | None:
    text = value.strip()
    if text.startswith("["):  # [::1] or [::1]:80
        text, closed, after = text[1:].partition("]")
        if not closed or (after and not (after[0] == ":" and _is_port(after[1:]))):
            return None
    elif text.count(":") == 1:  # 1.2.3.4:443 (an IPv6 address always has two colons or more)
        text, _, port = text.partition(":")
        if not _is_port(port):
            return None
    if "%" in text and ":" in text:  # IPv6 zone id: fe80::1%eth0
        text = text.partition("%")[0]
    try:
        address: _IPAddress = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:1.2.3.4 is 1.2.3.4 on the wire
    return ObservableKind.IP, address.compressed, _is_internal(address)


def _ascii_name(value: str) -> str | None:
    """Lowercase a host or domain name, drop the root dot and convert an IDN to its ``xn--`` form."""
    name = value.strip().lower().rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if not name or len(name) > _MAX_HOSTNAME or not _HOSTNAME_RE.fullmatch(name):
        return None
    return name


def _domain(value: str) -> _Canon | None:
    text = value.strip()
    if text.startswith("*."):  # certificate wildcard
        text = text[2:]
    if not text:
        return None
    if _could_be_ip(text):
        return _ip(text)  # a "domain" field holding an address becomes an IP observable
    name = _ascii_name(text)
    if name is None or not _registrable(name):
        return None
    return ObservableKind.DOMAIN, name, False


def _host(value: str) -> _Canon | None:
    text = value.strip()
    if text.lower() in _PLACEHOLDERS:
        return None
    if _could_be_ip(text) and (ip := _ip(text)) is not None:  # WEB-01 ends in a digit too
        return ip
    name = _ascii_name(text)
    if name is None or ("." in name and name.rpartition(".")[2].isdigit()):  # 1.2.3.999 is no host name
        return None
    return ObservableKind.HOST, name, False


def _url_parts(value: str) -> tuple[str, str, bool] | None:
    """Return ``(canonical url, host, internal)``; scheme and host are lowercased, the rest is kept."""
    return _url_parts_cached(value) if len(value) <= _MAX_CACHED else _split_url(value)


def _split_url(value: str) -> tuple[str, str, bool] | None:
    url = value.strip()
    if len(url) > _MAX_VALUE or not _URL_SHAPE_RE.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        return None
    if not host:
        return None
    if _could_be_ip(host) and (ip := _ip(host)) is not None:
        internal = ip[2]
    else:
        name = _ascii_name(host)
        if name is None or ("." in name and name.rpartition(".")[2].isdigit()):
            return None
        # A name outside the public DNS (localhost, intranet, *.corp) must not leave the building either.
        internal = not _registrable(name)
    scheme, _, rest = url.partition("://")
    cut = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if 0 <= found < cut:
            cut = found
    userinfo, at, hostport = rest[:cut].rpartition("@")
    return f"{scheme.lower()}://{userinfo}{at}{hostport.lower()}{rest[cut:]}", host, internal


_url_parts_cached = functools.lru_cache(maxsize=4096)(_split_url)


def _url(value: str) -> _Canon | None:
    parts = _url_parts(value)
    return None if parts is None else (ObservableKind.URL, parts[0], parts[2])


def _email(value: str) -> _Canon | None:
    text = value.strip()
    if text.endswith(">") and "<" in text:  # Bob <bob@example.com>
        text = text[text.rfind("<") + 1 : -1]
    if text[:7].lower() == "mailto:":
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if not at or len(local) > 64 or not _EMAIL_LOCAL_RE.fullmatch(local):
        return None
    checked = _domain(domain)
    if checked is None or checked[0] is not ObservableKind.DOMAIN:  # no address literals: bob@[10.0.0.1]
        return None
    return ObservableKind.EMAIL, f"{local}@{checked[1]}", False


def _hash(value: str) -> _Canon | None:
    digest = value.strip().lower()
    kind = _HASH_KINDS.get(len(digest))
    if kind is None or not _HEX_RE.fullmatch(digest) or digest.count(digest[0]) == len(digest):
        return None  # wrong length, not hex, or a placeholder such as 000…0
    return kind, digest, False


def _user(value: str) -> _Canon | None:
    name = value.strip()
    if len(name) > _MAX_USER or name.lower() in _PLACEHOLDERS or not name.isprintable():
        return None
    if name[0] in "\\@" or name[-1] in "\\@":  # "CORP\" and "alice@" name nobody
        return None
    return ObservableKind.USER, name, False


def _cve(value: str) -> _Canon | None:
    cve = value.strip().upper()
    return (ObservableKind.CVE, cve, False) if _CVE_RE.fullmatch(cve) else None


_CANONICALISERS: dict[ObservableKind, Callable[[str], _Canon | None]] = {
    ObservableKind.IP: _ip,
    ObservableKind.DOMAIN: _domain,
    ObservableKind.HOST: _host,
    ObservableKind.URL: _url,
    ObservableKind.EMAIL: _email,
    ObservableKind.MD5: _hash,
    ObservableKind.SHA1: _hash,
    ObservableKind.SHA256: _hash,
    ObservableKind.USER: _user,
    ObservableKind.CVE: _cve,
}
_REFANGED_KINDS = frozenset(
    {ObservableKind.IP, ObservableKind.DOMAIN, ObservableKind.HOST, ObservableKind.URL, ObservableKind.EMAIL}
)


@functools.lru_cache(maxsize=32768)
def _canonical_cached(kind: ObservableKind, value: str) -> _Canon | None:
    return _CANONICALISERS[kind](value)


def _canonical(kind: ObservableKind, value: str) -> _Canon | None:
    if len(value) <= _MAX_CACHED:
        return _canonical_cached(kind, value)
    return _CANONICALISERS[kind](value)


def normalise(kind: ObservableKind, value: str, role: str | None = None) -> Observable | None:
    """Validate and canonicalise one structured candidate; ``None`` when it is not a usable indicator.

    The result may be of another kind than asked when the value says so: a host or domain field holding an
    address gives an IP, a 64-digit "md5" gives a SHA256.

    Args:
        kind: What the source field claims the value is.
        value: The raw value; network kinds may be defanged.
        role: Where it was seen (``src``, ``dst``, …); kept on the result.

    Returns:
        The observable, with ``internal`` set for addresses and URLs that must not be sent outside.

    """
    if len(value) > _MAX_VALUE:
        return None
    if kind in _REFANGED_KINDS:
        value = refang(value)
    canon = _canonical(kind, value)
    if canon is None:
        return None
    return Observable(kind=canon[0], value=canon[1], role=role, internal=canon[2])


# --- free-text extraction -----------------------------------------------------------------------------------

_URL_RE = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`|\\^{}]+", re.IGNORECASE)
_SCHEME_RE = re.compile(r"\b(?:https?|ftp)://", re.IGNORECASE)
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,126}[A-Za-z][A-Za-z0-9-]{1,62}"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9_-])"
)
_IPV4_RE = re.compile(r"(?<![0-9A-Za-z_.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9A-Za-z_]|\.[0-9])")
_IPV6_RE = re.compile(
    r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{0,4})"
    r"(?![0-9A-Za-z_:]|\.[0-9])"
)
_DOMAIN_RE = re.compile(
    r"(?<![0-9A-Za-z_.@-])(?:[0-9A-Za-z](?:[0-9A-Za-z-]{0,61}[0-9A-Za-z])?\.){1,126}"
    r"[A-Za-z][0-9A-Za-z-]{0,61}[0-9A-Za-z](?![0-9A-Za-z_@-]|\.[0-9A-Za-z_-])"
)
_HASH_RE = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,64}(?![0-9A-Fa-f])")
_FREE_CVE_RE = re.compile(r"(?<![0-9A-Za-z_-])CVE-[0-9]{4}-[0-9]{4,12}(?![0-9A-Za-z_-])", re.IGNORECASE)
_CLOSERS = {")": "(", "]": "[", "}": "{"}

# Real TLDs that are also everyday file extensions. Bare in text ("run setup.sh", "invoice.one") they are far
# more often files than hosts, so they are only taken from a URL's host or an e-mail address.
_FILE_EXTENSION_TLDS = frozenset(
    {"zip", "mov", "sh", "py", "rs", "pl", "md", "ps", "pm", "so", "one", "pub", "cab", "java", "tf"}
)
# Reverse-DNS identifiers (Java packages in stack traces, Android application ids) look like domains.
_REVERSE_DNS_ROOTS = frozenset({"com", "org", "net", "java", "javax", "android", "androidx"})


def _trim_url(url: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets that follow a URL in prose."""
    while url:
        last = url[-1]
        if last in ".,;:!?*" or (last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])):
            url = url[:-1]
        else:
            break
    return url


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    """Blank out ``spans`` (sorted, disjoint) so later patterns do not look inside them."""
    if not spans:
        return text
    pieces: list[str] = []
    last = 0
    for start, end in spans:
        pieces.append(text[last:start])
        pieces.append(" " * (end - start))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _bare_domain_allowed(text: str, start: int, candidate: str) -> bool:
    """Apply the free-text-only heuristics that tell a domain from a file name or an identifier."""
    labels = candidate.split(".")
    tld = labels[-1]
    if tld.lower() in _FILE_EXTENSION_TLDS:
        return False
    if tld[0].isupper() and tld[1:].islower():  # "failed.Click here": a missing space, not a domain
        return False
    if len(labels) >= 3 and labels[0].lower() in _REVERSE_DNS_ROOTS:  # com.example.app
        return False
    before = text[start - 1] if start else ""
    # C:\Users\bob\invoice.one, /var/www/example.com/index.html — a path component, not a host.
    return not (before == "\\" or (before == "/" and text[start - 2 : start] != "//"))


class _Found:
    """Candidates in order of appearance, deduplicated by (kind, value) at their earliest position."""

    def __init__(self) -> None:
        self.items: dict[tuple[ObservableKind, str], tuple[int, int, Observable]] = {}

    def add(self, position: int, canon: _Canon | None) -> bool:
        """Record a checked candidate; return whether it was valid."""
        if canon is None:
            return False
        key = (canon[0], canon[1])
        known = self.items.get(key)
        if known is None:
            observable = Observable(kind=canon[0], value=canon[1], internal=canon[2])
            self.items[key] = (position, len(self.items), observable)
        elif position < known[0]:  # a URL host is recorded before the bare mention that precedes it
            self.items[key] = (position, known[1], known[2])
        return True

    def ordered(self) -> list[Observable]:
        """Return the observables sorted by first position, then by discovery."""
        return [observable for _, _, observable in sorted(self.items.values(), key=lambda item: item[:2])]


def _add_url(found: _Found, position: int, candidate: str) -> None:
    parts = _url_parts(candidate)
    if parts is None:
        return
    url, host, internal = parts
    found.add(position, (ObservableKind.URL, url, internal))
    found.add(position, _canonical(ObservableKind.DOMAIN, host))  # an IP host comes back as an IP


def extract(text: str, *, max_chars: int = 65536) -> list[Observable]:
    """Find indicators in free text, in order of first appearance.

    The first ``max_chars`` characters are refanged and scanned for URLs (and each URL's host), e-mail
    addresses (and their domain), IPv4 and IPv6 addresses, domains, MD5/SHA1/SHA256 digests and CVE ids.
    Domains and addresses inside a URL or e-mail address are not reported separately (the host and the
    e-mail domain are); digests and CVE ids are, since a sandbox or advisory link names them.
    """
    if max_chars <= 0 or not text:
        return []
    body = refang(text[:max_chars])
    found = _Found()

    spans: list[tuple[int, int]] = []
    for match in _URL_RE.finditer(body):
        spans.append(match.span())
        if match.end() - match.start() > _MAX_VALUE:
            continue
        candidate = _trim_url(match.group())
        _add_url(found, match.start(), candidate)
        for count, nested in enumerate(_SCHEME_RE.finditer(candidate, 1)):
            if count == _NESTED_URLS:
                break
            _add_url(found, match.start() + nested.start(), candidate[nested.start() :])
    body_without_urls = _mask(body, spans)

    spans = []
    for match in _EMAIL_RE.finditer(body_without_urls):
        spans.append(match.span())
        canon = _canonical(ObservableKind.EMAIL, match.group())
        if found.add(match.start(), canon) and canon is not None:
            found.add(match.start(), _canonical(ObservableKind.DOMAIN, canon[1].rpartition("@")[2]))
    rest = _mask(body_without_urls, spans)

    for match in _IPV4_RE.finditer(rest):
        found.add(match.start(), _canonical(ObservableKind.IP, match.group()))
    for match in _IPV6_RE.finditer(rest):
        candidate = match.group()
        if candidate.strip(":"):  # a bare "::" in prose is C++ or Rust, not an address
            found.add(match.start(), _canonical(ObservableKind.IP, candidate))
    for match in _DOMAIN_RE.finditer(rest):
        candidate = match.group()
        if _bare_domain_allowed(rest, match.start(), candidate):
            canon = _canonical(ObservableKind.DOMAIN, candidate)
            if canon is not None and canon[0] is ObservableKind.DOMAIN:
                found.add(match.start(), canon)

    for match in _HASH_RE.finditer(body):
        digest = match.group()
        # A run of only digits or only letters is an id or a word, not a digest (odds for a real MD5: 1e-6).
        if len(digest) in _HASH_KINDS and not digest.isdigit() and not digest.isalpha():
            found.add(match.start(), _canonical(ObservableKind.MD5, digest))
    for match in _FREE_CVE_RE.finditer(body):
        found.add(match.start(), _canonical(ObservableKind.CVE, match.group()))
    return found.ordered()


def collect(
    entities: Iterable[Entity],
    texts: Iterable[str],
    *,
    max_observables: int = 200,
    max_text_chars: int = 262144,
) -> tuple[Observable, ...]:
    """Build an alert's observables from its structured entities and its free text.

    Entities come first and keep their role; text is scanned afterwards, at most ``max_text_chars`` characters
    in all. A (kind, value) pair is kept once, at its first occurrence, and at most ``max_observables`` are
    returned. The order depends only on the input.
    """
    kept: dict[tuple[ObservableKind, str], Observable] = {}
    for entity in entities:
        if len(kept) >= max_observables:
            return tuple(kept.values())
        observable = normalise(entity.kind, entity.value, entity.role)
        if observable is not None:
            kept.setdefault((observable.kind, observable.value), observable)
    budget = max_text_chars
    for text in texts:
        if budget <= 0:
            break
        chunk = text[:budget]
        budget -= len(chunk)
        for observable in extract(chunk, max_chars=len(chunk)):
            if len(kept) >= max_observables:
                return tuple(kept.values())
            kept.setdefault((observable.kind, observable.value), observable)
    return tuple(kept.values())


_GUESS_ORDER = (
    ObservableKind.IP,
    ObservableKind.URL,
    ObservableKind.EMAIL,
    ObservableKind.SHA256,
    ObservableKind.SHA1,
    ObservableKind.MD5,
    ObservableKind.CVE,
    ObservableKind.DOMAIN,
)


def classify(value: str) -> Observable | None:
    """Read one indicator typed by a person: ``kind:value`` (``user:alice``, ``host:web-01``) or a guess.

    Guessing tries IP, URL, email, hashes, CVE and domain, in that order; users and hosts need the prefix.
    """
    text = value.strip()
    prefix, sep, rest = text.partition(":")
    if sep and prefix.lower() in {str(k) for k in ObservableKind} and not rest.startswith("//"):
        return normalise(ObservableKind(prefix.lower()), rest)
    for kind in _GUESS_ORDER:
        if (found := normalise(kind, text)) is not None:
            return found
    return None
