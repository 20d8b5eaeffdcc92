"""POST /alerts/{source} end to end: auth, limits, bad input, commit-before-ack, 503 on a stuck database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App
from bot.intake.auth import signature
from bot.settings import Settings, validate
from tests.conftest import FIXTURES

TOKEN = "test-token-123"
SECRET = "hmac-secret-456"


def settings_for(tmp_path: Path, **extra: Any) -> Settings:
    sources: dict[str, Any] = {
        name: {"format": name, "token": TOKEN}
        for name in ("splunk", "elastic", "wazuh", "alertmanager", "grafana", "sentinel", "generic")
    }
    sources["signed"] = {"format": "generic", "hmac_secret": SECRET}
    document: dict[str, Any] = {
        "database": str(tmp_path / "soarbot.db"),
        "server": {"host": "127.0.0.1", "port": 0, "max_body_bytes": 64 * 1024},
        "sources": sources,
    }
    document.update(extra)
    return validate(document)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    running = App(settings_for(tmp_path))
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}", timeout=10) as http:
        yield http


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def count(app: App, table: str) -> int:
    async with app.db.reader.execute(f"SELECT count(*) FROM {table}") as cursor:  # noqa: S608
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def set_writable(app: App, writable: bool) -> None:
    """Make the writer's connection refuse writes (as a read-only file or a full disk would), or take them again.

    On the writer's own thread, outside any job: with writes refused, no job can even begin a transaction.
    """
    writer = app.db._writer
    assert writer is not None
    pragma = f"PRAGMA query_only = {'OFF' if writable else 'ON'}"
    await asyncio.get_running_loop().run_in_executor(app.db._executor, writer.execute, pragma)


async def test_readyz_fails_while_the_database_cannot_be_written_and_recovers(
    app: App, client: httpx.AsyncClient
) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    await set_writable(app, False)
    await asyncio.sleep(1.1)  # past the probe's one-second reuse
    down = await client.get("/readyz")
    assert down.status_code == 503, down.text
    assert down.json() == {"status": "not ready", "reason": "the database cannot be written"}
    assert down.headers["Retry-After"] == "5"
    assert (await client.get("/healthz")).status_code == 200  # alive all the same
    assert (await client.post("/alerts/generic", json={"id": "x", "title": "t"}, headers=bearer())).status_code == 503
    await set_writable(app, True)
    await asyncio.sleep(1.1)
    assert (await client.get("/readyz")).status_code == 200


async def test_readiness_probes_share_one_write_a_second(app: App, client: httpx.AsyncClient) -> None:
    before = app.db.jobs
    answers = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert app.db.jobs - before <= 2


@pytest.mark.parametrize(
    ("source", "fixture"),
    [
        ("splunk", "splunk.json"),
        ("elastic", "elastic_kibana_webhook.json"),
        ("wazuh", "wazuh.json"),
        ("alertmanager", "alertmanager_firing.json"),
        ("grafana", "grafana.json"),
        ("sentinel", "sentinel.json"),
        ("generic", "generic.json"),
    ],
)
async def test_every_format_becomes_a_case_with_indicators(
    app: App, client: httpx.AsyncClient, source: str, fixture: str
) -> None:
    body = (FIXTURES / "alerts" / fixture).read_bytes()
    response = await client.post(f"/alerts/{source}", content=body, headers=bearer())
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] >= 1 and answer["duplicates"] == 0
    case_id = answer["alerts"][0]["case_id"]
    exported = await app.cases.export(case_id)
    assert exported["case"]["title"]
    assert exported["case"]["severity"] in {"info", "low", "medium", "high", "critical"}
    assert exported["observables"], f"{fixture}: no indicators extracted"
    assert exported["timeline"][0]["type"] == "case_opened"
    # The raw alert is kept verbatim.
    async with app.db.reader.execute("SELECT raw FROM alerts WHERE case_id = ? ORDER BY id", (case_id,)) as cur:
        raw = (await cur.fetchone())[0]  # type: ignore[index]
    assert json.loads(raw)


async def test_splunk_token_in_query_string(client: httpx.AsyncClient) -> None:
    body = (FIXTURES / "alerts" / "splunk.json").read_bytes()
    response = await client.post(f"/alerts/splunk?token={TOKEN}", content=body)
    assert response.status_code == 202


async def test_resend_is_acknowledged_and_stored_once(app: App, client: httpx.AsyncClient) -> None:
    body = (FIXTURES / "alerts" / "splunk.json").read_bytes()
    first = await client.post("/alerts/splunk", content=body, headers=bearer())
    again = await client.post("/alerts/splunk", content=body, headers=bearer())
    assert first.status_code == again.status_code == 202
    assert again.json()["duplicates"] == 1 and again.json()["accepted"] == 0
    assert await count(app, "alerts") == 1


async def test_resolved_notification_updates_its_case(app: App, client: httpx.AsyncClient) -> None:
    firing = (FIXTURES / "alerts" / "alertmanager_firing.json").read_bytes()
    resolved = (FIXTURES / "alerts" / "alertmanager_resolved.json").read_bytes()
    opened = (await client.post("/alerts/alertmanager", content=firing, headers=bearer())).json()
    cases_before = len(await app.cases.list_cases())
    answer = (await client.post("/alerts/alertmanager", content=resolved, headers=bearer())).json()
    assert answer["alerts"][0]["case_id"] == opened["alerts"][0]["case_id"]
    assert len(await app.cases.list_cases()) == cases_before
    timeline = await app.cases.timeline(answer["alerts"][0]["case_id"])
    assert timeline[-1].type == "alert_resolved"


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/alerts/nope", bearer(), 404),
        ("/alerts/splunk", {}, 401),
        ("/alerts/splunk", bearer("wrong-token"), 401),
        ("/alerts/splunk", {"Authorization": TOKEN}, 401),
        ("/alerts/splunk?token=wrong", {}, 401),
        ("/alerts/signed", {}, 401),
        ("/alerts/signed", {"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401),
    ],
)
async def test_unknown_source_and_bad_auth(
    app: App, client: httpx.AsyncClient, path: str, headers: dict[str, str], status: int
) -> None:
    response = await client.post(path, content=b'{"title": "x"}', headers=headers)
    assert response.status_code == status
    assert "error" in response.json()
    assert await count(app, "alerts") == 0


async def test_hmac_signed_delivery(client: httpx.AsyncClient) -> None:
    body = b'{"title": "signed alert from 203.0.113.9", "severity": "high"}'
    response = await client.post(
        "/alerts/signed", content=body, headers={"X-Hub-Signature-256": signature(SECRET, body)}
    )
    assert response.status_code == 202
    # The signature covers the body: the same header on another body fails.
    other = await client.post(
        "/alerts/signed", content=body + b" ", headers={"X-Hub-Signature-256": signature(SECRET, body)}
    )
    assert other.status_code == 401


def deep(levels: int) -> bytes:
    return b'{"title": "x", "a": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("generic", b"{not json"),
        ("generic", b'{"title": "truncated'),
        ("generic", b""),
        ("generic", b"\xff\xfe{\x00}"),
        ("generic", b'{"title": "caf\xe9"}'),
        ("generic", deep(10_000)),
        ("generic", b'"just a string"'),
        ("generic", b"42"),
        ("splunk", b"[1, 2, 3]"),
        ("sentinel", b'{"object": 5}'),
        ("alertmanager", b'{"alerts": "many"}'),
    ],
)
async def test_bad_input_is_400_never_5xx(app: App, client: httpx.AsyncClient, source: str, body: bytes) -> None:
    response = await client.post(f"/alerts/{source}", content=body, headers=bearer())
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert await count(app, "alerts") == 0
    # The server is still healthy afterwards.
    assert (await client.get("/healthz")).status_code == 200


async def test_deep_nesting_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/alerts/generic", content=deep(10_000), headers=bearer())
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]


async def test_oversized_body_is_413(app: App, client: httpx.AsyncClient) -> None:
    body = json.dumps({"title": "big", "blob": "A" * (70 * 1024)}).encode()
    response = await client.post("/alerts/generic", content=body, headers=bearer())
    assert response.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit still holds
        for _ in range(70):
            yield b" " * 1024

    response = await client.post("/alerts/generic", content=chunks(), headers=bearer())
    assert response.status_code == 413
    assert await count(app, "alerts") == 0


async def test_unauthenticated_oversized_body_is_401_first(client: httpx.AsyncClient) -> None:
    response = await client.post("/alerts/generic", content=b"x" * (70 * 1024))
    assert response.status_code == 401


async def test_batch_yields_one_alert_each(app: App, client: httpx.AsyncClient) -> None:
    body = (FIXTURES / "alerts" / "elastic_kibana_webhook.json").read_bytes()
    response = await client.post("/alerts/elastic", content=body, headers=bearer())
    assert response.status_code == 202
    expected = len(json.loads(body)["alerts"])
    assert response.json()["accepted"] == expected == await count(app, "alerts")


async def test_alert_text_cannot_ping_channel_or_break_storage(app: App, client: httpx.AsyncClient) -> None:
    body = json.dumps({"title": "<!channel> <@U123> '); DROP TABLE cases; --", "severity": "high"}).encode()
    response = await client.post("/alerts/generic", content=body, headers=bearer())
    assert response.status_code == 202
    case = await app.cases.get(response.json()["alerts"][0]["case_id"])
    assert case.title == "<!channel> <@U123> '); DROP TABLE cases; --"  # stored verbatim, escaped when rendered


async def test_locked_database_answers_503_and_loses_nothing(tmp_path: Path) -> None:
    app = App(settings_for(tmp_path, store={"busy_timeout": "100ms"}))
    await app.start()
    body = (FIXTURES / "alerts" / "splunk.json").read_bytes()
    blocker = sqlite3.connect(tmp_path / "soarbot.db", isolation_level=None)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}", timeout=10) as http:
            blocker.execute("BEGIN EXCLUSIVE")
            refused = await http.post("/alerts/splunk", content=body, headers=bearer())
            blocker.execute("ROLLBACK")
            assert refused.status_code == 503
            assert refused.headers["Retry-After"]
            retried = await http.post("/alerts/splunk", content=body, headers=bearer())
            assert retried.status_code == 202 and retried.json()["accepted"] == 1
    finally:
        blocker.close()
        await app.stop()


async def test_concurrent_posts_are_all_committed(app: App, client: httpx.AsyncClient) -> None:
    async def post(n: int) -> int:
        body = json.dumps({"id": f"evt-{n}", "title": "Login burst", "severity": "low", "host": "h1"}).encode()
        return (await client.post("/alerts/generic", content=body, headers=bearer())).status_code

    statuses = await asyncio.gather(*(post(n) for n in range(100)))
    assert statuses == [202] * 100
    assert await count(app, "alerts") == 100
    [case] = await app.cases.list_cases()
    assert case.alert_count == 100


async def test_port_in_use_is_a_config_error_naming_the_key(app: App, tmp_path: Path) -> None:
    from bot.core.errors import ConfigError

    settings = settings_for(tmp_path / "second", server={"host": "127.0.0.1", "port": app.port})
    (tmp_path / "second").mkdir()
    with pytest.raises(ConfigError) as info:
        await App(settings).start()
    assert info.value.problems[0].startswith(f"server.port: cannot listen on 127.0.0.1:{app.port}")


async def test_nul_characters_cannot_merge_or_break_alerts(app: App, client: httpx.AsyncClient) -> None:
    first = json.dumps({"id": "a\u0000b", "title": "t\u0000x", "severity": "low"}).encode()
    other = json.dumps({"id": "a\u0000c", "title": "t", "severity": "low"}).encode()
    statuses = [
        (await client.post("/alerts/generic", content=body, headers=bearer())).json() for body in (first, first, other)
    ]
    assert [s["duplicates"] for s in statuses] == [0, 1, 0]
    assert await count(app, "alerts") == 2


async def test_far_future_timestamps_are_accepted_not_500(client: httpx.AsyncClient) -> None:
    body = json.dumps({"id": "future", "title": "x", "time": "9999-12-31T23:00:00-05:00"}).encode()
    response = await client.post("/alerts/generic", content=body, headers=bearer())
    assert response.status_code == 202
