"""Indicator refang, normalisation, extraction and collection (bot.intake.ioc)."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from pathlib import Path

import pytest

from bot.core.models import Observable, ObservableKind
from bot.intake import ioc
from bot.intake.ioc import collect, extract, normalise, refang
from bot.intake.parsers.base import Entity

K = ObservableKind


def obs(kind: ObservableKind, value: str, role: str | None = None, internal: bool = False) -> Observable:
    return Observable(kind=kind, value=value, role=role, internal=internal)


def pairs(found: list[Observable] | tuple[Observable, ...]) -> list[tuple[ObservableKind, str]]:
    return [(o.kind, o.value) for o in found]


# --- refang -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("defanged", "expected"),
    [
        ("hxxp://evil.com", "http://evil.com"),
        ("hxxps://evil.com", "https://evil.com"),
        ("hXXps://evil.com", "https://evil.com"),
        ("HXXP://evil.com", "http://evil.com"),
        ("fxp://files.evil.com", "ftp://files.evil.com"),
        ("fxp[:]//files.evil.com", "ftp://files.evil.com"),
        ("hxxps[://]evil.com", "https://evil.com"),
        ("hxxp[:]//evil.com", "http://evil.com"),
        ("evil[.]com", "evil.com"),
        ("evil(.)com", "evil.com"),
        ("evil{.}com", "evil.com"),
        ("evil[dot]com", "evil.com"),
        ("evil(dot)com", "evil.com"),
        ("evil{dot}com", "evil.com"),
        ("evil[DOT]com", "evil.com"),
        ("evil[ . ]com", "evil.com"),
        ("evil dot com", "evil.com"),
        ("evil DOT com", "evil.com"),
        ("evil\\.com", "evil.com"),
        ("1[.]2[.]3[.]4", "1.2.3.4"),
        ("bad[@]evil.com", "bad@evil.com"),
        ("bad[at]evil.com", "bad@evil.com"),
        ("bad(at)evil.com", "bad@evil.com"),
        ("bad{at}evil.com", "bad@evil.com"),
        ("bad[AT]evil[.]com", "bad@evil.com"),
        ("hxxps://evil[.]example[.]com/login", "https://evil.example.com/login"),
    ],
)
def test_refang(defanged: str, expected: str) -> None:
    assert refang(defanged) == expected


@pytest.mark.parametrize(
    "plain",
    [
        "sshd[1234]: Invalid user admin from 203.0.113.5 port 51234",
        "the FXP protocol and HTTP/1.1 are words",
        "a dot, a dash",
        "https://example.com/a?b=(c)",
        "",
    ],
)
def test_refang_leaves_ordinary_text_alone(plain: str) -> None:
    assert refang(plain) == plain


# --- normalise: IP ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8.8.8.8", "8.8.8.8"),
        (" 8.8.8.8 ", "8.8.8.8"),
        ("1.2.3.4:443", "1.2.3.4"),
        ("[::1]:80", "::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:8.8.8.8", "8.8.8.8"),
        ("8[.]8[.]8[.]8", "8.8.8.8"),
    ],
)
def test_normalise_ip(value: str, expected: str) -> None:
    result = normalise(K.IP, value, "src")
    assert result is not None
    assert (result.kind, result.value, result.role) == (K.IP, expected, "src")


@pytest.mark.parametrize(
    "value",
    ["", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.4:", "1.2.3.4:99999", "10.0.0.0/8", "[::1"],
)
def test_normalise_ip_rejects(value: str) -> None:
    assert normalise(K.IP, value) is None


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "192.168.1.1",
        "172.16.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
    ],
)
def test_internal_addresses(address: str) -> None:
    result = normalise(K.IP, address)
    assert result is not None
    assert result.internal


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "45.33.32.156"])
def test_public_addresses(address: str) -> None:
    result = normalise(K.IP, address)
    assert result is not None
    assert not result.internal


@pytest.mark.parametrize("address", ["192.0.2.1", "198.51.100.7", "203.0.113.5", "2001:db8::1"])
def test_documentation_ranges_count_as_external(address: str) -> None:
    # ipaddress calls these non-global, but they are demo "attackers", not anyone's private network.
    assert not ipaddress.ip_address(address).is_global
    result = normalise(K.IP, address)
    assert result is not None
    assert not result.internal


# --- normalise: DOMAIN and HOST -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("www.bbc.co.uk", "www.bbc.co.uk"),
        ("evil[.]example[.]com", "evil.example.com"),
        ("*.example.com", "example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("update.zip", "update.zip"),  # structured fields may use file-like TLDs
        ("user.github.io", "user.github.io"),  # private suffixes are not suffixes here
        ("_dmarc.example.com", "_dmarc.example.com"),
    ],
)
def test_normalise_domain(value: str, expected: str) -> None:
    result = normalise(K.DOMAIN, value, "dst")
    assert result == obs(K.DOMAIN, expected, "dst")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "localhost",
        "co.uk",
        "com",
        "report.exe",
        "server.local",
        "host.internal",
        "-evil.com",
        "evil-.com",
        "ev il.com",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "example.com:443",
        "evil_under.com",
    ],
)
def test_normalise_domain_rejects(value: str) -> None:
    assert normalise(K.DOMAIN, value) is None


def test_domain_holding_an_address_becomes_an_ip() -> None:
    assert normalise(K.DOMAIN, "10.1.2.3", "dst") == obs(K.IP, "10.1.2.3", "dst", internal=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("WEB-01", "web-01"),
        ("web-01.corp.example.com", "web-01.corp.example.com"),
        ("dc01.corp.local.", "dc01.corp.local"),
        ("build_agent_7", "build_agent_7"),
        ("localhost", "localhost"),
    ],
)
def test_normalise_host(value: str, expected: str) -> None:
    assert normalise(K.HOST, value, "agent") == obs(K.HOST, expected, "agent")


@pytest.mark.parametrize(
    "value", ["", "-", "unknown", "N/A", "web 01", "web-01:8080", "1.2.3.999", "a" * 64, "x." * 127 + "x"]
)
def test_normalise_host_rejects(value: str) -> None:
    assert normalise(K.HOST, value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.5", obs(K.IP, "10.0.0.5", "agent", True)),
        ("[2606:4700::1]", obs(K.IP, "2606:4700::1", "agent")),
    ],
)
def test_host_holding_an_address_becomes_an_ip(value: str, expected: Observable) -> None:
    assert normalise(K.HOST, value, "agent") == expected


# --- normalise: URL and EMAIL -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "internal"),
    [
        ("https://evil.example.com/Login?Next=A", "https://evil.example.com/Login?Next=A", False),
        ("HTTPS://Evil.Example.COM/Path", "https://evil.example.com/Path", False),
        ("hxxps://evil[.]example[.]com/x", "https://evil.example.com/x", False),
        ("ftp://files.example.org/a.bin", "ftp://files.example.org/a.bin", False),
        ("http://User:Pw@Evil.com:8080/", "http://User:Pw@evil.com:8080/", False),
        ("http://[2001:db8::1]:8080/a", "http://[2001:db8::1]:8080/a", False),
        ("http://10.0.0.5/admin", "http://10.0.0.5/admin", True),
        ("http://intranet/wiki", "http://intranet/wiki", True),
        ("http://localhost:8080/", "http://localhost:8080/", True),
        ("http://WEB01:8080/x", "http://web01:8080/x", True),
        ("https://bücher.de/Ä", "https://bücher.de/Ä", False),
        ("http://update.zip/x", "http://update.zip/x", False),
    ],
)
def test_normalise_url(value: str, expected: str, internal: bool) -> None:
    assert normalise(K.URL, value, "link") == obs(K.URL, expected, "link", internal)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "evil.com/login",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://",
        "http:///path",
        "http://evil.com:99999/",
        "http://evil com/",
        "http://1.2.3.999/",
        "http://" + "a" * 9000 + ".com/",
    ],
)
def test_normalise_url_rejects(value: str) -> None:
    assert normalise(K.URL, value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Alice.Smith@Example.COM", "Alice.Smith@example.com"),
        ("bad[at]evil[.]com", "bad@evil.com"),
        ("mailto:bob@example.org", "bob@example.org"),
        ("Bob <bob+tag@example.co.uk>", "bob+tag@example.co.uk"),
        ("x@bücher.de", "x@xn--bcher-kva.de"),
    ],
)
def test_normalise_email(value: str, expected: str) -> None:
    assert normalise(K.EMAIL, value, "sender") == obs(K.EMAIL, expected, "sender")


@pytest.mark.parametrize(
    "value",
    ["", "bob", "bob@", "@example.com", "bob@localhost", "bob@[10.0.0.1]", "bo b@example.com", "a..b@x.com"],
)
def test_normalise_email_rejects(value: str) -> None:
    assert normalise(K.EMAIL, value) is None


# --- normalise: hashes, USER, CVE ---------------------------------------------------------------------------

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(
    ("declared", "value", "kind", "expected"),
    [
        (K.MD5, MD5, K.MD5, MD5),
        (K.SHA1, SHA1.upper(), K.SHA1, SHA1),
        (K.SHA256, f"  {SHA256}  ", K.SHA256, SHA256),
        (K.MD5, SHA256, K.SHA256, SHA256),  # declared kind corrected by length
        (K.SHA256, MD5, K.MD5, MD5),
        (K.SHA1, SHA256, K.SHA256, SHA256),
    ],
)
def test_normalise_hash(declared: ObservableKind, value: str, kind: ObservableKind, expected: str) -> None:
    assert normalise(declared, value, "file") == obs(kind, expected, "file")


@pytest.mark.parametrize("value", ["", MD5[:-1], MD5 + "0", "g" * 32, "0" * 64, f"sha256:{SHA256}", MD5[:16]])
def test_normalise_hash_rejects(value: str) -> None:
    assert normalise(K.SHA256, value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" Admin ", "Admin"),
        ("CORP\\alice", "CORP\\alice"),
        ("alice@corp.example.com", "alice@corp.example.com"),
        ("John Smith", "John Smith"),
        ("WEB01$", "WEB01$"),
        ("u" * 256, "u" * 256),
    ],
)
def test_normalise_user(value: str, expected: str) -> None:
    assert normalise(K.USER, value, "target") == obs(K.USER, expected, "target")


@pytest.mark.parametrize(
    "value",
    ["", "   ", "-", "N/A", "unknown", "u" * 257, "a\nb", "CORP\\", "alice@", "\x00"],
)
def test_normalise_user_rejects(value: str) -> None:
    assert normalise(K.USER, value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CVE-2021-44228", "CVE-2021-44228"),
        ("cve-2024-3094", "CVE-2024-3094"),
        (" CVE-2023-1234567 ", "CVE-2023-1234567"),
    ],
)
def test_normalise_cve(value: str, expected: str) -> None:
    assert normalise(K.CVE, value) == obs(K.CVE, expected)


@pytest.mark.parametrize("value", ["", "CVE-2021-123", "CVE-21-44228", "CVE 2021 44228", "CVE-2021-44228x"])
def test_normalise_cve_rejects(value: str) -> None:
    assert normalise(K.CVE, value) is None


def test_normalise_refuses_huge_values() -> None:
    assert normalise(K.USER, "u" * 100_000) is None
    assert normalise(K.URL, "http://example.com/" + "a" * 100_000) is None


# --- extract ------------------------------------------------------------------------------------------------


def test_extract_sshd_line() -> None:
    line = "May  1 10:00:00 web-01 sshd[1234]: Invalid user admin from 203.0.113.5 port 51234"
    assert extract(line) == [obs(K.IP, "203.0.113.5")]


def test_extract_defanged_phishing_body() -> None:
    body = "Account locked. Log in at hxxps://evil[.]example[.]com/login and contact bad[at]evil[.]com"
    assert extract(body) == [
        obs(K.URL, "https://evil.example.com/login"),
        obs(K.DOMAIN, "evil.example.com"),
        obs(K.EMAIL, "bad@evil.com"),
        obs(K.DOMAIN, "evil.com"),
    ]


def test_extract_wazuh_full_log() -> None:
    alert = {
        "full_log": "May  1 10:00:00 web-01 sshd[1234]: Failed password for root from 198.51.100.23",
        "agent": {"id": "001", "name": "web-01", "ip": "10.0.0.5"},
        "syscheck": {"path": "/tmp/x.sh", "sha256_after": SHA256.upper()},
    }
    found = extract(json.dumps(alert))
    assert pairs(found) == [(K.IP, "198.51.100.23"), (K.IP, "10.0.0.5"), (K.SHA256, SHA256)]
    assert [o.internal for o in found] == [False, True, False]


def test_extract_hashes_do_not_yield_substrings() -> None:
    text = f"dropped {SHA256} (md5 {MD5}, sha1={SHA1}) plus a 50-digit run {'ab12' * 12}ab and {'c' * 32}"
    assert pairs(extract(text)) == [(K.SHA256, SHA256), (K.MD5, MD5), (K.SHA1, SHA1)]


def test_extract_ignores_longer_hex_runs() -> None:
    assert extract(SHA256 + "0") == []
    assert extract("x" + SHA256 + SHA256) == []


def test_extract_skips_all_digit_hex_runs() -> None:
    assert extract("order 12345678901234567890123456789012 shipped") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 1.2.3.4.", [(K.IP, "1.2.3.4")]),
        ("to 1.2.3.4:443", [(K.IP, "1.2.3.4")]),
        ("outside:45.33.32.156/51234 (45.33.32.156/51234)", [(K.IP, "45.33.32.156")]),
        ("version 1.2.3.4 released", [(K.IP, "1.2.3.4")]),  # ambiguous; taken as an address
        ("1.2.3.4.5 and v1.2.3.4", []),
        ("01.2.3.4 and 256.1.1.1 and 1.2.3.04", []),
        ("src=[2001:db8::1]:443 dst=fe80::1%eth0", [(K.IP, "2001:db8::1"), (K.IP, "fe80::1")]),
        ("mapped ::ffff:10.0.0.1", [(K.IP, "10.0.0.1")]),
        ("at 10:00:00 mac 00:1a:2b:3c:4d:5e std::vector", []),
    ],
)
def test_extract_addresses(text: str, expected: list[tuple[ObservableKind, str]]) -> None:
    assert pairs(extract(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("beacon to c2.evil-domain.net every 60s", [(K.DOMAIN, "c2.evil-domain.net")]),
        ("resolved WWW.Example.COM.", [(K.DOMAIN, "www.example.com")]),
        ("bank.co.uk and co.uk", [(K.DOMAIN, "bank.co.uk")]),
        ("ran report.exe, invoice.pdf, archive.tar.gz", []),
        ("ran setup.sh, script.py, main.rs, update.zip, clip.mov, run.pl, README.md, invoice.one", []),
        ("C:\\Users\\bob\\Downloads\\evil.com and /var/www/example.org/index.html", []),
        ("at com.example.app.MainActivity.onCreate", []),
        ("login failed.Click here", []),
        ("libfoo.so.1 and libfoo.so", []),
        ("fetch //cdn.example.org/x.js", [(K.DOMAIN, "cdn.example.org")]),
        ("evil dot com", [(K.DOMAIN, "evil.com")]),
    ],
)
def test_extract_domains(text: str, expected: list[tuple[ObservableKind, str]]) -> None:
    assert pairs(extract(text)) == expected


def test_file_like_tlds_are_real_suffixes() -> None:
    # Otherwise the PSL would already reject them and the list would be dead weight.
    for tld in ioc._FILE_EXTENSION_TLDS:
        assert normalise(K.DOMAIN, f"example.{tld}") is not None, tld


def test_file_like_tlds_are_accepted_in_urls_and_emails() -> None:
    text = "get http://update.zip/payload and mail ops@team.pl"
    assert pairs(extract(text)) == [
        (K.URL, "http://update.zip/payload"),
        (K.DOMAIN, "update.zip"),
        (K.EMAIL, "ops@team.pl"),
        (K.DOMAIN, "team.pl"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://example.com/a.", [(K.URL, "https://example.com/a"), (K.DOMAIN, "example.com")]),
        ("(https://example.com/a)", [(K.URL, "https://example.com/a"), (K.DOMAIN, "example.com")]),
        (
            "wiki https://en.wikipedia.org/wiki/Foo_(bar), ok",
            [(K.URL, "https://en.wikipedia.org/wiki/Foo_(bar)"), (K.DOMAIN, "en.wikipedia.org")],
        ),
        ("<https://example.com/x|label>", [(K.URL, "https://example.com/x"), (K.DOMAIN, "example.com")]),
        ("http://10.0.0.5:8080/admin", [(K.URL, "http://10.0.0.5:8080/admin"), (K.IP, "10.0.0.5")]),
        ("http://[2001:db8::1]/a", [(K.URL, "http://[2001:db8::1]/a"), (K.IP, "2001:db8::1")]),
        ("http://intranet/wiki", [(K.URL, "http://intranet/wiki")]),
        (
            "https://www.google.com/url?q=http://evil.com/x",
            [
                (K.URL, "https://www.google.com/url?q=http://evil.com/x"),
                (K.DOMAIN, "www.google.com"),
                (K.URL, "http://evil.com/x"),
                (K.DOMAIN, "evil.com"),
            ],
        ),
        (
            "https://www.virustotal.com/gui/file/" + SHA256,
            [
                (K.URL, "https://www.virustotal.com/gui/file/" + SHA256),
                (K.DOMAIN, "www.virustotal.com"),
                (K.SHA256, SHA256),
            ],
        ),
        (
            "https://example.com/?next=other.com&ip=8.8.8.8",
            [(K.URL, "https://example.com/?next=other.com&ip=8.8.8.8"), (K.DOMAIN, "example.com")],
        ),
    ],
)
def test_extract_urls(text: str, expected: list[tuple[ObservableKind, str]]) -> None:
    assert pairs(extract(text)) == expected


def test_extract_url_internal_flag() -> None:
    text = "http://10.0.0.5/a http://localhost/b https://example.com/c"
    found = {o.value: o.internal for o in extract(text)}
    assert found == {
        "http://10.0.0.5/a": True,
        "10.0.0.5": True,
        "http://localhost/b": True,
        "https://example.com/c": False,
        "example.com": False,
    }


def test_extract_emails() -> None:
    text = "From: Alice <Alice.Smith@Corp.Example.com>; cc bob@localhost, carol@10.0.0.1"
    assert pairs(extract(text)) == [
        (K.EMAIL, "Alice.Smith@corp.example.com"),
        (K.DOMAIN, "corp.example.com"),
        (K.IP, "10.0.0.1"),
    ]


def test_extract_cves() -> None:
    text = "exploits cve-2021-44228 and CVE-2024-3094; not CVE-2021-12 nor XCVE-2021-44228"
    assert pairs(extract(text)) == [(K.CVE, "CVE-2021-44228"), (K.CVE, "CVE-2024-3094")]


def test_extract_dedupes_and_keeps_first_position() -> None:
    text = "8.8.8.8 evil.com 8.8.8.8 EVIL.com http://evil.com/"
    assert pairs(extract(text)) == [(K.IP, "8.8.8.8"), (K.DOMAIN, "evil.com"), (K.URL, "http://evil.com/")]


def test_extract_respects_max_chars() -> None:
    text = "8.8.8.8 " + "x" * 100 + " 1.1.1.1"
    assert pairs(extract(text, max_chars=10)) == [(K.IP, "8.8.8.8")]
    assert extract(text, max_chars=0) == []
    assert pairs(extract("1.1.1.1 9.9.9.9", max_chars=9)) == [(K.IP, "1.1.1.1")]


def test_extract_default_limit_is_64k() -> None:
    assert extract("x" * 65536 + " 8.8.8.8") == []
    assert extract("x" * 65527 + " 8.8.8.8") == [obs(K.IP, "8.8.8.8")]


def test_extract_empty() -> None:
    assert extract("") == []


# --- collect ------------------------------------------------------------------------------------------------


def test_collect_keeps_structured_role_over_text() -> None:
    entities = [
        Entity(K.IP, "203.0.113.5", "src"),
        Entity(K.HOST, "WEB-01", "agent"),
        Entity(K.IP, "10.0.0.5", "dst"),
        Entity(K.USER, "admin", "target"),
        Entity(K.IP, "not an ip", "src"),
    ]
    texts = ["Invalid user admin from 203.0.113.5 port 51234 to 10.0.0.5, see https://evil.example.com/x"]
    assert collect(entities, texts) == (
        obs(K.IP, "203.0.113.5", "src"),
        obs(K.HOST, "web-01", "agent"),
        obs(K.IP, "10.0.0.5", "dst", internal=True),
        obs(K.USER, "admin", "target"),
        obs(K.URL, "https://evil.example.com/x"),
        obs(K.DOMAIN, "evil.example.com"),
    )


def test_collect_first_structured_occurrence_wins() -> None:
    entities = [Entity(K.IP, "8.8.8.8", "src"), Entity(K.IP, "8.8.8.8", "dst"), Entity(K.MD5, SHA256, "file")]
    expected = (obs(K.IP, "8.8.8.8", "src"), obs(K.SHA256, SHA256, "file"))
    assert collect(entities, [f"8.8.8.8 {SHA256}"]) == expected


def test_collect_dedupes_across_texts() -> None:
    assert collect([], ["8.8.8.8", "8.8.8.8 1.1.1.1"]) == (obs(K.IP, "8.8.8.8"), obs(K.IP, "1.1.1.1"))


def test_collect_caps_observables() -> None:
    entities = [Entity(K.IP, f"8.8.8.{i}", "src") for i in range(1, 6)]
    text = " ".join(f"9.9.9.{i}" for i in range(1, 250))
    assert len(collect(entities, [text])) == 200
    capped = collect(entities, [text], max_observables=3)
    assert capped == tuple(obs(K.IP, f"8.8.8.{i}", "src") for i in range(1, 4))
    assert pairs(collect([], [text], max_observables=2)) == [(K.IP, "9.9.9.1"), (K.IP, "9.9.9.2")]
    assert collect(entities, [text], max_observables=0) == ()


def test_collect_text_budget_spans_all_texts() -> None:
    texts = ["8.8.8.8", "x" * 10, "1.1.1.1", "9.9.9.9"]
    assert pairs(collect([], texts, max_text_chars=20)) == [(K.IP, "8.8.8.8")]
    assert pairs(collect([], texts, max_text_chars=24)) == [(K.IP, "8.8.8.8"), (K.IP, "1.1.1.1")]
    assert collect([Entity(K.IP, "8.8.8.8")], texts, max_text_chars=0) == (obs(K.IP, "8.8.8.8"),)


def test_collect_is_deterministic() -> None:
    entities = [Entity(K.DOMAIN, "evil.com", "dst"), Entity(K.USER, "bob")]
    texts = [f"bob@evil.com hxxp://evil[.]com/a {MD5} 8.8.8.8 CVE-2021-44228"]
    first = collect(entities, texts)
    assert first == collect(list(entities), list(texts))
    assert pairs(first) == [
        (K.DOMAIN, "evil.com"),
        (K.USER, "bob"),
        (K.EMAIL, "bob@evil.com"),
        (K.URL, "http://evil.com/a"),
        (K.MD5, MD5),
        (K.IP, "8.8.8.8"),
        (K.CVE, "CVE-2021-44228"),
    ]


def test_collect_accepts_generators() -> None:
    entities = (Entity(K.IP, ip) for ip in ["8.8.8.8"])
    texts = (t for t in ["1.1.1.1"])
    assert pairs(collect(entities, texts)) == [(K.IP, "8.8.8.8"), (K.IP, "1.1.1.1")]


# --- offline PSL --------------------------------------------------------------------------------------------


def test_public_suffix_list_works_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    cache = tmp_path / "tldextract-cache"
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(cache))
    ioc._psl.cache_clear()
    ioc._registrable.cache_clear()
    ioc._canonical_cached.cache_clear()
    ioc._url_parts_cached.cache_clear()
    try:
        assert normalise(K.DOMAIN, "www.bbc.co.uk") == obs(K.DOMAIN, "www.bbc.co.uk")
        assert normalise(K.DOMAIN, "report.exe") is None
        assert pairs(extract("hxxps://evil[.]example[.]com/x")) == [
            (K.URL, "https://evil.example.com/x"),
            (K.DOMAIN, "evil.example.com"),
        ]
    finally:
        ioc._psl.cache_clear()
        ioc._registrable.cache_clear()
        ioc._canonical_cached.cache_clear()
        ioc._url_parts_cached.cache_clear()
    assert attempts == []
    assert not cache.exists()


# --- pathological input -------------------------------------------------------------------------------------

MEGABYTE = 1_000_000


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a." * (MEGABYTE // 2), id="a-dot"),
        pytest.param("1." * (MEGABYTE // 2), id="one-dot"),
        pytest.param("a" * MEGABYTE, id="letters"),
        pytest.param("f" * MEGABYTE, id="hex"),
        pytest.param(":" * MEGABYTE, id="colons"),
        pytest.param("a:" * (MEGABYTE // 2), id="hex-colon"),
        pytest.param("a@" * (MEGABYTE // 2), id="ats"),
        pytest.param("http://" * (MEGABYTE // 7), id="schemes"),
        pytest.param("http://x.com/" + ")" * MEGABYTE, id="closing-parens"),
        pytest.param("[.]" * (MEGABYTE // 3), id="defang-marks"),
        pytest.param(("a" * 61 + ".") * (MEGABYTE // 62), id="long-labels"),
        pytest.param(" a dot b" * (MEGABYTE // 8), id="dot-words"),
    ],
)
def test_pathological_input_is_linear(text: str) -> None:
    started = time.perf_counter()
    extract(text, max_chars=len(text))
    collect([Entity(K.URL, text), Entity(K.DOMAIN, text)], [text], max_text_chars=len(text))
    assert time.perf_counter() - started < 2.0


def test_many_repeated_indicators_stay_cheap() -> None:
    text = "8.8.8.8 evil.com bob@evil.com http://evil.com/a " * 20_000
    started = time.perf_counter()
    found = extract(text, max_chars=len(text))
    assert time.perf_counter() - started < 2.0
    assert pairs(found) == [
        (K.IP, "8.8.8.8"),
        (K.DOMAIN, "evil.com"),
        (K.EMAIL, "bob@evil.com"),
        (K.URL, "http://evil.com/a"),
    ]


@pytest.mark.parametrize(
    ("typed", "kind", "value"),
    [
        ("8.8.8.8", ObservableKind.IP, "8.8.8.8"),
        ("2001:db8::1", ObservableKind.IP, "2001:db8::1"),
        ("hxxps://evil[.]example[.]com/x", ObservableKind.URL, "https://evil.example.com/x"),
        ("bad[at]evil.com", ObservableKind.EMAIL, "bad@evil.com"),
        ("d41d8cd98f00b204e9800998ecf8427e", ObservableKind.MD5, "d41d8cd98f00b204e9800998ecf8427e"),
        ("cve-2024-3094", ObservableKind.CVE, "CVE-2024-3094"),
        ("Example.COM", ObservableKind.DOMAIN, "example.com"),
        ("user:alice", ObservableKind.USER, "alice"),
        ("host:WEB-01", ObservableKind.HOST, "web-01"),
    ],
)
def test_classify_typed_indicators(typed: str, kind: ObservableKind, value: str) -> None:
    found = ioc.classify(typed)
    assert found is not None
    assert (found.kind, found.value) == (kind, value)


def test_classify_rejects_nonsense() -> None:
    assert ioc.classify("not an indicator") is None
    assert ioc.classify("ip:not-an-ip") is None
