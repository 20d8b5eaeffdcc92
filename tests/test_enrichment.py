"""Enrichment: cache, key rotation, internal indicators, partial failure, deadline, merge, case recording."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.app import App
from bot.core.models import Observable, ObservableKind
from bot.core.ports import Verdict, VerdictLevel
from bot.enrichment import EnrichmentService, merge
from bot.settings import validate
from bot.store.db import Database
from connectors.abuseipdb import AbuseIpDb, Settings
from connectors.http import RetryPolicy
from tests.fakes import abuseipdb as fake
from tests.fakes.intel import RecordingLookup
from tests.fakes.server import serve

BAD = "118.25.6.39"


def ip(value: str, *, internal: bool = False) -> Observable:
    return Observable(ObservableKind.IP, value, internal=internal)


def abuse(url: str, key: str = fake.GOOD_KEY) -> AbuseIpDb:
    lookup = AbuseIpDb(Settings(api_key=key, base_url=f"{url}/api/v2"))  # type: ignore[arg-type]
    lookup.http.retry = RetryPolicy(attempts=1)
    return lookup


def test_merge_rules() -> None:
    mal = Verdict("a", VerdictLevel.MALICIOUS, 90)
    sus = Verdict("b", VerdictLevel.SUSPICIOUS, 40)
    benign = Verdict("c", VerdictLevel.BENIGN, 0)
    allow = Verdict("lists", VerdictLevel.BENIGN, 0, authoritative=True)
    block = Verdict("lists", VerdictLevel.MALICIOUS, 100, authoritative=True)
    assert merge([]) == (VerdictLevel.UNKNOWN, 0)
    assert merge([benign, sus, mal]) == (VerdictLevel.MALICIOUS, 90)
    assert merge([benign, Verdict("d", VerdictLevel.UNKNOWN)]) == (VerdictLevel.BENIGN, 0)
    assert merge([mal, allow]) == (VerdictLevel.BENIGN, 0)  # a human's allow-list entry wins
    assert merge([benign, block]) == (VerdictLevel.MALICIOUS, 100)
    assert merge([block, allow]) == (VerdictLevel.BENIGN, 0)


async def test_cache_hit_miss_and_key_rotation(db: Database) -> None:
    async with serve(fake.app()) as vendor:
        lookup = abuse(vendor.url)
        service = EnrichmentService([lookup], db)
        [first] = await service.enrich([ip(BAD)])
        [second] = await service.enrich([ip(BAD)])
        assert first.level is second.level is VerdictLevel.MALICIOUS
        assert first.cached == () and second.cached == ("abuseipdb",)
        assert len(vendor.requests) == 1

        [refreshed] = await service.enrich([ip(BAD)], refresh=True)
        assert refreshed.cached == () and len(vendor.requests) == 2

        rotated = abuse(vendor.url, key="rotated-key-2")  # the fake refuses it, but it must be asked
        [after_rotation] = await EnrichmentService([rotated], db).enrich([ip(BAD)])
        assert after_rotation.cached == () and len(vendor.requests) == 3
        assert after_rotation.failures[0].reason.startswith("credentials rejected")
        await lookup.aclose()
        await rotated.aclose()


async def test_negative_answers_expire_sooner(db: Database) -> None:
    async with serve(fake.app()) as vendor:
        lookup = abuse(vendor.url)
        service = EnrichmentService([lookup], db, cache_ttl=timedelta(hours=24), negative_ttl=timedelta(minutes=5))
        await service.enrich([ip(BAD), ip("203.0.113.77")])
        await lookup.aclose()
    async with db.reader.execute("SELECT value, fetched_at, expires_at FROM intel_cache") as cursor:
        rows = {r[0]: (r[1], r[2]) for r in await cursor.fetchall()}
    from bot.core.models import parse_time

    def ttl(value: str) -> timedelta:
        fetched, expires = rows[value]
        return parse_time(expires) - parse_time(fetched)

    assert ttl(BAD) == timedelta(hours=24)
    assert ttl("203.0.113.77") == timedelta(minutes=5)


async def test_internal_indicators_never_leave(db: Database) -> None:
    local = RecordingLookup("local-lists", external=False)
    async with serve(fake.app()) as vendor:
        lookup = abuse(vendor.url)
        service = EnrichmentService([lookup, local], db, internal_domains=["corp.example"])
        reports = await service.enrich(
            [
                ip("10.0.0.5", internal=True),
                Observable(ObservableKind.DOMAIN, "intranet.corp.example"),
                Observable(ObservableKind.URL, "https://wiki.corp.example/page"),
            ]
        )
        await lookup.aclose()
    assert vendor.requests == []
    assert reports[0].skipped[0].source == "abuseipdb"
    assert "never sent" in reports[0].skipped[0].reason
    # A local (non-external) source still sees them.
    assert local.asked == ["10.0.0.5", "intranet.corp.example", "https://wiki.corp.example/page"]


async def test_partial_failure_is_shown_not_hidden(db: Database) -> None:
    good = RecordingLookup("good", answers={BAD: Verdict("good", VerdictLevel.SUSPICIOUS, 40, summary="seen")})
    broken = RecordingLookup("broken", fail=True)
    [report] = await EnrichmentService([good, broken], db).enrich([ip(BAD)])
    assert report.level is VerdictLevel.SUSPICIOUS and report.score == 40
    assert [f.source for f in report.failures] == ["broken"]
    assert "unavailable" in report.failures[0].reason


async def test_deadline_keeps_what_arrived(db: Database) -> None:
    fast = RecordingLookup("fast", answers={BAD: Verdict("fast", VerdictLevel.MALICIOUS, 80)})
    async with serve(fake.app(delay=3)) as vendor:
        slow = abuse(vendor.url)
        service = EnrichmentService([fast, slow], db, deadline=timedelta(milliseconds=300))
        started = time.monotonic()
        [report] = await service.enrich([ip(BAD)])
        elapsed = time.monotonic() - started
        await slow.aclose()
    assert elapsed < 1.5
    assert report.level is VerdictLevel.MALICIOUS
    assert report.failures[0].source == "abuseipdb"
    assert report.failures[0].reason == "no answer within 0.3s"


async def test_lookups_run_concurrently(db: Database) -> None:
    sources = [RecordingLookup(f"s{n}", delay=0.2) for n in range(5)]
    started = time.monotonic()
    await EnrichmentService(sources, db).enrich([ip(f"198.51.100.{n}") for n in range(5)])
    assert time.monotonic() - started < 0.6  # 25 lookups of 200 ms each, all at once


async def test_new_alerts_are_enriched_once_per_case(tmp_path: Path) -> None:
    async with serve(fake.app()) as vendor:
        settings = validate(
            {
                "database": str(tmp_path / "db.sqlite"),
                "server": {"port": 0},
                "sources": {"gen": {"format": "generic", "token": "token-123456"}},
                "connectors": {"abuseipdb": {"api_key": fake.GOOD_KEY, "base_url": f"{vendor.url}/api/v2"}},
            }
        )
        app = App(settings)
        await app.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
                for n in range(20):  # a flood: one case, one indicator
                    body = {"id": f"e{n}", "title": "Brute force", "severity": "high", "src": BAD, "host": "web-1"}
                    response = await http.post(
                        "/alerts/gen", json=body, headers={"Authorization": "Bearer token-123456"}
                    )
                    assert response.status_code == 202
            assert app.enricher is not None
            await app.enricher.drain()
            [case] = await app.cases.list_cases()
            exported = await app.cases.export(case.id)
        finally:
            await app.stop()
    assert len([r for r in vendor.requests if r.path.endswith("/check")]) == 1
    [verdict] = [v for v in exported["verdicts"] if v["indicator"]["value"] == BAD]
    assert verdict["level"] == "malicious"
    assert any(s["source"] == "abuseipdb" for s in verdict["verdicts"])
    enriched = [e for e in exported["timeline"] if e["type"] == "indicators_enriched"]
    assert len(enriched) == 1 and enriched[0]["actor"] == "enrichment"


async def test_unenriched_indicators_are_picked_up_after_restart(tmp_path: Path) -> None:
    base = {
        "database": str(tmp_path / "db.sqlite"),
        "server": {"port": 0},
        "sources": {"gen": {"format": "generic", "token": "token-123456"}},
    }
    first = App(validate({**base, "enrichment": {"auto": False}}))  # as if it crashed before enriching
    await first.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.port}") as http:
        body = {"id": "x1", "title": "Beacon", "severity": "high", "dst": "198.51.100.23"}
        assert (
            await http.post("/alerts/gen", json=body, headers={"Authorization": "Bearer token-123456"})
        ).status_code == 202
    await first.stop()

    second = App(validate(base))
    await second.start()
    try:
        assert second.enricher is not None
        await second.enricher.drain()
        [case] = await second.cases.list_cases()
        exported = await second.cases.export(case.id)
    finally:
        await second.stop()
    assert [v["indicator"]["value"] for v in exported["verdicts"]] == ["198.51.100.23"]


@pytest.mark.parametrize("concurrent", [10])
async def test_concurrent_enrichments_share_the_cache_writer(db: Database, concurrent: int) -> None:
    source = RecordingLookup("s", answers={BAD: Verdict("s", VerdictLevel.MALICIOUS, 70)})
    service = EnrichmentService([source], db)
    results = await asyncio.gather(*(service.enrich([ip(BAD)]) for _ in range(concurrent)))
    assert all(r[0].level is VerdictLevel.MALICIOUS for r in results)
    async with db.reader.execute("SELECT count(*) FROM intel_cache") as cursor:
        assert (await cursor.fetchone())[0] == 1  # type: ignore[index]


async def test_expired_cache_rows_are_purged_at_start(tmp_path: Path) -> None:
    settings = validate({"database": str(tmp_path / "db.sqlite"), "server": {"port": 0}})
    db = Database(settings.database_path)
    await db.open()

    def seed(conn: object) -> None:
        conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO intel_cache VALUES ('x', 'c', 'ip', '1.2.3.4', '{}', '2020-01-01T00:00:00.000000Z',"
            " '2020-01-02T00:00:00.000000Z'), ('x', 'c', 'ip', '5.6.7.8', '{}', '2020-01-01T00:00:00.000000Z',"
            " '2999-01-01T00:00:00.000000Z')"
        )

    await db.write(seed)
    await db.close()
    app = App(settings)
    await app.start()
    await asyncio.sleep(0.1)
    async with app.db.reader.execute("SELECT value FROM intel_cache") as cursor:
        remaining = [r[0] for r in await cursor.fetchall()]
    await app.stop()
    assert remaining == ["5.6.7.8"]


async def test_attack_techniques_in_alerts_are_named_on_the_case(tmp_path: Path) -> None:
    from tests.conftest import FIXTURES

    settings = validate(
        {
            "database": str(tmp_path / "db.sqlite"),
            "server": {"port": 0},
            "sources": {"wazuh": {"format": "wazuh", "token": "token-123456"}},
            "connectors": {"offline": {"warninglists": False}},
        }
    )
    app = App(settings)
    await app.start()
    try:
        body = (FIXTURES / "alerts" / "wazuh.json").read_bytes()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
            for _ in range(2):  # a resend: named once
                await http.post("/alerts/wazuh", content=body, headers={"Authorization": "Bearer token-123456"})
        assert app.enricher is not None
        await app.enricher.drain()
        [case] = await app.cases.list_cases()
        events = [e for e in await app.cases.timeline(case.id) if e.type == "techniques_identified"]
    finally:
        await app.stop()
    [event] = events
    [technique] = event.data["techniques"]
    assert technique["id"] == "T1110" and technique["name"] == "Brute Force"
    assert technique["url"].startswith("https://attack.mitre.org/techniques/T1110")


async def test_local_lists_are_never_cached(db: Database, tmp_path: Path) -> None:
    from connectors.offline.lists import LocalLists

    block = tmp_path / "block.txt"
    block.write_text("198.51.100.9\n")
    lists = LocalLists([], [str(block)], reload_interval=0)
    service = EnrichmentService([lists], db)
    [first] = await service.enrich([ip("198.51.100.9")])
    assert first.level is VerdictLevel.MALICIOUS
    block.write_text("# removed: it was our own scanner\n")
    import os

    os.utime(block, (time.time() + 5, time.time() + 5))
    [second] = await service.enrich([ip("198.51.100.9")])
    assert second.level is VerdictLevel.UNKNOWN  # the edit counts at once, not after a cache TTL
    async with db.reader.execute("SELECT count(*) FROM intel_cache") as cursor:
        assert (await cursor.fetchone())[0] == 0  # type: ignore[index]
