"""Builders for domain objects used across tests."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.models import Alert, Observable, ObservableKind, Severity


def make_alert(
    external_id: str = "a-1",
    *,
    source: str = "splunk",
    rule: str = "SSH brute force",
    severity: Severity = Severity.MEDIUM,
    host: str | None = "web-01",
    ip: str | None = "203.0.113.5",
    **kwargs: object,
) -> Alert:
    observables = []
    if host:
        observables.append(Observable(ObservableKind.HOST, host))
    if ip:
        observables.append(Observable(ObservableKind.IP, ip, role="src"))
    fields: dict[str, object] = {
        "source": source,
        "format": "splunk",
        "external_id": external_id,
        "title": f"{rule} on {host}",
        "severity": severity,
        "time": datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
        "rule": rule,
        "raw": f'{{"sid": "{external_id}"}}',
        "observables": tuple(observables),
    }
    fields.update(kwargs)
    return Alert(**fields)  # type: ignore[arg-type]
