"""Threat-intel and response connectors: one package per vendor, found through ``CATALOGUE``.

Each package exposes ``Settings`` (a pydantic model of ``connectors.<name>`` in the config; secrets as
``SecretStr``) and ``build(settings, transport) -> list[Connector]`` returning one object per capability it
offers. ``build_registry`` turns the configured connectors into a :class:`Registry`, the only way the rest of
soarbot reaches a vendor.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from bot.core.errors import ConfigError
from bot.core.ports import (
    Connector,
    Containment,
    ContainmentKind,
    IntelLookup,
    Notifier,
    TechniqueCatalog,
    Ticketing,
)

logger = logging.getLogger(__name__)

INTEL = ("offline", "virustotal", "abuseipdb", "greynoise", "urlhaus", "threatfox", "rdap", "shodan")
RESPONSE = ("crowdstrike", "defender", "entra", "okta", "cloudflare", "jira", "webhook", "simulated")
CATALOGUE: dict[str, str] = {name: f"connectors.{name}" for name in (*INTEL, *RESPONSE)}
DEFAULT_CONNECTORS = ("offline", "simulated")
"""Enabled without any configuration: neither needs a key nor reaches the network."""


class ConnectorSettings(BaseModel):
    """Settings every connector shares; ``base_url`` replaces the vendor's URL prefix (fakes, proxies)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    base_url: str | None = None
    timeout: float = 10.0
    verify_tls: bool = True


def module(name: str) -> ModuleType:
    """The connector package called ``name``."""
    return importlib.import_module(CATALOGUE[name])


def settings_model(name: str) -> type[BaseModel]:
    """The settings model of connector ``name``."""
    model: type[BaseModel] = module(name).Settings
    return model


@dataclass(slots=True)
class Registry:
    """The connectors in use, by capability. Created once by ``bot.app``; closed on shutdown."""

    intel: list[IntelLookup] = field(default_factory=list)
    containment: dict[ContainmentKind, Containment] = field(default_factory=dict)
    ticketing: Ticketing | None = None
    notifier: Notifier | None = None
    techniques: TechniqueCatalog | None = None
    connectors: list[Connector] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close every connector's HTTP client."""
        for connector in self.connectors:
            close = getattr(connector, "aclose", None)
            if close is not None:
                await close()


def build_registry(
    configured: Mapping[str, BaseModel],
    *,
    responders: Mapping[ContainmentKind, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Registry:
    """Build every enabled connector and pick one responder per containment capability.

    A capability served by several connectors needs ``response.<capability>`` to choose; a capability
    served by none falls back to the simulated responder, which says so wherever it appears.
    """
    registry = Registry()
    offered: dict[ContainmentKind, dict[str, Containment]] = {}
    for name, settings in configured.items():
        if not getattr(settings, "enabled", True):
            continue
        built: list[Any] = module(name).build(settings, transport)
        for connector in built:
            registry.connectors.append(connector)
            if isinstance(connector, IntelLookup):
                registry.intel.append(connector)
            if isinstance(connector, Containment):
                offered.setdefault(connector.capability, {})[name] = connector
            # A real ticketing or webhook connector wins over the simulated one.
            if isinstance(connector, Ticketing) and (registry.ticketing is None or name != "simulated"):
                registry.ticketing = connector
            if isinstance(connector, Notifier) and (registry.notifier is None or name != "simulated"):
                registry.notifier = connector
            if isinstance(connector, TechniqueCatalog):
                registry.techniques = connector
    chosen = dict(responders or {})
    problems = []
    for capability, by_name in offered.items():
        real = {n: c for n, c in by_name.items() if n != "simulated"}
        if capability in chosen:
            if chosen[capability] not in by_name:
                problems.append(f"response.{capability}: {chosen[capability]} is not an enabled {capability} connector")
                continue
            registry.containment[capability] = by_name[chosen[capability]]
        elif len(real) > 1:
            problems.append(
                f"response.{capability}: several connectors offer it ({', '.join(sorted(real))}); choose one"
            )
        elif real:
            registry.containment[capability] = next(iter(real.values()))
        else:
            registry.containment[capability] = by_name["simulated"]
    if problems:
        raise ConfigError(problems)
    return registry
