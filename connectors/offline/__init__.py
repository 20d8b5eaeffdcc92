"""Offline intelligence: nothing leaves the machine, so internal indicators may be looked up here too.

Two lookups: ``offline-lists`` (the team's own allow and block lists, see :mod:`connectors.offline.lists`) and
``misp-warninglists`` (known infrastructure from the MISP warning lists, see
:mod:`connectors.offline.warninglists`). :mod:`connectors.offline.attack` names MITRE ATT&CK techniques; it is
a helper, not a lookup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pydantic import Field

from connectors import ConnectorSettings
from connectors.offline.attack import AttackCatalog
from connectors.offline.lists import LocalLists
from connectors.offline.warninglists import WarningLists

__all__ = ["AttackCatalog", "LocalLists", "Settings", "WarningLists", "build"]


class Settings(ConnectorSettings):
    """``connectors.offline``."""

    blocklists: list[str] = Field(default=[], description="files of indicators to treat as malicious")
    allowlists: list[str] = Field(default=[], description="files of indicators to treat as benign (wins over block)")
    reload_interval: float = Field(default=5.0, ge=0, description="seconds between checks for changed list files")
    warninglists: bool = Field(default=True, description="tag known infrastructure from the MISP warning lists")
    warninglists_large: bool = Field(
        default=False,
        description="also load the two one-million-name popularity lists (context only; about 2 s and 200 MB more)",
    )
    warninglists_skip: list[str] = Field(default=[], description="warning list ids not to load (e.g. vpn-ipv4)")
    attack: bool = Field(default=True, description="name MITRE ATT&CK technique ids found in alerts")
    warninglists_path: str | None = Field(
        default=None, description="a misp-warninglists 'lists' directory to use instead of the bundled copy"
    )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The offline lookups: local lists when any file is configured, warning lists unless turned off."""
    built: list[Any] = []
    if settings.allowlists or settings.blocklists:
        built.append(LocalLists(settings.allowlists, settings.blocklists, reload_interval=settings.reload_interval))
    if settings.warninglists:
        root = Path(settings.warninglists_path).expanduser() if settings.warninglists_path else None
        built.append(WarningLists(root, skip=settings.warninglists_skip, large=settings.warninglists_large))
    if settings.attack:
        built.append(AttackCatalog())
    return built
