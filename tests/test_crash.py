"""kill -9 while clients post: every alert that got a 2xx is stored exactly once after restart."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import httpx

from tests.fakes import slack as fake_slack
from tests.serverproc import TOKEN, free_port, start, write_config


async def post_until_dead(port: int, worker: int, acked: set[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        n = 0
        while not stop.is_set():
            external_id = f"w{worker}-{n}"
            n += 1
            body = json.dumps({"id": external_id, "title": "Crash test", "severity": "low", "host": f"h{worker}"})
            try:
                response = await http.post(
                    "/alerts/generic", content=body, headers={"Authorization": f"Bearer {TOKEN}"}
                )
            except httpx.HTTPError:
                return  # the server died under us: this alert was never acknowledged
            if response.status_code == 202:
                acked.add(external_id)


async def test_kill_minus_nine_loses_no_acknowledged_alert(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    server = start(config, port)
    acked: set[str] = set()
    stop = asyncio.Event()
    workers = [asyncio.create_task(post_until_dead(port, w, acked, stop)) for w in range(8)]
    try:
        while len(acked) < 300:
            await asyncio.sleep(0.02)
        server.send_signal(signal.SIGKILL)  # mid-flight: requests are in the writer queue and on the wire
        await asyncio.to_thread(server.wait, 10)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        if server.poll() is None:
            server.kill()

    restarted = start(config, port)
    try:
        with sqlite3.connect(tmp_path / "soarbot.db") as conn:
            rows = conn.execute("SELECT external_id, count(*) FROM alerts GROUP BY external_id").fetchall()
            stored = dict(rows)
            (total_count,) = conn.execute("SELECT sum(alert_count) FROM cases").fetchone()
        missing = acked - set(stored)
        assert not missing, f"{len(missing)} acknowledged alerts lost, e.g. {sorted(missing)[:5]}"
        assert all(n == 1 for n in stored.values())
        assert total_count == len(stored)  # case counters agree with the stored alerts

        # Senders retry what was not acknowledged; a retry of an already stored alert is a duplicate.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            some = sorted(acked)[:20]
            for external_id in some:
                body = json.dumps({"id": external_id, "title": "Crash test", "severity": "low", "host": "h0"})
                response = await http.post(
                    "/alerts/generic", content=body, headers={"Authorization": f"Bearer {TOKEN}"}
                )
                assert response.status_code == 202 and response.json()["duplicates"] == 1
    finally:
        restarted.terminate()
        restarted.wait(10)


async def post_alerts(port: int, names: list[str]) -> set[str]:
    """Post one alert per name (each its own case); return the names acknowledged before the server went away."""
    acked: set[str] = set()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        for name in names:
            body = json.dumps({"id": name, "title": f"Beacon {name}", "severity": "low", "host": f"host-{name}"})
            try:
                response = await http.post(
                    "/alerts/generic", content=body, headers={"Authorization": f"Bearer {TOKEN}"}
                )
            except httpx.HTTPError:
                break
            if response.status_code == 202:
                acked.add(name)
    return acked


def feed_lag(path: Path) -> int:
    """How many committed events the Slack surface had not presented yet."""
    with sqlite3.connect(path) as conn:
        (head,) = conn.execute("SELECT coalesce(max(position), 0) FROM feed").fetchone()
        row = conn.execute("SELECT position FROM feed_cursors WHERE subscriber = 'chat:slack'").fetchone()
    return int(head) - (int(row[0]) if row else 0)


async def test_kill_minus_nine_resumes_chat_delivery_from_the_cursor(tmp_path: Path) -> None:
    async with fake_slack.slack_server(per_channel_rate=None) as slack:
        alerts = slack.add_channel("soc-alerts")
        # Slack is down while the first server runs, so nothing is on the wire when it dies: any second copy of a
        # card after the restart could only come from the feed or the outbox, which is what this test is about.
        slack.fail("chat.postMessage", status=503, json={"ok": False, "error": "service_unavailable"}, times=10**5)
        port = free_port()
        config = write_config(tmp_path, port)
        config.write_text(
            config.read_text()
            + "chat:\n  slack:\n"
            + f"    bot_token: {fake_slack.BOT_TOKEN}\n    signing_secret: slack-signing-secret-123\n"
            + f"    api_url: {slack.api_url}\n    alerts_channel: {alerts}\n    messages_per_second: 10\n"
        )
        names = [f"n{n}" for n in range(30)]
        server = await asyncio.to_thread(start, config, port)  # the fake Slack answers on this loop meanwhile
        try:
            acked = await post_alerts(port, names[:20])
            lag = feed_lag(tmp_path / "soarbot.db")
            server.send_signal(signal.SIGKILL)
            await asyncio.to_thread(server.wait, 10)
        finally:
            if server.poll() is None:
                server.kill()
        assert len(acked) == 20

        slack.faults["chat.postMessage"].clear()
        restarted = await asyncio.to_thread(start, config, port)
        try:
            acked |= await post_alerts(port, names[20:])
            with sqlite3.connect(tmp_path / "soarbot.db") as conn:
                case_ids = [r[0] for r in conn.execute("SELECT id FROM cases ORDER BY id")]
            assert len(case_ids) == 30

            def cards() -> dict[int, int]:
                """How often each case's card was posted to Slack."""
                seen: dict[int, int] = {}
                for call in slack.calls("chat.postMessage"):
                    if not (call.status == 200 and call.response and call.response.get("ok")):
                        continue
                    blocks = json.dumps(call.args.get("blocks"))
                    for case_id in case_ids:
                        if f"soarbot case {case_id} \\u00b7" in blocks or f"soarbot case {case_id} ·" in blocks:
                            seen[case_id] = seen.get(case_id, 0) + 1
                return seen

            deadline = asyncio.get_running_loop().time() + 60
            while len(cards()) < len(case_ids) or feed_lag(tmp_path / "soarbot.db") > 0:
                assert asyncio.get_running_loop().time() < deadline, f"cards: {cards()}"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # anything queued twice would go out now
            assert cards() == {case_id: 1 for case_id in case_ids}, f"lag at the kill was {lag}"
            with sqlite3.connect(tmp_path / "soarbot.db") as conn:
                rows = conn.execute(
                    "SELECT dedup_key, count(*) FROM outbox WHERE platform = 'slack' AND dedup_key IS NOT NULL"
                    " GROUP BY dedup_key HAVING count(*) > 1"
                ).fetchall()
            assert rows == []
        finally:
            restarted.terminate()
            restarted.wait(10)
