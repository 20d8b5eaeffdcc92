"""Migration 0006 on a database written by the version before it: the feed, and the keys of cards already sent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store.db import Database, migrations

NOW = "2026-11-30T10:00:00.000000Z"


def version_5_database(path: Path) -> None:
    """A database as soarbot left it before 0006: a case with two events, an approval card and a pinned summary."""
    conn = sqlite3.connect(path, isolation_level=None)
    for version, sql in migrations():
        if version <= 5:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    conn.execute(
        "INSERT INTO cases (id, title, status, severity, source, rule, fingerprint, alert_count, first_seen,"
        " last_seen, created_at, updated_at) VALUES (1, 'Beacon', 'new', 'high', 's', 'r', 'fp', 1, ?, ?, ?, ?)",
        (NOW, NOW, NOW, NOW),
    )
    for seq in (1, 2):
        conn.execute(
            "INSERT INTO timeline (case_id, seq, type, at, actor, data, prev_hash, hash) VALUES (1, ?, 'note_added',"
            " ?, 'x', '{}', 'p', 'h')",
            (seq, NOW),
        )
    posts = [(10, "case:1:card"), (11, None), (12, None), (13, None)]
    for row_id, key in posts:
        conn.execute(
            "INSERT INTO outbox (id, platform, op, channel, dedup_key, case_id, payload, status, next_at, created_at,"
            " ts) VALUES (?, 'slack', 'post', 'C1', ?, 1, '{\"title\": \"t\"}', 'sent', ?, ?, ?)",
            (row_id, key, NOW, NOW, f"17.{row_id}"),
        )
    conn.execute(
        "INSERT INTO approvals (id, step_key, case_id, action, target, reason, message, requester, policy, required,"
        " critical, status, expires_at, card, created_at) VALUES (7, 'block', 1, 'firewall.block_ip', '203.0.113.5',"
        " 'r', 'Block?', 'soarbot', '{}', 1, 0, 'pending', ?, ?, ?)",
        (NOW, '{"platform": "slack", "conversation": "C1", "id": "o:11"}', NOW),
    )
    conn.execute(
        "INSERT INTO incidents (case_id, title, channel, summary_ref, status, declared_by, declared_at)"
        " VALUES (1, 'Beacon', 'C9', ?, 'active', 'U1', ?)",
        ('{"platform": "slack", "conversation": "C9", "id": "o:12"}', NOW),
    )
    conn.close()


async def test_cards_sent_before_the_upgrade_are_keyed_as_the_surfaces_look_them_up(tmp_path: Path) -> None:
    path = tmp_path / "soarbot.db"
    version_5_database(path)
    db = Database(path)
    await db.open()
    try:
        async with db.reader.execute("SELECT id, dedup_key FROM outbox ORDER BY id") as cursor:
            keys = {row[0]: row[1] for row in await cursor.fetchall()}
        assert keys == {10: "case:1:card", 11: "approval:7", 12: "incident:1:summary", 13: None}
        async with db.reader.execute("SELECT position, case_id, seq FROM feed ORDER BY position") as cursor:
            assert [tuple(r) for r in await cursor.fetchall()] == [(1, 1, 1), (2, 1, 2)]  # old events have places
    finally:
        await db.close()
