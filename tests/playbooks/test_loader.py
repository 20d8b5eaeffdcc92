"""Playbook files: every shipped one validates; errors name file, line and key; the CLI validates and dry-runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from playbooks.engine.loader import PlaybookInvalid, library_files, load_file, load_text
from tests.conftest import FIXTURES

ALERTS = FIXTURES / "alerts"


def soarbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.name)
def test_every_shipped_playbook_validates(path: Path) -> None:
    playbook = load_file(path)
    assert playbook.name == path.stem
    assert playbook.description


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nsteps:\n  - id: a\n    enrich: {}\n    colour: red\n", "t.yaml:5: steps.0.colour: unknown key"),
        (
            "name: x\nsteps:\n  - id: a\n    action:\n      action: edr.nuke_host\n      target: h\n",
            "t.yaml:5: steps.0.action.action: unknown action 'edr.nuke_host'",
        ),
        ("name: x\nsteps:\n  - id: a\n", "t.yaml:3: steps.0: a step needs exactly one of"),
        (
            "name: x\nsteps:\n  - id: a\n    when: alert.title ==\n    enrich: {}\n",
            "t.yaml:4: steps.0.when: invalid expression",
        ),
        (
            "name: x\nsteps:\n  - id: a\n    notify:\n      text: '{{ unclosed'\n",
            "t.yaml:5: steps.0.notify.text: invalid template",
        ),
        (
            "name: x\nsteps:\n  - id: a\n    enrich: {}\n  - id: a\n    enrich: {}\n",
            "t.yaml:1: <root>: step id 'a' is used twice",
        ),
        (
            "name: x\ntrigger:\n  on: sometimes\nsteps:\n  - id: a\n    enrich: {}\n",
            "t.yaml:3: trigger.on: Input should be",
        ),
        ("name: x\nsteps: [\n", "t.yaml:3:"),
        ("- just a list\n", "t.yaml:1: a playbook is a mapping"),
    ],
)
def test_errors_name_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(PlaybookInvalid) as info:
        load_text(text, "t.yaml")
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_cli_validate(tmp_path: Path) -> None:
    good = soarbot("playbook", "validate", str(Path("playbooks/library")))
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count(": ok (") == len(library_files())
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - id: a\n    enrich: {}\n    nope: 1\n")
    result = soarbot("playbook", "validate", str(bad))
    assert result.returncode != 0
    assert f"{bad}:5: steps.0.nope: unknown key" in result.stdout


SAMPLES = {
    # playbook: (sample alert, its format, forced verdicts, the action it must simulate or None)
    "malicious-ip": ("splunk.json", "splunk", ["203.0.113.5=malicious"], "firewall.block_ip"),
    "malware-on-endpoint": (
        "wazuh_fim.json",
        "wazuh",
        ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855=malicious"],
        "edr.contain_host",
    ),
    "suspicious-login": ("sentinel.json", "sentinel", ["203.0.113.5=suspicious"], "identity.disable_user"),
    "phishing-report": ("phishing_generic.json", "generic", [], None),
    "enrich-and-notify": ("alertmanager_firing.json", "alertmanager", [], None),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_shipped_playbook_dry_runs(name: str) -> None:
    fixture, source, verdicts, action = SAMPLES[name]
    args = [
        "playbook",
        "test",
        f"playbooks/library/{name}.yaml",
        "--alert",
        str(ALERTS / fixture),
        "--source",
        source,
        "--json",
    ]
    for verdict in verdicts:
        args += ["--verdict", verdict]
    result = soarbot(*args)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)[0]
    assert report["matched"], report["reasons"]
    assert report["status"] == "completed", report
    if action is not None:
        assert [a["action"] for a in report["approvals"]] == [action]
        assert [a["action"] for a in report["actions"]] == [action]
        assert all(a["connector"] == "simulated" for a in report["actions"])
    if name == "phishing-report":
        assert any(s["step"] == "ticket" and s["status"] == "succeeded" for s in report["steps"])
    if name == "enrich-and-notify":
        # Chat renders the notify card from the notified event, in the case's thread.
        assert any(c["to"].endswith("(thread)") and c["title"].endswith(report["alert"]) for c in report["cards"])
        assert {"step": "notify", "status": "succeeded", "result": {"notified": "case"}} in report["steps"]


def test_dry_run_of_malicious_ip_requests_and_simulates_the_block() -> None:
    result = soarbot(
        "playbook",
        "test",
        "playbooks/library/malicious-ip.yaml",
        "--alert",
        str(ALERTS / "splunk.json"),
        "--source",
        "splunk",
        "--verdict",
        "203.0.113.5=malicious",
        "--json",
    )
    [report] = json.loads(result.stdout)
    [approval] = report["approvals"]
    assert (approval["action"], approval["target"], approval["status"]) == (
        "firewall.block_ip",
        "203.0.113.5",
        "approved",
    )
    [action] = report["actions"]
    assert action["connector"] == "simulated" and "SIMULATED" in action["result"]["message"]
    # The approval card is rendered from the events; the report shows it as it ends: decided, so no buttons.
    [card] = [c for c in report["cards"] if c["title"] == approval["message"]]
    assert card["buttons"] == []

    denied = soarbot(
        "playbook",
        "test",
        "playbooks/library/malicious-ip.yaml",
        "--alert",
        str(ALERTS / "splunk.json"),
        "--source",
        "splunk",
        "--verdict",
        "203.0.113.5=malicious",
        "--answer",
        "deny",
        "--json",
    )
    [report] = json.loads(denied.stdout)
    assert report["actions"] == [] and report["approvals"][0]["status"] == "denied"
