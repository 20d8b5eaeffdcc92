"""The CLI contract: check-config, case list/show/export/verify, alert send."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import FIXTURES
from tests.serverproc import free_port, soarbot, start, write_config


def test_check_config_ok_and_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, 8080)
    ok = soarbot("check-config", "--config", str(config))
    assert ok.returncode == 0, ok.stderr
    assert "2 alert source(s)" in ok.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  s:\n    format: splunk\n    token: ab\n    hmac_secret: supersecretvalue\n")
    failed = soarbot("--config", str(bad), "check-config")
    assert failed.returncode == 2
    assert "sources.s.token" in failed.stderr
    assert "supersecretvalue" not in failed.stderr + failed.stdout


def test_alert_send_then_case_commands(tmp_path: Path) -> None:
    port = free_port()
    config = str(write_config(tmp_path, port))
    server = start(Path(config), port)
    try:
        sent = soarbot(
            "alert", "send", str(FIXTURES / "alerts" / "splunk.json"), "--source", "splunk", "--config", config
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.startswith("202 ")
        refused = soarbot(
            "alert", "send", str(FIXTURES / "alerts" / "splunk.json"), "--source", "nope", "--config", config
        )
        assert refused.returncode == 1 and refused.stdout.startswith("404 ")
    finally:
        server.terminate()
        server.wait(10)

    listing = soarbot("case", "list", "--json", "--config", config)
    assert listing.returncode == 0, listing.stderr
    [case] = json.loads(listing.stdout)
    assert {"id", "title", "status", "severity", "alert_count"} <= set(case)
    assert case["alert_count"] == 1 and case["status"] == "new"

    case_id = str(case["id"])
    exported = json.loads(soarbot("case", "export", case_id, "--format", "json", "--config", config).stdout)
    assert exported["case"]["id"] == case["id"]
    for event in exported["timeline"]:
        assert {"type", "at", "actor", "data", "hash", "prev_hash"} <= set(event)

    markdown = soarbot("case", "export", case_id, "--format", "markdown", "--config", config)
    assert markdown.returncode == 0 and markdown.stdout.startswith(f"# Case {case_id}:")
    assert "| kind | value | role | internal | verdict | evidence |" in markdown.stdout
    assert soarbot("case", "show", case_id, "--config", config).returncode == 0
    assert soarbot("case", "show", "999", "--config", config).returncode == 1

    verified = soarbot("case", "verify", case_id, "--config", config)
    assert verified.returncode == 0 and "intact" in verified.stdout

    export_file = tmp_path / "case.json"
    export_file.write_text(json.dumps(exported))
    assert soarbot("case", "verify", "--export", str(export_file), "--config", config).returncode == 0
    exported["timeline"][0]["data"]["title"] = "edited"
    export_file.write_text(json.dumps(exported))
    tampered_export = soarbot("case", "verify", "--export", str(export_file), "--config", config)
    assert tampered_export.returncode == 1 and "entry 1" in tampered_export.stdout

    with sqlite3.connect(tmp_path / "soarbot.db") as conn:
        conn.execute("DROP TRIGGER timeline_no_update")
        conn.execute("UPDATE timeline SET actor = 'mallory' WHERE case_id = ? AND seq = 2", (case["id"],))
    tampered = soarbot("case", "verify", case_id, "--config", config)
    assert tampered.returncode == 1
    assert "BROKEN at entry 2" in tampered.stdout
