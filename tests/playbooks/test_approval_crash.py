"""kill -9 while a run waits for approval, restart, approve: the block happens exactly once at the vendor."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import httpx

from bot.app import App
from bot.settings import load
from tests.fakes import abuseipdb, cloudflare
from tests.fakes.server import serve
from tests.serverproc import TOKEN, free_port, start

BAD_IP = "118.25.6.39"  # the AbuseIPDB fake rates it 100


def config(tmp_path: Path, port: int, abuse_url: str, cf_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: {tmp_path / 'soarbot.db'}\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        f"sources:\n  generic:\n    format: generic\n    token: {TOKEN}\n"
        "access:\n  roles:\n    responder: [U0RESPONDER]\n"
        "connectors:\n"
        f"  abuseipdb:\n    api_key: {abuseipdb.GOOD_KEY}\n    base_url: {abuse_url}/api/v2\n"
        f"  cloudflare:\n    api_token: {cloudflare.GOOD_TOKEN}\n    account_id: {cloudflare.ACCOUNT_ID}\n"
        f"    base_url: {cf_url}/client/v4\n"
    )
    return path


def pending_approvals(db: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, action, target FROM approvals WHERE status = 'pending'").fetchall()


async def test_kill_minus_nine_while_waiting_then_approve_blocks_once(tmp_path: Path) -> None:
    state = cloudflare.State()
    async with serve(abuseipdb.app()) as intel, serve(cloudflare.app(state)) as firewall:
        port = free_port()
        path = config(tmp_path, port, intel.url, firewall.url)
        server = await asyncio.to_thread(start, path, port)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                body = {
                    "id": "evt-1",
                    "title": "Outbound beacon",
                    "severity": "high",
                    "dst_ip": BAD_IP,
                    "host": "web-1",
                }
                response = await http.post("/alerts/generic", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
                assert response.status_code == 202
            for _ in range(200):  # the playbook enriches, then asks
                requests = await asyncio.to_thread(pending_approvals, tmp_path / "soarbot.db")
                if requests:
                    break
                await asyncio.sleep(0.05)
            [(approval_id, action, target)] = requests
            assert (action, target) == ("firewall.block_ip", BAD_IP)
            server.send_signal(signal.SIGKILL)
            await asyncio.to_thread(server.wait, 10)
        finally:
            if server.poll() is None:
                server.kill()
        assert state.creates == 0  # nothing was blocked before the decision

        app = App(
            load(path).settings.model_copy(update={"server": load(path).settings.server.model_copy(update={"port": 0})})
        )
        await app.start()
        try:
            reply = await app.engine.vote(approval_id, "U0RESPONDER", "approve")
            assert "approved" in reply.text
            await app.engine.idle()
            again = await app.engine.vote(approval_id, "U0RESPONDER", "approve")
            assert "already approved" in again.text
            await app.engine.idle()
            [case] = await app.cases.list_cases()
            exported = await app.cases.export(case.id)
            assert await app.cases.verify(case.id) is None
        finally:
            await app.stop()
    assert state.creates == 1 and state.created == 1
    [rule] = state.scope_rules(f"accounts/{cloudflare.ACCOUNT_ID}").values()
    assert rule["configuration"]["value"] == BAD_IP
    types = [e["type"] for e in exported["timeline"]]
    for expected in ("approval_requested", "approval_decided", "action_attempted", "action_finished"):
        assert types.count(expected) == 1, (expected, types)
    assert exported["case"]["status"] == "contained"
