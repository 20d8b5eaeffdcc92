"""Offline intelligence: local allow/block lists, MISP warning lists and ATT&CK names, with the network cut off."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import ConnectorUnavailable
from bot.core.models import Observable, ObservableKind
from bot.core.ports import IntelLookup, VerdictLevel
from connectors.offline import Settings, build
from connectors.offline import warninglists as wl_module
from connectors.offline.attack import Technique, find_techniques, preload, technique
from connectors.offline.lists import LocalLists
from connectors.offline.warninglists import Catalogue, WarningLists, load_catalogue
from tests.conftest import FIXTURES

DATA = FIXTURES / "offline"
K = ObservableKind


def obs(kind: ObservableKind, value: str) -> Observable:
    return Observable(kind, value)


def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the offline connector tried to use the network")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here fails if anything opens a connection or resolves a name."""
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def bump(path: Path, text: str) -> None:
    """Rewrite a file and move its mtime forward, so a coarse-mtime filesystem still sees the change."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


# --- offline-lists ----------------------------------------------------------------------------------------------


@pytest.fixture
def lists() -> LocalLists:
    return LocalLists(
        [str(DATA / "allow.txt"), str(DATA / "allow.csv")], [str(DATA / "block.txt"), str(DATA / "block.csv")]
    )


async def test_lists_satisfy_the_intel_port(lists: LocalLists) -> None:
    assert isinstance(lists, IntelLookup)
    assert lists.name == "offline-lists"
    assert lists.external is False
    assert lists.kinds == frozenset(ObservableKind)
    other = LocalLists([str(DATA / "allow.txt")], [str(DATA / "block.csv")])
    assert other.credential_id != lists.credential_id
    assert (
        LocalLists([str(DATA / "allow.txt")], []).credential_id
        != LocalLists([], [str(DATA / "allow.txt")]).credential_id
    )


async def test_block_list_hit_is_malicious_authoritative_with_note(lists: LocalLists) -> None:
    verdict = await lists.lookup(obs(K.IP, "203.0.113.7"))
    assert verdict.level is VerdictLevel.MALICIOUS
    assert verdict.score == 100
    assert verdict.authoritative is True
    assert verdict.source == "offline-lists"
    assert verdict.summary == f"on block list {DATA / 'block.txt'}: seen brute forcing the VPN"
    assert verdict.facts["entry"] == "203.0.113.7"


async def test_allow_list_hit_is_benign_authoritative(lists: LocalLists) -> None:
    verdict = await lists.lookup(obs(K.IP, "10.20.30.40"))
    assert verdict.level is VerdictLevel.BENIGN
    assert verdict.score == 0
    assert verdict.authoritative is True
    assert verdict.summary == f"on allow list {DATA / 'allow.txt'}: internal ranges are ours"


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("198.51.100.77", VerdictLevel.MALICIOUS),  # inside 198.51.100.0/24
        ("198.51.100.0", VerdictLevel.MALICIOUS),
        ("198.51.101.1", VerdictLevel.UNKNOWN),  # just outside
        ("2001:db8:bad:1::5", VerdictLevel.MALICIOUS),  # inside 2001:db8:bad::/48
        ("2001:DB8:BAD::", VerdictLevel.MALICIOUS),
        ("2001:db8:bae::1", VerdictLevel.UNKNOWN),
        ("2001:db8:c2::1", VerdictLevel.MALICIOUS),  # single v6 address from the CSV
        ("2001:db8:c2::2", VerdictLevel.UNKNOWN),
        ("::ffff:203.0.113.7", VerdictLevel.MALICIOUS),  # IPv4-mapped form of a listed v4 address
        ("203.0.113.8", VerdictLevel.UNKNOWN),
        ("not-an-ip", VerdictLevel.UNKNOWN),
    ],
)
async def test_cidr_hits_and_misses(lists: LocalLists, value: str, level: VerdictLevel) -> None:
    assert (await lists.lookup(obs(K.IP, value))).level is level


@pytest.mark.parametrize(
    ("kind", "value", "level"),
    [
        (K.DOMAIN, "evil.example", VerdictLevel.MALICIOUS),  # listed as *.evil.example
        (K.DOMAIN, "www.Evil.Example.", VerdictLevel.MALICIOUS),
        (K.DOMAIN, "a.b.c.evil.example", VerdictLevel.MALICIOUS),
        (K.HOST, "db01.evil.example", VerdictLevel.MALICIOUS),
        (K.DOMAIN, "notevil.example", VerdictLevel.UNKNOWN),  # a suffix, but not on a label boundary
        (K.DOMAIN, "example", VerdictLevel.UNKNOWN),  # parents do not match their children's entries
        (K.DOMAIN, "mail.corp.example", VerdictLevel.BENIGN),
        (K.DOMAIN, "malware.example.org", VerdictLevel.MALICIOUS),  # from the CSV
        (K.HOST, "198.51.100.9", VerdictLevel.MALICIOUS),  # a host given as an address
    ],
)
async def test_domains_match_their_subdomains(
    lists: LocalLists, kind: ObservableKind, value: str, level: VerdictLevel
) -> None:
    assert (await lists.lookup(obs(kind, value))).level is level


async def test_allow_wins_over_block(lists: LocalLists) -> None:
    address = await lists.lookup(obs(K.IP, "10.9.9.9"))  # block.txt lists it; allow.txt holds 10.0.0.0/8
    host = await lists.lookup(obs(K.DOMAIN, "intranet.corp.example"))  # block.txt lists it; corp.example allowed
    assert address.level is VerdictLevel.BENIGN and address.authoritative
    assert host.level is VerdictLevel.BENIGN and host.facts["entry"] == "corp.example"


async def test_csv_header_comments_quoted_notes_and_bad_rows(
    lists: LocalLists, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        c2 = await lists.lookup(obs(K.DOMAIN, "malware.example.org"))
    assert c2.summary == f"on block list {DATA / 'block.csv'}: C2 server, from case 12"
    cve = await lists.lookup(obs(K.CVE, "cve-2021-44228"))
    assert cve.level is VerdictLevel.MALICIOUS and cve.facts["note"] == "log4shell"
    assert (await lists.lookup(obs(K.USER, "indicator"))).level is VerdictLevel.UNKNOWN  # the header row
    assert (await lists.lookup(obs(K.USER, "value"))).level is VerdictLevel.UNKNOWN
    ceo = await lists.lookup(obs(K.EMAIL, "JDoe@corp.example"))
    assert ceo.level is VerdictLevel.BENIGN and ceo.summary.endswith("allow.csv: CEO mailbox")
    assert [r.getMessage() for r in caplog.records] == [
        f"offline-lists: {DATA / 'block.csv'}: skipped 1 lines that are not indicators"
    ]


async def test_urls_emails_hashes_users(lists: LocalLists) -> None:
    async def level(kind: ObservableKind, value: str) -> VerdictLevel:
        return (await lists.lookup(obs(kind, value))).level

    assert await level(K.URL, "http://phish.example.net/login.php") is VerdictLevel.MALICIOUS
    assert await level(K.URL, "HTTP://Phish.Example.NET/login.php") is VerdictLevel.MALICIOUS  # scheme/host case
    assert await level(K.URL, "http://phish.example.net/Login.php") is VerdictLevel.UNKNOWN  # paths are exact
    assert await level(K.URL, "https://cdn.evil.example/x.exe") is VerdictLevel.MALICIOUS  # block: listed host
    assert await level(K.URL, "https://intranet.corp.example/login") is VerdictLevel.BENIGN  # allowed URL
    # An allowed domain does not vouch for every URL on it.
    assert await level(K.URL, "https://files.corp.example/payload.exe") is VerdictLevel.UNKNOWN
    assert await level(K.EMAIL, "bad@spam.example") is VerdictLevel.MALICIOUS
    assert await level(K.EMAIL, "ceo@evil.example") is VerdictLevel.MALICIOUS  # block: listed domain
    assert await level(K.EMAIL, "someone@corp.example") is VerdictLevel.UNKNOWN  # allow: exact only
    assert await level(K.MD5, "44d88612fea8a8f36de82e1278abb02f") is VerdictLevel.MALICIOUS
    assert await level(K.USER, "SVC-Backup") is VerdictLevel.BENIGN


async def test_miss_is_unknown_and_not_authoritative(lists: LocalLists) -> None:
    verdict = await lists.lookup(obs(K.DOMAIN, "example.com"))
    assert verdict.level is VerdictLevel.UNKNOWN
    assert verdict.authoritative is False


async def test_check_counts_entries(lists: LocalLists) -> None:
    assert await lists.check() == "allow lists: 2 file(s), 5 entries, block lists: 2 file(s), 12 entries"


async def test_reload_after_the_interval_only(tmp_path: Path) -> None:
    path = tmp_path / "block.txt"
    path.write_text("evil.example\n")
    clock = Clock()
    lists = LocalLists([], [str(path)], reload_interval=5, clock=clock)
    assert (await lists.lookup(obs(K.DOMAIN, "evil.example"))).level is VerdictLevel.MALICIOUS

    bump(path, "other.example  # swapped\n")
    clock.now += 1  # inside the interval: the old contents still answer
    assert (await lists.lookup(obs(K.DOMAIN, "evil.example"))).level is VerdictLevel.MALICIOUS

    clock.now += 5
    assert (await lists.lookup(obs(K.DOMAIN, "evil.example"))).level is VerdictLevel.UNKNOWN
    assert (await lists.lookup(obs(K.DOMAIN, "other.example"))).summary.endswith(": swapped")


async def test_reload_with_a_real_clock(tmp_path: Path) -> None:
    path = tmp_path / "allow.csv"
    path.write_text("indicator,note\n192.0.2.1,lab\n")
    lists = LocalLists([str(path)], [], reload_interval=0.01)
    assert (await lists.lookup(obs(K.IP, "192.0.2.1"))).level is VerdictLevel.BENIGN
    bump(path, "indicator,note\n192.0.2.2,lab\n")
    await asyncio.sleep(0.05)
    assert (await lists.lookup(obs(K.IP, "192.0.2.1"))).level is VerdictLevel.UNKNOWN
    assert (await lists.lookup(obs(K.IP, "192.0.2.2"))).level is VerdictLevel.BENIGN


async def test_missing_file_warns_once_and_keeps_last_good_contents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    block = tmp_path / "block.txt"
    block.write_text("203.0.113.7\n")
    missing = tmp_path / "nope.txt"
    clock = Clock()
    lists = LocalLists([str(missing)], [str(block)], reload_interval=1, clock=clock)
    with caplog.at_level(logging.INFO, logger="connectors.offline.lists"):
        for _ in range(3):
            assert (await lists.lookup(obs(K.IP, "203.0.113.7"))).level is VerdictLevel.MALICIOUS
            clock.now += 2
        block.unlink()  # a file that goes away keeps its last good contents
        for _ in range(3):
            assert (await lists.lookup(obs(K.IP, "203.0.113.7"))).level is VerdictLevel.MALICIOUS
            clock.now += 2
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2
        assert str(missing) in warnings[0] and "no entries" in warnings[0]
        assert str(block) in warnings[1] and "keeping the last 1 entries" in warnings[1]

        block.write_text("198.51.100.1\n")
        assert (await lists.lookup(obs(K.IP, "198.51.100.1"))).level is VerdictLevel.MALICIOUS
        assert (await lists.lookup(obs(K.IP, "203.0.113.7"))).level is VerdictLevel.UNKNOWN
    assert any("readable again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    with pytest.raises(ConnectorUnavailable, match="nope.txt"):
        await lists.check()


async def test_files_are_touched_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "block.txt"
    path.write_text("evil.example\n")
    threads: list[str] = []
    real_stat, real_read = Path.stat, Path.read_text

    def stat(self: Path, **kwargs: Any) -> os.stat_result:
        if self == path:
            threads.append(threading.current_thread().name)
        return real_stat(self, **kwargs)

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == path:
            threads.append(threading.current_thread().name)
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    monkeypatch.setattr(Path, "read_text", read_text)
    lists = LocalLists([], [str(path)], reload_interval=0)
    await lists.lookup(obs(K.DOMAIN, "evil.example"))
    await lists.lookup(obs(K.DOMAIN, "evil.example"))
    assert len(threads) == 3  # stat, read, stat
    assert threading.main_thread().name not in threads


async def test_large_list_loads_and_answers_quickly(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    lines = ["# 100k entries"]
    for i in range(25_000):
        lines.append(f"10.{i // 256 % 256}.{i % 256}.{i % 200 + 1}")
        lines.append(f"172.{16 + i % 16}.{i % 256}.0/24  # range {i}")
        lines.append(f"host{i}.bad{i % 1000}.example")
        lines.append(f"{i:032x}")
    path.write_text("\n".join(lines))
    lists = LocalLists([], [str(path)])
    started = time.perf_counter()
    assert await lists.check() == "allow lists: 0 file(s), 0 entries, block lists: 1 file(s), 100000 entries"
    # Generous bounds: they catch a quadratic load or a linear scan per query, not machine speed (bench/ measures).
    assert time.perf_counter() - started < 15

    queries = [obs(K.DOMAIN, f"www.host{i}.bad{i % 1000}.example") for i in range(0, 25_000, 5)]
    queries += [obs(K.IP, f"172.{16 + i % 16}.{i % 256}.77") for i in range(2_500)]
    queries += [obs(K.IP, f"192.0.2.{i % 250}") for i in range(2_500)]
    started = time.perf_counter()
    verdicts = [await lists.lookup(q) for q in queries]
    assert time.perf_counter() - started < 5
    assert len(verdicts) == 10_000
    assert sum(v.level is VerdictLevel.MALICIOUS for v in verdicts) == 7_500


# --- build ------------------------------------------------------------------------------------------------------


def test_build_defaults_to_warninglists_and_attack_and_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.offline.attack import AttackCatalog

    calls: list[object] = []
    monkeypatch.setattr(wl_module, "load_catalogue", lambda *a, **k: calls.append(a))
    built = build(Settings())
    assert [type(c) for c in built] == [WarningLists, AttackCatalog]
    lookups = [c for c in built if isinstance(c, IntelLookup)]
    assert [c.name for c in lookups] == ["misp-warninglists"] and lookups[0].external is False
    assert calls == []  # start-up does not wait for (or even start) the load

    both = build(Settings(blocklists=[str(DATA / "block.txt")], reload_interval=1, attack=False))
    assert [c.name for c in both] == ["offline-lists", "misp-warninglists"]
    assert build(Settings(warninglists=False, attack=False)) == []


# --- misp-warninglists on small fixture lists (the rules) -------------------------------------------------------


@pytest.fixture
def fixture_lists() -> WarningLists:
    return WarningLists(DATA / "warninglists")


async def test_fixture_lists_roles(fixture_lists: WarningLists) -> None:
    async def verdict(kind: ObservableKind, value: str) -> tuple[VerdictLevel, list[str]]:
        result = await fixture_lists.lookup(obs(kind, value))
        return result.level, list(result.facts.get("list_ids", []))

    # A resolver list vouches even though a broad VPN/datacenter range also holds the address.
    assert await verdict(K.IP, "8.8.8.8") == (VerdictLevel.BENIGN, ["public-dns-v4", "vpn-ipv4"])
    # A scanner list overrides vouching.
    assert await verdict(K.IP, "8.8.4.4") == (VerdictLevel.UNKNOWN, ["shodan-scanning", "public-dns-v4"])
    assert await verdict(K.IP, "192.0.2.5") == (VerdictLevel.UNKNOWN, ["vpn-ipv4"])
    assert await verdict(K.IP, "81.2.69.142") == (VerdictLevel.UNKNOWN, [])
    # Hosting lists: the service's own name is context; a name under it is not vouched for.
    assert await verdict(K.DOMAIN, "duckdns.org") == (VerdictLevel.BENIGN, ["tranco10k", "dynamic-dns"])
    assert await verdict(K.DOMAIN, "evil.duckdns.org") == (VerdictLevel.UNKNOWN, ["dynamic-dns", "tranco10k"])
    # Popularity vouches for the listed name only.
    assert await verdict(K.DOMAIN, "github.io") == (VerdictLevel.BENIGN, ["tranco10k"])
    assert await verdict(K.DOMAIN, "evil.github.io") == (VerdictLevel.UNKNOWN, ["tranco10k"])
    # A URL is not vouched for by its host; a bare site URL is judged as the host.
    assert await verdict(K.URL, "https://drive.google.com/file/d/x") == (
        VerdictLevel.UNKNOWN,
        ["lots-project", "tranco10k"],
    )
    assert await verdict(K.URL, "https://google.com/") == (VerdictLevel.BENIGN, ["tranco10k"])
    assert await verdict(K.URL, "https://google.com/search?q=x") == (VerdictLevel.UNKNOWN, ["tranco10k"])
    assert await verdict(K.SHA1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709") == (
        VerdictLevel.BENIGN,
        ["empty-hashes"],
    )


async def test_fixture_lists_summaries_and_check(fixture_lists: WarningLists) -> None:
    benign = await fixture_lists.lookup(obs(K.IP, "8.8.8.8"))
    assert benign.summary == "MISP warning list: List of known IPv4 public DNS resolvers"
    assert benign.facts["lists"] == [
        "List of known IPv4 public DNS resolvers",
        "Specialized list of vpn-ipv4 addresses",
    ]
    assert benign.score == 0 and benign.authoritative is False and benign.source == "misp-warninglists"
    caution = await fixture_lists.lookup(obs(K.IP, "71.6.135.131"))
    assert caution.summary == "MISP warning list: Shodan IP-Ranges, pot. used for Scanning — known, not vouched for"
    miss = await fixture_lists.lookup(obs(K.IP, "81.2.69.142"))
    assert miss.summary == "not on any MISP warning list" and dict(miss.facts) == {}
    # phone_numbers answers no kind soarbot has, so it is not loaded.
    assert (await fixture_lists.check()).startswith("7 MISP warning lists, 14 entries, loaded in ")


async def test_concurrent_first_lookups_share_one_load(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    def slow_load(*args: Any, **kwargs: Any) -> Catalogue:
        loads.append(threading.current_thread().name)
        time.sleep(0.2)
        return load_catalogue(*args, **kwargs)

    monkeypatch.setattr(wl_module, "load_catalogue", slow_load)
    lists = WarningLists(DATA / "warninglists")
    # A caller that gives up (the enrichment deadline) does not cancel the shared load.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(lists.lookup(obs(K.IP, "8.8.8.8")), 0.01)
    verdicts = await asyncio.gather(*(lists.lookup(obs(K.IP, "8.8.8.8")) for _ in range(10)))
    assert {v.level for v in verdicts} == {VerdictLevel.BENIGN}
    assert len(loads) == 1
    assert loads != [threading.main_thread().name]
    await lists.aclose()
    assert (await lists.lookup(obs(K.IP, "8.8.8.8"))).level is VerdictLevel.BENIGN  # still loaded


async def test_load_failure_is_unavailable_logged_once_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "lists"
    lists = WarningLists(root)
    with caplog.at_level(logging.WARNING, logger="connectors.offline.warninglists"):
        for _ in range(2):
            with pytest.raises(ConnectorUnavailable):
                await lists.lookup(obs(K.IP, "8.8.8.8"))
    assert len(caplog.records) == 1
    shutil.copytree(DATA / "warninglists", root)
    assert (await lists.lookup(obs(K.IP, "8.8.8.8"))).level is VerdictLevel.BENIGN


async def test_a_broken_list_file_is_skipped_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "lists"
    shutil.copytree(DATA / "warninglists", root)
    (root / "broken").mkdir()
    (root / "broken" / "list.json").write_text("{not json")
    lists = WarningLists(root)
    with caplog.at_level(logging.WARNING, logger="connectors.offline.warninglists"):
        assert (await lists.lookup(obs(K.IP, "8.8.8.8"))).level is VerdictLevel.BENIGN
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "(2 not loaded)" in await lists.check()


# --- misp-warninglists on the bundled data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> WarningLists:
    """The real bundled lists, loaded once for this module (about a second)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket, "getaddrinfo", _no_network)
        lookup = WarningLists()
        asyncio.run(lookup.check())
    return lookup


@pytest.mark.parametrize(
    ("kind", "value", "level", "list_id"),
    [
        (K.IP, "8.8.8.8", VerdictLevel.BENIGN, "public-dns-v4"),
        (K.IP, "2001:4860:4860::8888", VerdictLevel.BENIGN, "public-dns-v6"),
        (K.IP, "71.6.135.131", VerdictLevel.UNKNOWN, "shodan-scanning"),  # census.shodan.io
        (K.IP, "162.142.125.1", VerdictLevel.UNKNOWN, "censys-scanning"),
        (K.IP, "10.1.2.3", VerdictLevel.UNKNOWN, "rfc1918"),
        (K.DOMAIN, "google.com", VerdictLevel.BENIGN, "google"),
        (K.DOMAIN, "evil.duckdns.org", VerdictLevel.UNKNOWN, "dynamic-dns"),
        (K.URL, "https://bit.ly/3xYz", VerdictLevel.UNKNOWN, "url-shortener"),
        (K.EMAIL, "someone@mailinator.com", VerdictLevel.UNKNOWN, "disposable-email"),
        (K.MD5, "d41d8cd98f00b204e9800998ecf8427e", VerdictLevel.BENIGN, "empty-hashes"),
        (
            K.SHA256,
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            VerdictLevel.BENIGN,
            "empty-hashes",
        ),
    ],
)
async def test_bundled_lists(
    bundled: WarningLists, kind: ObservableKind, value: str, level: VerdictLevel, list_id: str
) -> None:
    verdict = await bundled.lookup(obs(kind, value))
    assert verdict.level is level
    assert list_id in verdict.facts["list_ids"]
    assert len(verdict.facts["lists"]) == len(verdict.facts["list_ids"])
    assert verdict.summary.startswith("MISP warning list: ")
    assert (
        verdict.summary.endswith("known, not vouched for") or level is not VerdictLevel.UNKNOWN or list_id == "rfc1918"
    )


async def test_bundled_named_examples(bundled: WarningLists) -> None:
    dns = await bundled.lookup(obs(K.IP, "8.8.8.8"))
    assert dns.summary == "MISP warning list: List of known IPv4 public DNS resolvers"
    shodan = await bundled.lookup(obs(K.IP, "71.6.135.131"))
    assert "Shodan" in shodan.summary and "known, not vouched for" in shodan.summary
    empty = await bundled.lookup(obs(K.MD5, "d41d8cd98f00b204e9800998ecf8427e"))
    assert empty.summary.startswith("MISP warning list: List of known hashes for empty files")
    random = await bundled.lookup(obs(K.IP, "81.2.69.142"))
    assert random.level is VerdictLevel.UNKNOWN and "lists" not in random.facts
    assert (await bundled.lookup(obs(K.DOMAIN, "surely-not-listed-4f9a2c.example"))).facts == {}


# --- ATT&CK -----------------------------------------------------------------------------------------------------


def test_technique_by_id() -> None:
    brute = technique("T1110")
    assert brute == Technique(
        id="T1110", name="Brute Force", tactics=("credential-access",), url="https://attack.mitre.org/techniques/T1110"
    )
    sub = technique(" t1110.001 ")
    assert sub is not None and sub.name == "Password Guessing" and sub.is_subtechnique
    assert sub.url == "https://attack.mitre.org/techniques/T1110/001"
    old = technique("T1086")  # revoked in favour of T1059.001, still named
    assert old is not None and old.name == "PowerShell" and old.deprecated


@pytest.mark.parametrize("value", ["T9999", "T1110.999", "T111", "1110", "brute force", ""])
def test_unknown_technique_is_none(value: str) -> None:
    assert technique(value) is None


async def test_find_techniques_in_text() -> None:
    await preload()
    text = (
        "Rule tags: attack.credential_access, attack.t1110.001, attack.T1110; "
        "see https://attack.mitre.org/techniques/T1003/001/ and T1110 again. "
        "Not ids: T11100, XT1059, T9999."
    )
    assert [t.id for t in find_techniques(text)] == ["T1110.001", "T1110", "T1003.001"]
    assert find_techniques("nothing here") == []
