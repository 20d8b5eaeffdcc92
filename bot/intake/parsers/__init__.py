"""Format parsers: one pure ``parse(payload, options) -> list[ParsedAlert]`` per alert source format."""

from __future__ import annotations

from bot.intake.parsers import alertmanager, elastic, generic, grafana, sentinel, splunk, wazuh
from bot.intake.parsers.base import Parser

PARSERS: dict[str, Parser] = {
    "splunk": splunk.parse,
    "elastic": elastic.parse,
    "wazuh": wazuh.parse,
    "alertmanager": alertmanager.parse,
    "grafana": grafana.parse,
    "sentinel": sentinel.parse,
    "generic": generic.parse,
}
FORMATS: tuple[str, ...] = tuple(PARSERS)

__all__ = ["FORMATS", "PARSERS", "Parser"]
