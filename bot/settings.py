"""Typed configuration: the models behind ``config.example.yaml``.

Loading reads YAML, replaces ``${VAR}`` / ``${VAR:-default}`` in string values from the environment (after
parsing, so an environment value can never inject YAML), validates into pydantic models and turns every
problem into a ``key.path: what is wrong`` line. Secrets are ``SecretStr`` and are never echoed in errors.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.errors import ConfigError
from bot.core.models import ChatUser, ObservableKind, Severity, parse_duration
from bot.intake.parsers import FORMATS
from bot.intake.parsers.base import FormatOptions, GenericMapping, ObservablePath
from connectors import CATALOGUE, DEFAULT_CONNECTORS, settings_model

CONFIG_ENV = "SOARBOT_CONFIG"
DEFAULT_DATA_DIR = Path("data")
SOURCE_TOKENS_FILE = "source-tokens.json"

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Model):
    """The HTTP server that receives alerts (and, later, chat platforms)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)


class ObservableMapping(_Model):
    """Generic format: one path to an indicator."""

    path: str
    kind: ObservableKind
    role: str | None = None


class GenericMappingSettings(_Model):
    """Generic format: dotted paths into the sender's JSON."""

    title: str | None = None
    severity: str | None = None
    id: str | None = None
    time: str | None = None
    rule: str | None = None
    description: str | None = None
    link: str | None = None
    alerts: str | None = None
    observables: list[ObservableMapping] = []
    severity_map: dict[str, Severity] = {}


SourceFormat = Literal["splunk", "elastic", "wazuh", "alertmanager", "grafana", "sentinel", "generic"]


class SourceSettings(_Model):
    """One alert source: ``POST /alerts/<name>``."""

    format: SourceFormat
    token: SecretStr | None = None
    hmac_secret: SecretStr | None = None
    group_by: list[str] = ["rule", "host"]
    default_severity: Severity = Severity.MEDIUM
    mapping: GenericMappingSettings | None = None

    @field_validator("token", "hmac_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters (an empty or short secret is no protection)")
        return value

    @field_validator("group_by")
    @classmethod
    def _known_keys(cls, value: list[str]) -> list[str]:
        allowed = {"rule", "title", *(str(k) for k in ObservableKind)}
        for key in value:
            kind = key.split(":", 1)[0]
            if kind not in allowed:
                raise ValueError(f"unknown grouping key {key!r}; use rule, title or an indicator kind[:role]")
        return value

    @model_validator(mode="after")
    def _has_auth(self) -> SourceSettings:
        if self.token is None and self.hmac_secret is None:
            raise ValueError("set token or hmac_secret: every source must authenticate its sender")
        return self

    def format_options(self) -> FormatOptions:
        """The parser's view of this source."""
        mapping = None
        if self.mapping is not None:
            m = self.mapping
            mapping = GenericMapping(
                title=m.title,
                severity=m.severity,
                id=m.id,
                time=m.time,
                rule=m.rule,
                description=m.description,
                link=m.link,
                alerts=m.alerts,
                observables=tuple(ObservablePath(o.path, o.kind, o.role) for o in m.observables),
                severity_map={k.lower(): v for k, v in m.severity_map.items()},
            )
        return FormatOptions(default_severity=self.default_severity, mapping=mapping)


class GroupingSettings(_Model):
    """How alerts are grouped into cases."""

    window: Duration = timedelta(hours=1)


class StoreSettings(_Model):
    """Durability and batching of the single writer."""

    synchronous: Literal["full", "normal"] = "full"
    busy_timeout: Duration = timedelta(seconds=5)
    max_batch: int = Field(default=256, ge=1)


class IntakeSettings(_Model):
    """Limits on what one alert may carry."""

    max_observables: int = Field(default=200, ge=1)
    max_text_chars: int = Field(default=262144, ge=1024)


class EnrichmentSettings(_Model):
    """How indicators are enriched."""

    auto: bool = True
    deadline: Duration = timedelta(seconds=10)
    cache_ttl: Duration = timedelta(hours=24)
    negative_ttl: Duration = timedelta(hours=1)
    internal_domains: list[str] = []


class ResponseSettings(_Model):
    """Which connector performs each containment capability when several could."""

    edr: str | None = None
    identity: str | None = None
    firewall: str | None = None


class SlackSettings(_Model):
    """``chat.slack``: the Slack app. With ``app_token`` it connects over Socket Mode, else HTTP at /slack/events."""

    bot_token: SecretStr
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    alerts_channel: str
    digest_channel: str | None = None
    digest_at: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="daily, UTC")
    incident_responders: list[str] = []
    archive_on_resolve: bool = True
    messages_per_second: float = Field(default=1.0, gt=0, le=10)

    @model_validator(mode="after")
    def _mode(self) -> SlackSettings:
        if self.app_token is None and self.signing_secret is None:
            raise ValueError("set signing_secret (HTTP mode, /slack/events) or app_token (Socket Mode)")
        return self


class ChatSettings(_Model):
    """Chat platforms."""

    slack: SlackSettings | None = None


class AccessSettings(_Model):
    """Who may do what: ``roles.<role>`` lists chat users (``responder`` approves containment by default).

    A user is ``slack:U123``, ``discord:<user id>``, ``console:<name>`` or a bare Slack id.
    """

    roles: dict[str, list[str]] = {}

    @field_validator("roles")
    @classmethod
    def _users(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for members in value.values():
            for member in members:
                ChatUser.parse(member)  # a ValueError names the entry; pydantic adds the key path
        return value


class GuardrailSettings(_Model):
    """Critical assets: requests that touch them need more approvals and are flagged."""

    critical_hosts: list[str] = []
    critical_users: list[str] = []
    critical_ips: list[str] = []
    critical_min_approvals: int = Field(default=2, ge=1, le=10)

    @field_validator("critical_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as err:
                raise ValueError(f"{net!r} is not an IP address or network") from err
        return value


class Settings(_Model):
    """The whole configuration file."""

    database: str = str(DEFAULT_DATA_DIR / "soarbot.db")
    data_dir: str = str(DEFAULT_DATA_DIR)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerSettings = ServerSettings()
    sources: dict[str, SourceSettings] = {}
    grouping: GroupingSettings = GroupingSettings()
    store: StoreSettings = StoreSettings()
    intake: IntakeSettings = IntakeSettings()
    enrichment: EnrichmentSettings = EnrichmentSettings()
    response: ResponseSettings = ResponseSettings()
    access: AccessSettings = AccessSettings()
    chat: ChatSettings = ChatSettings()
    guardrails: GuardrailSettings = GuardrailSettings()
    playbooks_dir: str | None = None
    # Raw mappings here; validate() replaces them with each connector's own settings model.
    connectors: dict[str, Any] = {}

    @field_validator("sources")
    @classmethod
    def _source_names(cls, value: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
                raise ValueError(f"source name {name!r} must be letters, digits, '.', '_' or '-' (it is a URL path)")
        return value

    @property
    def database_path(self) -> Path:
        """The SQLite file (``sqlite:///`` prefixes are accepted and dropped)."""
        return Path(self.database.removeprefix("sqlite:///").removeprefix("sqlite://"))


class Loaded(BaseModel):
    """Settings plus where they came from; ``generated_tokens`` is set only on the local default."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    settings: Settings
    path: Path | None = None
    generated_tokens: dict[str, str] | None = None


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def expand_env(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed YAML tree (``$$`` is ``$``).

    A value that is nothing but a reference expanding to "" becomes null, so ``${VAR:-}`` means "optional".
    """
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{path}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError([f"{path or '<root>'}: environment variable {name} is not set"])

    expanded = _VAR.sub(replace, value)
    if expanded == "" and _VAR.fullmatch(value):
        return None  # a value that is only ${VAR:-} with nothing set is absent, not an empty string
    return expanded


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Loaded:
    """Load and validate the configuration.

    ``path`` wins over ``$SOARBOT_CONFIG``; with neither, the local default is used: every format enabled as a
    source named after it, with a token generated once and kept in ``data/source-tokens.json``.
    """
    env = os.environ if env is None else env
    chosen = path or env.get(CONFIG_ENV) or None
    if chosen is None:
        return _local_default()
    config_path = Path(chosen)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{config_path}: no such config file"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([f"{config_path}: cannot read ({err.__class__.__name__})"]) from err
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{config_path}:{mark.line + 1}" if mark is not None else str(config_path)
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError([f"{where}: {problem}"]) from err
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError([f"{config_path}: the top level must be a mapping of keys"])
    return Loaded(settings=validate(expand_env(document, env)), path=config_path)


def validate(document: dict[str, Any]) -> Settings:
    """Validate a parsed document, turning pydantic's errors into ``key.path: message`` lines."""
    try:
        settings = Settings.model_validate(document)
    except ValidationError as err:
        raise ConfigError(_problems(err)) from None
    connectors, problems = _validate_connectors(settings.connectors)
    if problems:
        raise ConfigError(problems)
    return settings.model_copy(update={"connectors": connectors})


def _validate_connectors(raw: Mapping[str, Any]) -> tuple[dict[str, BaseModel], list[str]]:
    """Validate ``connectors.<name>`` against each connector's model; the defaults are always present."""
    validated: dict[str, BaseModel] = {}
    problems: list[str] = []
    for name in (*DEFAULT_CONNECTORS, *raw):
        if name in validated:
            continue
        if name not in CATALOGUE:
            problems.append(f"connectors.{name}: unknown connector; known: {', '.join(sorted(CATALOGUE))}")
            continue
        value = raw.get(name)
        if value is not None and not isinstance(value, dict):
            problems.append(f"connectors.{name}: expected a mapping of settings")
            continue
        try:
            validated[name] = settings_model(name).model_validate(value or {})
        except ValidationError as err:
            problems.extend(_problems(err, prefix=f"connectors.{name}"))
    return validated, problems


def _problems(err: ValidationError, prefix: str = "") -> list[str]:
    problems = []
    for error in err.errors(include_input=False, include_url=False):
        loc = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "" and not _is_union_tag(part))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "field required"
        problems.append(f"{loc or '<root>'}: {message}")
    return problems


def _is_union_tag(part: object) -> bool:
    # pydantic adds the member type's name to a location inside a union, e.g. "function-before[...]".
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float"})


def _local_default() -> Loaded:
    tokens = _local_tokens(DEFAULT_DATA_DIR / SOURCE_TOKENS_FILE)
    sources = {name: {"format": name, "token": tokens[name]} for name in FORMATS}
    return Loaded(settings=validate({"sources": sources}), generated_tokens=tokens)


def _local_tokens(path: Path) -> dict[str, str]:
    """Read the local default's source tokens, generating the missing ones once (file mode 0600)."""
    tokens: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError([f"{path}: unreadable token file; delete it to generate new tokens"]) from err
        if isinstance(loaded, dict):
            tokens = {str(k): str(v) for k, v in loaded.items()}
    missing = [name for name in FORMATS if name not in tokens]
    if missing:
        tokens.update({name: secrets.token_urlsafe(24) for name in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(tokens, handle, indent=2)
        os.replace(temporary, path)
    return tokens
