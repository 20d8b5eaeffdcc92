"""Grouping, severity splits, resolves, dedup and the hash-chained timeline."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from bot.cases import CaseService, fingerprint
from bot.core.models import AlertStatus, CaseStatus, Severity, utcnow
from bot.store.cases import verify_chain
from bot.store.db import Database
from tests.factories import make_alert


async def test_new_alert_opens_case_with_timeline(cases: CaseService) -> None:
    [outcome] = await cases.ingest([make_alert("a-1")])
    assert outcome.opened and not outcome.duplicate
    case = await cases.get(outcome.case_id or 0)
    assert (case.status, case.severity, case.alert_count) == (CaseStatus.NEW, Severity.MEDIUM, 1)
    events = await cases.timeline(case.id)
    assert [e.type for e in events] == ["case_opened", "alert_added"]
    assert events[1].data["observables"][1] == {"kind": "ip", "value": "203.0.113.5", "role": "src", "internal": False}
    assert verify_chain(events) is None


async def test_same_fingerprint_joins_open_case(cases: CaseService) -> None:
    first = (await cases.ingest([make_alert("a-1")]))[0]
    second = (await cases.ingest([make_alert("a-2", ip="198.51.100.7")]))[0]
    assert second.case_id == first.case_id and not second.opened
    case = await cases.get(first.case_id or 0)
    assert case.alert_count == 2
    assert [e.type for e in await cases.timeline(case.id)] == ["case_opened", "alert_added", "alert_added"]


async def test_other_rule_or_host_opens_another_case(cases: CaseService) -> None:
    a = (await cases.ingest([make_alert("a-1")]))[0]
    b = (await cases.ingest([make_alert("a-2", rule="Port scan")]))[0]
    c = (await cases.ingest([make_alert("a-3", host="db-02")]))[0]
    assert len({a.case_id, b.case_id, c.case_id}) == 3


async def test_alert_outside_window_opens_new_case(db: Database) -> None:
    service = CaseService(db, window=timedelta(minutes=10))
    now = utcnow()
    a = (await service.ingest([make_alert("a-1")], now=now))[0]
    b = (await service.ingest([make_alert("a-2")], now=now + timedelta(minutes=9)))[0]
    c = (await service.ingest([make_alert("a-3")], now=now + timedelta(minutes=30)))[0]
    assert a.case_id == b.case_id != c.case_id


async def test_severity_rise_splits_into_new_case_that_says_why(cases: CaseService) -> None:
    low = (await cases.ingest([make_alert("a-1", severity=Severity.LOW)]))[0]
    high = (await cases.ingest([make_alert("a-2", severity=Severity.HIGH)]))[0]
    assert high.opened and high.case_id != low.case_id
    opened = (await cases.timeline(high.case_id or 0))[0]
    assert opened.type == "case_opened"
    assert opened.data["reason"] == f"severity rose from low to high; split from case {low.case_id}"
    assert (await cases.timeline(low.case_id or 0))[-1].type == "case_split"
    # A later lower-severity alert joins the newest open case of the group.
    later = (await cases.ingest([make_alert("a-3", severity=Severity.LOW)]))[0]
    assert later.case_id == high.case_id


async def test_resend_is_stored_once(cases: CaseService, db: Database) -> None:
    first = await cases.ingest([make_alert("a-1")])
    again = await cases.ingest([make_alert("a-1")])
    assert again[0].duplicate and again[0].alert_id == first[0].alert_id
    case = await cases.get(first[0].case_id or 0)
    assert case.alert_count == 1
    async with db.reader.execute("SELECT count(*) FROM alerts") as cursor:
        assert (await cursor.fetchone())[0] == 1  # type: ignore[index]


async def test_duplicates_inside_one_delivery_are_stored_once(cases: CaseService) -> None:
    outcomes = await cases.ingest([make_alert("a-1"), make_alert("a-1")])
    assert [o.duplicate for o in outcomes] == [False, True]


async def test_resolved_updates_the_case_of_its_firing_alert(cases: CaseService) -> None:
    firing = (await cases.ingest([make_alert("fp:1")]))[0]
    resolved = (await cases.ingest([make_alert("fp:1", status=AlertStatus.RESOLVED)]))[0]
    assert resolved.case_id == firing.case_id and not resolved.opened
    case = await cases.get(firing.case_id or 0)
    assert case.alert_count == 1
    assert (await cases.timeline(case.id))[-1].type == "alert_resolved"


async def test_resolved_without_firing_twin_opens_no_case(cases: CaseService) -> None:
    outcome = (await cases.ingest([make_alert("fp:9", status=AlertStatus.RESOLVED)]))[0]
    assert outcome.case_id is None
    assert await cases.list_cases() == []


async def test_group_by_role_and_fingerprint_is_order_independent() -> None:
    one = make_alert("x", ip="203.0.113.5")
    two = make_alert("y", ip="198.51.100.7")
    assert fingerprint(one, ["rule", "host"]) == fingerprint(two, ["rule", "host"])
    assert fingerprint(one, ["rule", "ip:src"]) != fingerprint(two, ["rule", "ip:src"])
    assert fingerprint(one, ["rule"]) != fingerprint(make_alert("z", source="wazuh"), ["rule"])


async def test_export_and_tamper_detection(cases: CaseService, db: Database) -> None:
    outcome = (await cases.ingest([make_alert("a-1")]))[0]
    await cases.ingest([make_alert("a-2")])
    case_id = outcome.case_id or 0
    exported = await cases.export(case_id)
    assert exported["case"]["alert_count"] == 2
    assert [set(e) >= {"type", "at", "actor", "data", "hash", "prev_hash"} for e in exported["timeline"]] == [True] * 3
    assert verify_chain(exported["timeline"]) is None
    assert await cases.verify(case_id) is None

    # Edit an event's data in an export: the chain breaks at that entry.
    exported["timeline"][1]["data"]["title"] = "nothing to see"
    broken = verify_chain(exported["timeline"])
    assert broken is not None and broken.seq == 2

    # Tamper in the database itself (a determined attacker drops the guard trigger first).
    def tamper(conn: sqlite3.Connection) -> None:
        conn.execute("DROP TRIGGER timeline_no_update")
        conn.execute("UPDATE timeline SET actor = 'someone else' WHERE case_id = ? AND seq = 3", (case_id,))

    await db.write(tamper)
    broken = await cases.verify(case_id)
    assert broken is not None and broken.seq == 3


async def test_removed_entry_breaks_the_chain(cases: CaseService) -> None:
    outcome = (await cases.ingest([make_alert("a-1")]))[0]
    await cases.ingest([make_alert("a-2")])
    events = [e.to_dict() for e in await cases.timeline(outcome.case_id or 0)]
    del events[1]
    broken = verify_chain(events)
    assert broken is not None and broken.seq == 2


async def test_concurrent_deliveries_keep_arrival_order_semantics(cases: CaseService) -> None:
    import asyncio

    outcomes = await asyncio.gather(
        cases.ingest([make_alert("c-1", severity=Severity.LOW)]),
        cases.ingest([make_alert("c-2", severity=Severity.LOW)]),
        cases.ingest([make_alert("c-1", severity=Severity.LOW)]),  # resend inside the same batch
        cases.ingest([make_alert("c-3", severity=Severity.CRITICAL)]),  # splits the group
        cases.ingest([make_alert("c-4", severity=Severity.LOW)]),  # joins the newest open case
    )
    first, second, resend, critical, later = (o[0] for o in outcomes)
    assert first.opened and second.case_id == first.case_id
    assert resend.duplicate and resend.alert_id == first.alert_id
    assert critical.opened and critical.case_id != first.case_id
    assert later.case_id == critical.case_id
    assert (await cases.get(first.case_id or 0)).alert_count == 2
    assert (await cases.get(critical.case_id or 0)).alert_count == 2
    for case_id in (first.case_id, critical.case_id):
        assert await cases.verify(case_id or 0) is None
