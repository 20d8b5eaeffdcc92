"""Offline intelligence (work in progress in this commit series: see the offline helper)."""

from __future__ import annotations

from typing import Any

import httpx

from connectors import ConnectorSettings


class Settings(ConnectorSettings):
    """``connectors.offline``."""

    blocklists: list[str] = []
    allowlists: list[str] = []
    warninglists: bool = True


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """Build the offline lookups."""
    return []
