"""The alert card of a case, as a neutral Card: one message per case, updated as alerts and verdicts arrive.

A flood of alerts grouped into one case updates this one message (count, last seen) instead of posting again;
approvals, action results and notifications go to its thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.models import Case, Observable
from bot.core.ports import Button, ButtonStyle, Card

LEVEL_ORDER = {"malicious": 0, "suspicious": 1, "unknown": 2, "benign": 3}
MAX_INDICATORS = 15


def case_card(
    case: Case,
    *,
    link: str | None,
    observables: Sequence[Observable],
    verdicts: Sequence[Mapping[str, Any]],
    techniques: Sequence[Mapping[str, Any]] = (),
    incident_button: bool = True,
) -> Card:
    """The card: title, severity, source, case id, indicators with their verdicts and evidence, links."""
    by_value = {(v["indicator"]["kind"], v["indicator"]["value"]): v for v in verdicts}
    lines = []
    ranked = sorted(
        observables,
        key=lambda o: (LEVEL_ORDER.get(by_value.get((str(o.kind), o.value), {}).get("level", "unknown"), 2), o.kind),
    )
    for observable in ranked[:MAX_INDICATORS]:
        verdict = by_value.get((str(observable.kind), observable.value))
        line = f"• {observable.kind} {observable.value}"
        if observable.internal:
            line += " (internal)"
        if verdict is None:
            line += ": enriching…"
        else:
            line += f": {verdict['level']}" + (f" ({verdict['score']})" if verdict.get("score") else "")
            evidence = [
                f"{s['source']} {s['level']}: {s['summary']}"
                for s in verdict.get("verdicts", [])
                if s.get("summary") and s.get("level") != "unknown"
            ][:3]
            evidence += [f"{f['source']} failed: {f['reason']}" for f in verdict.get("failures", [])][:2]
            if evidence:
                line += "\n    " + "\n    ".join(evidence)
        lines.append(line)
    if len(observables) > MAX_INDICATORS:
        lines.append(f"… and {len(observables) - MAX_INDICATORS} more indicators (soarbot case show {case.id})")
    text = "\n".join(lines) or "No indicators found."
    if techniques:
        text += "\nATT&CK: " + ", ".join(f"{t['id']} {t['name']}" for t in techniques)
    fields = [
        ("Case", f"#{case.id} ({case.status})"),
        ("Severity", str(case.severity)),
        ("Source / rule", f"{case.source} / {case.rule}"),
        ("Alerts", f"{case.alert_count} (last {case.last_seen:%Y-%m-%d %H:%M:%S} UTC)"),
    ]
    if case.assignee:
        fields.append(("Assignee", case.assignee))
    if link:
        fields.append(("Link", link))
    buttons = (
        (Button("Open incident channel", "incident.open", str(case.id), ButtonStyle.DEFAULT),)
        if (incident_button and str(case.status) != "closed")
        else ()
    )
    return Card(
        title=f"{case.title}",
        text=text,
        fields=tuple(fields),
        buttons=buttons,
        footer=f"soarbot case {case.id} · first seen {case.first_seen:%Y-%m-%d %H:%M:%S} UTC",
        severity=str(case.severity),
    )
