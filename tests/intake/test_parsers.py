"""Format parsers: recorded vendor payloads in, normalised alerts out; junk in, PayloadError out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import PayloadError
from bot.core.models import AlertStatus, ObservableKind, Severity
from bot.intake.parsers import FORMATS, PARSERS
from bot.intake.parsers.base import (
    WHOLE_BODY,
    Entity,
    FormatOptions,
    GenericMapping,
    ObservablePath,
    ParsedAlert,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alerts"
OPTIONS = FormatOptions()

IP, HOST, USER, URL, DOMAIN, EMAIL = (
    ObservableKind.IP,
    ObservableKind.HOST,
    ObservableKind.USER,
    ObservableKind.URL,
    ObservableKind.DOMAIN,
    ObservableKind.EMAIL,
)
MD5, SHA1, SHA256 = ObservableKind.MD5, ObservableKind.SHA1, ObservableKind.SHA256


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def parse(fmt: str, payload: Any, options: FormatOptions = OPTIONS) -> list[ParsedAlert]:
    return PARSERS[fmt](payload, options)


def only(alerts: list[ParsedAlert]) -> ParsedAlert:
    assert len(alerts) == 1
    return alerts[0]


def in_text(alert: ParsedAlert, needle: str) -> bool:
    return any(needle in chunk for chunk in alert.text)


def test_registry_lists_every_format() -> None:
    assert FORMATS == ("splunk", "elastic", "wazuh", "alertmanager", "grafana", "sentinel", "generic")
    assert set(PARSERS) == set(FORMATS)


# --- Splunk ------------------------------------------------------------------------------------------------


def test_splunk_webhook() -> None:
    alert = only(parse("splunk", load("splunk")))

    assert alert.title == "Brute force followed by download"
    assert alert.rule == "Brute force followed by download"
    assert alert.external_id == "scheduler__admin__search__RMD5e461a8ea6ec1d34b_at_1714557600_132"
    assert alert.severity is Severity.HIGH  # from the row's urgency
    assert alert.time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert alert.link is not None
    assert alert.link.endswith("sid=scheduler__admin__search__RMD5e461a8ea6ec1d34b_at_1714557600_132")
    assert alert.status is AlertStatus.FIRING
    assert alert.raw is WHOLE_BODY
    assert set(alert.entities) == {
        Entity(IP, "203.0.113.5", "src"),
        Entity(IP, "10.0.0.5", "dst"),
        Entity(USER, "jdoe"),
        Entity(HOST, "web-01", "reporter"),
        Entity(URL, "http://malware.example.net/stage2.sh"),
        Entity(MD5, "44d88612fea8a8f36de82e1278abb02f"),
        Entity(EMAIL, "soc@example.com", "recipient"),
        Entity(EMAIL, "it@example.com", "recipient"),
    }
    assert in_text(alert, "update-check.example.org")  # a field no entity rule knows about


def test_splunk_documented_example_without_search_name() -> None:
    payload = {
        "result": {"sourcetype": "mongod", "count": "8", "src_ip": "203.0.113.5", "user": "jdoe"},
        "sid": "scheduler_admin_search_W2_at_14232356_132",
        "results_link": "http://web.example.local:8000/app/search/@go?sid=scheduler_admin_search_W2_at_14232356_132",
        "search_name": None,
        "owner": "admin",
        "app": "search",
    }
    alert = only(parse("splunk", payload, FormatOptions(default_severity=Severity.LOW)))

    assert alert.rule == "admin_search_W2"  # stable across runs: the time part of the sid is dropped
    assert alert.title == "Splunk search admin_search_W2"
    assert alert.severity is Severity.LOW
    assert alert.time is None
    assert Entity(IP, "203.0.113.5", "src") in alert.entities
    assert Entity(USER, "jdoe") in alert.entities


def test_splunk_adhoc_sid_and_hostname_in_src() -> None:
    alert = only(parse("splunk", {"sid": "1714557600.4711", "result": {"src": "ws-042", "dest": "2001:db8::7"}}))

    assert alert.rule == "splunk search"
    assert alert.title == "Untitled alert from splunk"
    assert set(alert.entities) == {Entity(HOST, "ws-042", "src"), Entity(IP, "2001:db8::7", "dst")}


# --- Elastic -----------------------------------------------------------------------------------------------


def test_elastic_kibana_webhook_reads_flat_and_nested_documents() -> None:
    payload = load("elastic_kibana_webhook")
    first, second = parse("elastic", payload)

    assert first.title == "SSH brute force"
    assert first.rule == "c3d4e5f6-1111-4a2b-9c3d-0e1f2a3b4c5d"
    assert first.external_id == "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
    assert first.severity is Severity.HIGH
    assert first.status is AlertStatus.FIRING
    assert first.time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert first.description.startswith("authentication event with source 203.0.113.5")
    assert first.link == payload["results_link"]
    assert first.raw == payload["alerts"][0]
    assert set(first.entities) == {
        Entity(IP, "203.0.113.5", "src"),
        Entity(HOST, "web-01"),
        Entity(IP, "10.0.0.5", "host"),
        Entity(IP, "fe80::1", "host"),
        Entity(USER, "root"),
    }
    assert in_text(first, "Failed password for root")

    # fully nested kibana.alert.*, no rule name (taken from the envelope), risk score only, closed
    assert second.title == "SSH brute force"
    assert second.rule == "c3d4e5f6-1111-4a2b-9c3d-0e1f2a3b4c5d"
    assert second.external_id == "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"
    assert second.severity is Severity.LOW
    assert second.status is AlertStatus.RESOLVED
    assert second.raw == payload["alerts"][1]
    assert set(second.entities) == {
        Entity(IP, "198.51.100.7", "dst"),
        Entity(HOST, "web-01"),
        Entity(IP, "10.0.0.5", "host"),
        Entity(URL, "https://cdn.bad.example/payload.bin"),
        Entity(DOMAIN, "cdn.bad.example"),
        Entity(DOMAIN, "cdn.bad.example", "dst"),
        Entity(SHA256, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "file"),
        Entity(EMAIL, "billing@invoices.example", "sender"),
        Entity(EMAIL, "jdoe@example.com", "recipient"),
    }
    assert in_text(second, "curl -o /tmp/p")


def test_elastic_single_7x_signal_document() -> None:
    alert = only(parse("elastic", load("elastic_single_doc")))

    assert alert.title == "Office spawning PowerShell"
    assert alert.rule == "0a1b2c3d-7e8f-4a5b-8c9d-1e2f3a4b5c6d"
    assert alert.external_id == "7f3e2d1c0b9a"
    assert alert.severity is Severity.CRITICAL
    assert alert.time == datetime(2021, 9, 14, 8, 12, 44, 511000, tzinfo=UTC)
    assert alert.link is None
    assert alert.raw is WHOLE_BODY
    assert Entity(SHA256, "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c", "process") in (
        alert.entities
    )
    assert in_text(alert, "http://203.0.113.77/a.ps1")


def test_elastic_bare_array_and_risk_score_bands() -> None:
    def doc(score: object) -> dict[str, object]:
        return {"kibana.alert.uuid": f"u-{score}", "kibana.alert.rule.name": "r", "kibana.alert.risk_score": score}

    docs = [doc(0), doc(21), doc(22), doc("47"), doc(48), doc(73.5), doc(74), doc(100)]
    alerts = parse("elastic", docs)

    assert [a.severity for a in alerts] == [
        Severity.LOW,
        Severity.LOW,
        Severity.MEDIUM,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.HIGH,
        Severity.CRITICAL,
        Severity.CRITICAL,
    ]
    assert [a.raw for a in alerts] == docs


def test_elastic_recovered_and_empty_envelope() -> None:
    recovered = {"kibana.alert.uuid": "u1", "kibana.alert.rule.name": "r", "kibana.alert.status": "recovered"}
    assert only(parse("elastic", recovered)).status is AlertStatus.RESOLVED
    assert parse("elastic", {"rule": {"name": "r"}, "alerts": []}) == []


def test_elastic_rejects_an_object_that_is_no_alert() -> None:
    with pytest.raises(PayloadError, match="Kibana"):
        parse("elastic", {"hello": "world"})


# --- Wazuh -------------------------------------------------------------------------------------------------


def test_wazuh_alert() -> None:
    alert = only(parse("wazuh", load("wazuh")))

    assert alert.title == "sshd: brute force trying to get access to the system. Non existent user."
    assert alert.rule == "5712"
    assert alert.external_id == "1714557600.123456"
    assert alert.severity is Severity.HIGH  # level 10
    assert alert.time == datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert alert.link is None
    assert set(alert.entities) == {
        Entity(HOST, "web-01", "agent"),
        Entity(IP, "10.0.0.5", "agent"),
        Entity(IP, "203.0.113.5", "src"),
        Entity(USER, "admin", "src"),
    }
    assert in_text(alert, "Invalid user admin from 203.0.113.5")
    assert in_text(alert, "T1110")


def test_wazuh_fim_hashes() -> None:
    alert = only(parse("wazuh", load("wazuh_fim")))

    assert alert.rule == "550"
    assert alert.severity is Severity.MEDIUM  # level 7
    assert {e for e in alert.entities if e.role == "file"} == {
        Entity(MD5, "d41d8cd98f00b204e9800998ecf8427e", "file"),
        Entity(SHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "file"),
        Entity(SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "file"),
    }
    assert "/usr/bin/sshd" in alert.description
    assert in_text(alert, "/usr/bin/sshd")
    assert in_text(alert, "T1565.001")


def test_wazuh_shuffle_wrapper() -> None:
    alert = only(parse("wazuh", load("wazuh_shuffle")))

    assert alert.title == "Logon failure - Unknown user or bad password."
    assert alert.rule == "60122"
    assert alert.external_id == "1714564805.4242"
    assert alert.severity is Severity.LOW  # rule.level 5 wins over the wrapper's 2
    assert alert.time == datetime(2024, 5, 1, 12, 0, 5, 789000, tzinfo=UTC)
    assert set(alert.entities) == {
        Entity(HOST, "DC01", "agent"),
        Entity(IP, "10.0.1.10", "agent"),
        Entity(IP, "198.51.100.23", "src"),
        Entity(USER, "administrator", "target"),
    }
    assert in_text(alert, "T1078")


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (0, Severity.INFO),
        (3, Severity.INFO),
        (4, Severity.LOW),
        (6, Severity.LOW),
        (7, Severity.MEDIUM),
        (9, Severity.MEDIUM),
        (10, Severity.HIGH),
        (12, Severity.HIGH),
        (13, Severity.CRITICAL),
        (15, Severity.CRITICAL),
        ("12", Severity.HIGH),
    ],
)
def test_wazuh_levels(level: object, expected: Severity) -> None:
    assert only(parse("wazuh", {"rule": {"id": "1", "level": level}})).severity is expected


@pytest.mark.parametrize(("wrapped", "expected"), [(1, Severity.LOW), (2, Severity.MEDIUM), (3, Severity.HIGH)])
def test_wazuh_shuffle_severity_when_the_alert_has_no_level(wrapped: int, expected: Severity) -> None:
    payload = {"severity": wrapped, "title": "Custom rule", "rule_id": "100200", "id": "1.2", "all_fields": {}}
    alert = only(parse("wazuh", payload))

    assert alert.severity is expected
    assert alert.title == "Custom rule"
    assert alert.rule == "100200"
    assert alert.external_id == "1.2"


# --- Alertmanager / Grafana --------------------------------------------------------------------------------


def test_alertmanager_firing() -> None:
    payload = load("alertmanager_firing")
    probe, ssh = parse("alertmanager", payload)

    assert probe.title == "BlackBox Probe Failure: https://server.example.org"
    assert probe.rule == "ProbeFailure"
    assert probe.external_id == "1a30ba71cca2921f:2023-02-06T13:08:45.828Z"
    assert probe.severity is Severity.CRITICAL
    assert probe.status is AlertStatus.FIRING
    assert probe.time == datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    assert probe.link == payload["alerts"][0]["generatorURL"]
    assert probe.description.startswith("Probe to https://server.example.org failed")
    assert probe.raw == payload["alerts"][0]
    assert probe.entities == (Entity(HOST, "server.example.org", "instance"),)  # no URL for generatorURL
    assert in_text(probe, "198.51.100.53")
    assert not in_text(probe, "wiki.example.org")  # runbook links are not indicators

    assert ssh.severity is Severity.MEDIUM  # "warning"
    assert ssh.title == "Burst of SSH logins on web-01"
    assert set(ssh.entities) == {
        Entity(IP, "10.0.0.5", "instance"),
        Entity(HOST, "web-01"),
        Entity(IP, "203.0.113.5", "src"),
        Entity(USER, "root"),
    }


def test_alertmanager_resolved_pairs_with_its_firing_twin() -> None:
    firing = parse("alertmanager", load("alertmanager_firing"))[0]
    resolved = only(parse("alertmanager", load("alertmanager_resolved")))

    assert resolved.external_id == firing.external_id
    assert (firing.status, resolved.status) == (AlertStatus.FIRING, AlertStatus.RESOLVED)
    assert resolved.time == datetime(2023, 2, 6, 13, 23, 45, 828000, tzinfo=UTC)  # endsAt


def test_alertmanager_derives_a_stable_fingerprint_and_merges_common_labels() -> None:
    def body(status: str, labels: dict[str, str]) -> dict[str, object]:
        item = {"status": status, "labels": labels, "startsAt": "2024-05-01T10:00:00Z"}
        return {
            "version": "4",
            "commonLabels": {"severity": "high", "instance": "[2001:db8::5]:9100"},
            "alerts": [item],
        }

    firing = only(parse("alertmanager", body("firing", {"alertname": "A", "job": "x"})))
    resolved = only(parse("alertmanager", body("resolved", {"job": "x", "alertname": "A"})))

    assert firing.external_id == resolved.external_id
    assert firing.external_id is not None
    assert firing.external_id.endswith(":2024-05-01T10:00:00Z")
    assert firing.severity is Severity.HIGH
    assert firing.entities == (Entity(IP, "2001:db8::5", "instance"),)
    assert resolved.time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # no endsAt: startsAt


def test_alertmanager_untitled_fallbacks() -> None:
    alert = only(parse("alertmanager", {"alerts": [{}]}, FormatOptions(default_severity=Severity.INFO)))

    assert alert.title == "Untitled alert from alertmanager"
    assert alert.rule == "alertmanager alert"
    assert alert.severity is Severity.INFO


def test_grafana_webhook() -> None:
    payload = load("grafana")
    alert = only(parse("grafana", payload))

    assert alert.title == "More than 20 failed SSH logins on web-01"
    assert alert.rule == "SSH failures per host"
    assert alert.external_id == "c6eadffa33fcdf37:2024-05-01T10:00:00+02:00"
    assert alert.severity is Severity.HIGH
    assert alert.time == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert alert.link == "https://grafana.example.org/alerting/grafana/fdk3kx0a8zmyoa/view?orgId=1"
    assert "Values: B=44, C=1" in alert.description
    assert "var='B'" in alert.description
    assert set(alert.entities) == {Entity(HOST, "web-01"), Entity(IP, "203.0.113.5", "src")}
    assert in_text(alert, "'Failed password' lines from 203.0.113.5")
    assert not any("ssh-overview" in chunk for chunk in alert.text)  # __dashboardUid__ is internal


def test_grafana_rule_falls_back_to_the_rule_uid() -> None:
    item = {"labels": {"__alert_rule_uid__": "fdk3kx0a8zmyoa"}, "annotations": {}, "fingerprint": "f"}
    assert only(parse("grafana", {"version": "1", "alerts": [item]})).rule == "fdk3kx0a8zmyoa"


# --- Sentinel ----------------------------------------------------------------------------------------------


def test_sentinel_logic_app_incident() -> None:
    alert = only(parse("sentinel", load("sentinel")))

    assert alert.title == "Password spray from a single IP"
    assert alert.rule == "0b9ae89d-8cad-461c-808f-0494f70ad5c4"
    assert alert.external_id == "63883bf7-5d3e-4c2a-9b1a-8f7e6d5c4b3a"
    assert alert.severity is Severity.HIGH
    assert alert.status is AlertStatus.FIRING
    assert alert.time == datetime(2024, 5, 1, 10, 2, 11, 500000, tzinfo=UTC)
    assert alert.link is not None
    assert alert.link.startswith("https://portal.azure.com/#asset/")
    assert alert.description == "Multiple accounts failed to sign in from 203.0.113.5 within 10 minutes."
    assert set(alert.entities) == {
        Entity(IP, "203.0.113.5"),
        Entity(USER, "jdoe@contoso.com"),
        Entity(HOST, "web-01.contoso.com"),
    }
    assert in_text(alert, "Password spray attempt from 203.0.113.5")


def test_sentinel_bare_incident_with_mixed_entity_layouts() -> None:
    alert = only(parse("sentinel", load("sentinel_bare")))

    assert alert.title == "Phishing mail with malicious attachment"
    assert alert.rule == "Phishing mail with malicious attachment"  # no analytic rule ids
    assert alert.external_id == "9a8b7c6d-1234-4e5f-8a9b-0c1d2e3f4a5b"
    assert alert.severity is Severity.MEDIUM
    assert alert.status is AlertStatus.RESOLVED
    assert set(alert.entities) == {
        Entity(SHA256, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "file"),
        Entity(MD5, "44d88612fea8a8f36de82e1278abb02f", "file"),
        Entity(URL, "https://invoices.example/view?id=42"),
        Entity(DOMAIN, "invoices.example"),
        Entity(EMAIL, "billing@invoices.example", "sender"),
        Entity(EMAIL, "jdoe@contoso.com", "recipient"),
        Entity(EMAIL, "jdoe@contoso.com", "mailbox"),
        Entity(USER, "svc-mail"),
        Entity(HOST, "ws-042"),
    }
    assert in_text(alert, "Malicious attachment delivered from invoices.example")


def test_sentinel_informational_severity() -> None:
    payload = {"object": {"name": "n1", "properties": {"title": "t", "severity": "Informational"}}}
    assert only(parse("sentinel", payload)).severity is Severity.INFO


# --- Generic -----------------------------------------------------------------------------------------------


def test_generic_with_a_mapping() -> None:
    payload = load("generic")
    mapping = GenericMapping(
        alerts="events",
        title="name",
        severity="level",
        id="event_id",
        description="details",
        observables=(
            ObservablePath("attacker.ip", IP, "src"),
            ObservablePath("attacker.user", USER),
            ObservablePath("payload.sha256", SHA256),
        ),
        severity_map={"p1": Severity.CRITICAL},
    )
    first, second = parse("generic", payload, FormatOptions(mapping=mapping))

    assert first.title == "SSH login on honeypot"
    assert first.rule == "SSH login on honeypot"  # default rule paths: name
    assert first.external_id == "hp-1001"
    assert first.severity is Severity.CRITICAL  # "P1" via severity_map, case-insensitive
    assert first.time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert first.link == "https://honeypot.example.local/events/hp-1001"
    assert first.raw == payload["events"][0]
    assert set(first.entities) == {
        Entity(IP, "203.0.113.5", "src"),
        Entity(USER, "root"),
        Entity(SHA256, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"),
    }
    assert first.text == (payload["events"][0]["details"],)

    assert second.severity is Severity.LOW  # not in the map: Severity.parse
    assert second.time == datetime.fromtimestamp(1714557660, UTC)
    assert second.entities == (Entity(IP, "198.51.100.23", "src"),)


def test_generic_defaults_without_mapping() -> None:
    event = load("generic")["events"][0]
    alert = only(parse("generic", event))

    assert alert.title == "SSH login on honeypot"
    assert alert.external_id == "hp-1001"
    assert alert.description.startswith("Login with root/123456")
    assert alert.severity is Severity.MEDIUM  # "P1" means nothing without a map
    assert alert.entities == ()
    assert in_text(alert, "http://malware.example.net/x.sh")
    assert in_text(alert, "203.0.113.5")  # every string leaf, not just the description
    assert alert.raw is WHOLE_BODY


def test_generic_top_level_array_and_fallbacks() -> None:
    alerts = parse("generic", [{"rule": {"name": "R1"}}, {}])

    assert [a.rule for a in alerts] == ["R1", "generic alert"]
    assert [a.title for a in alerts] == ["R1", "Untitled alert from generic"]
    assert [a.external_id for a in alerts] == [None, None]


def test_generic_caps_the_text_it_collects() -> None:
    deep: dict[str, object] = {"leaf": "deepest 203.0.113.9"}
    for _ in range(50):
        deep = {"next": deep}
    alert = only(parse("generic", {"title": "t", "blob": ["x" * 10_000] * 100, "deep": deep}))

    assert sum(len(chunk) for chunk in alert.text) <= 64 * 1024
    assert all(len(chunk) <= 4096 for chunk in alert.text)
    assert not in_text(alert, "deepest")  # beyond the depth cap


def test_generic_mapped_alerts_path_must_hold_an_array() -> None:
    options = FormatOptions(mapping=GenericMapping(alerts="events"))
    with pytest.raises(PayloadError, match="events"):
        parse("generic", {"events": {"id": 1}}, options)


# --- Robustness --------------------------------------------------------------------------------------------


def _nested(depth: int) -> dict[str, object]:
    keys = ("alerts", "result", "object", "properties", "rule", "all_fields", "kibana", "data", "labels")
    value: dict[str, object] = {"x": "203.0.113.5"}
    for level in range(depth):
        value = {keys[level % len(keys)]: value, "title": "t"}
    return value


def _nested_lists(depth: int) -> list[object]:
    value: list[object] = ["203.0.113.5"]
    for _ in range(depth):
        value = [value]
    return value


JUNK: list[object] = [
    None,
    1,
    1.5,
    True,
    "x",
    "",
    [],
    [1, 2],
    [None],
    [[]],
    {},
    {"alerts": "x"},
    {"alerts": None},
    {"alerts": [None, 3]},
    {"alerts": [{"labels": "x", "annotations": [1], "status": 5, "startsAt": {}, "fingerprint": []}]},
    {"alerts": [{"labels": {"instance": "http://[::1"}}, {"labels": {"instance": ":"}}]},
    {"result": []},
    {"result": "x"},
    {"result": {"src": ["1.2.3.4", {"a": 1}, ["x"]], "severity": "9" * 5000, "_time": "9" * 5000}},
    {"sid": ["x"], "result": None, "search_name": {"a": 1}},
    {"object": 5},
    {"object": {"properties": []}},
    {"object": {"properties": {"relatedEntities": [None, 1, {"kind": 5}, {"kind": "FileHash", "hashValue": 1}]}}},
    {"object": {"properties": {"relatedAnalyticRuleIds": [None], "alerts": "x", "severity": float("inf")}}},
    {"rule": 5},
    {"rule": {"level": float("nan"), "id": None}},
    {"rule": {"level": "9" * 5000}, "all_fields": "x"},
    {"all_fields": {"rule": [1], "data": [[[]]]}, "severity": "high"},
    {"kibana.alert.uuid": ["a"], "kibana.alert.risk_score": 10**400, "kibana.alert.rule.name": {"a": 1}},
    {"kibana.alert.uuid": "a", "kibana.alert.risk_score": float("-inf"), "@timestamp": 1e300},
    {"_source": 5},
    {"_source": {"signal": {"rule": {"name": 7}}}},
    {"title": _nested_lists(600), "severity": _nested_lists(600), "description": [[["x"]]]},
    _nested(50),
    _nested_lists(50),
    [_nested(50)],
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("payload", JUNK, ids=range(len(JUNK)))
def test_junk_is_a_list_or_a_payload_error(fmt: str, payload: object) -> None:
    try:
        alerts = parse(fmt, payload)
    except PayloadError as err:  # anything else fails the test
        alerts, message = [], str(err)
    else:
        message = "parsed"
    assert message  # a sender-facing reason, never empty
    assert isinstance(alerts, list)
    for alert in alerts:
        assert isinstance(alert, ParsedAlert)
        assert alert.title
        assert alert.rule


def test_generic_junk_with_a_mapping() -> None:
    mapping = GenericMapping(
        alerts="a.0",
        title="t",
        severity="s",
        observables=(ObservablePath("o", IP),),
        severity_map={"x": Severity.HIGH},
    )
    options = FormatOptions(mapping=mapping)
    for payload in JUNK:
        try:
            result = parse("generic", payload, options)
        except PayloadError:
            continue
        assert isinstance(result, list)


def test_huge_fields_are_cut() -> None:
    big = "A" * 1_000_000
    alert = only(parse("wazuh", {"rule": {"id": "1", "level": 3, "description": big}, "full_log": big}))
    assert len(alert.title) <= 4096
    assert all(len(chunk) <= 4096 for chunk in alert.text)
