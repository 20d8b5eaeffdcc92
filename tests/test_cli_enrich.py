"""`soarbot enrich` and `check-config --probe` as a user runs them, against a fake vendor."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.fakes import abuseipdb as fake
from tests.fakes.server import serve


async def soarbot(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def config(tmp_path: Path, url: str, key: str = fake.GOOD_KEY) -> str:
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(
        f"database: {tmp_path / 'db.sqlite'}\n"
        f"connectors:\n  abuseipdb:\n    api_key: {key}\n    base_url: {url}/api/v2\n"
    )
    return str(path)


async def test_enrich_json_then_cached(tmp_path: Path) -> None:
    async with serve(fake.app()) as vendor:
        path = config(tmp_path, vendor.url)
        code, out, err = await soarbot("enrich", "--json", "118.25.6.39", "10.0.0.1", "--config", path)
        assert code == 0, err
        bad, private = json.loads(out)
        assert bad["level"] == "malicious" and bad["score"] == 100
        assert bad["verdicts"][0]["source"] == "abuseipdb"
        assert private["indicator"]["internal"] is True
        assert any(s["source"] == "abuseipdb" for s in private["skipped"])

        code, out, _ = await soarbot("enrich", "--json", "118.25.6.39", "--config", path)
        assert "abuseipdb" in json.loads(out)[0]["cached"]
        code, out, _ = await soarbot("enrich", "118.25.6.39", "--config", path)  # the table form
        assert code == 0 and "malicious" in out
    assert [r.query["ipAddress"] for r in vendor.requests] == ["118.25.6.39"]


async def test_enrich_rejects_nonsense(tmp_path: Path) -> None:
    code, _, err = await soarbot("enrich", "no such thing", "--config", config(tmp_path, "http://127.0.0.1:9"))
    assert code == 1 and "not an indicator" in err


async def test_probe_reports_each_connector(tmp_path: Path) -> None:
    async with serve(fake.app()) as vendor:
        code, out, _ = await soarbot("check-config", "--probe", "--config", config(tmp_path, vendor.url))
        assert code == 0 and "ok   abuseipdb" in out
        code, out, _ = await soarbot("check-config", "--probe", "--config", config(tmp_path, vendor.url, "bad-key-123"))
        assert code == 1 and "FAIL abuseipdb" in out
        assert "bad-key-123" not in out
