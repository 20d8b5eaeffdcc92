"""Grafana unified alerting webhook, ``version: "1"`` (Grafana 8+).

The body is Alertmanager's plus ``orgId``, ``title`` (``"[FIRING:1] High memory usage"``), ``state`` and
``message`` at the top, and per alert ``silenceURL``, ``dashboardURL``, ``panelURL``, ``values``
(``{"B": 44.23}``) and the older ``valueString``; it is read by the Alertmanager code. Grafana-managed rules
name themselves with ``alertname`` and carry ``__alert_rule_uid__``; the query values go in the description.
The pre-8 legacy alerting body (``evalMatches``, no ``alerts``) is not accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.intake.parsers.alertmanager import Flavour, parse_notification
from bot.intake.parsers.base import FormatOptions, ParsedAlert, text


def _values(item: Mapping[str, Any]) -> list[str]:
    """Describe the query values that fired the alert."""
    values = item.get("values")
    shown = ""
    if isinstance(values, Mapping):
        shown = ", ".join(f"{text(key, 64)}={text(value, 64)}" for key, value in list(values.items())[:32])
    value_string = text(item.get("valueString"))
    return [line for line in (f"Values: {shown}" if shown else "", value_string) if line]


GRAFANA = Flavour("grafana", ("alertname", "__alert_rule_uid__", "rule_uid"), _values)


def parse(payload: Any, options: FormatOptions) -> list[ParsedAlert]:
    """Read one Grafana webhook notification into one alert per ``alerts[]`` item."""
    return parse_notification(payload, options, GRAFANA)
