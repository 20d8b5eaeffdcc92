"""Configuration loading: env expansion, key-path errors, secrets never echoed, the local default."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.intake.parsers import FORMATS
from bot.settings import expand_env, load

ROOT = Path(__file__).parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path, env or {})
    return info.value.problems


def test_example_config_is_valid_with_its_variables_set() -> None:
    import re

    names = set(re.findall(r"\$\{([A-Z_]+)\}", (ROOT / "config.example.yaml").read_text()))
    env = {name: "s3cret-token" for name in names}
    settings = load(ROOT / "config.example.yaml", env).settings
    assert set(settings.connectors) >= {"virustotal", "crowdstrike", "cloudflare", "jira", "offline", "simulated"}
    assert settings.access.roles["responder"] == ["U0123RESP1", "slack:U0123RESP2"]
    assert settings.sources["splunk"].token is not None
    assert settings.sources["splunk"].token.get_secret_value() == "s3cret-token"
    assert settings.sources["kibana"].hmac_secret is not None
    assert settings.grouping.window == timedelta(hours=1)
    mapping = settings.sources["custom-app"].format_options().mapping
    assert mapping is not None and mapping.observables[0].path == "alert.src_ip"


def test_env_expansion_with_defaults_and_escape() -> None:
    env = {"A": "one", "EMPTY": ""}
    tree = {"x": "${A}", "y": ["${B:-two}", "$${A}"], "z": "${EMPTY:-fallback}", "n": 5, "o": "${UNSET:-}"}
    assert expand_env(tree, env) == {"x": "one", "y": ["two", "${A}"], "z": "fallback", "n": 5, "o": None}
    assert expand_env("prefix-${UNSET:-}", env) == "prefix-"


def test_env_value_cannot_inject_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  s:\n    format: splunk\n    token: ${T}\n")
    settings = load(path, {"T": "abcdefgh\nserver: {port: 1}"}).settings
    assert settings.server.port == 8080


def test_missing_variable_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  s:\n    format: splunk\n    token: ${NOPE}\n")
    assert problems(path) == ["sources.s.token: environment variable NOPE is not set"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server:\n  port: 99999\n", "server.port: Input should be less than or equal to 65535"),
        ("server:\n  prot: 1\n", "server.prot: unknown key"),
        ("sources:\n  s:\n    token: abcdefgh\n", "sources.s.format: field required"),
        ("sources:\n  s:\n    format: qradar\n    token: abcdefgh\n", "sources.s.format: Input should be"),
        ("sources:\n  s:\n    format: splunk\n", "sources.s: set token or hmac_secret"),
        ("grouping:\n  window: soon\n", "grouping.window: expected a duration"),
        (
            "sources:\n  s:\n    format: splunk\n    token: abcdefgh\n    group_by: [colour]\n",
            "sources.s.group_by: unknown grouping key 'colour'",
        ),
        ("sources:\n  bad/name:\n    format: splunk\n    token: abcdefgh\n", "sources: source name 'bad/name'"),
    ],
)
def test_errors_name_the_key_path(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write(tmp_path, text))
    assert any(p.startswith(expected) for p in found), found


def test_secrets_are_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  s:\n    format: splunk\n    token: tiny\n    hmac_secret: [not, a, string]\n")
    found = problems(path)
    assert any(p.startswith("sources.s.token: must be at least 8 characters") for p in found)
    assert not any("tiny" in p or "not" in p.split(":", 1)[1].split() for p in found)


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "server:\n  port: [1\n"))
    assert found[0].startswith(f"{tmp_path / 'config.yaml'}:")


def test_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "absent.yaml")[0].endswith("no such config file")


def test_env_var_selects_config(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9999\n")
    assert load(None, {"SOARBOT_CONFIG": str(path)}).settings.server.port == 9999


def test_local_default_generates_tokens_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = load(None, {})
    assert first.generated_tokens is not None
    assert set(first.settings.sources) == set(FORMATS)
    token_file = tmp_path / "data" / "source-tokens.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    second = load(None, {})
    assert second.generated_tokens == first.generated_tokens == json.loads(token_file.read_text())
    assert first.settings.database_path == Path("data/soarbot.db")
