"""kill -9 while clients post: every alert that got a 2xx is stored exactly once after restart."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import httpx

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
