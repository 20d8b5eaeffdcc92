"""Presenters: case events and read models in, platform-neutral cards out.

Every card soarbot shows is built here, and only here: the case card, approval requests, action results,
failures, reminders, notifications, incident summaries and announcements, and the digest. Each chat surface
(``bot.chat``) renders these cards for its platform; the core never builds a message. All text in a card is
untrusted and raw: each adapter escapes it for its own surface.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.models import Case, Observable, Severity
from bot.core.ports import ActionResult, Button, ButtonAction, ButtonStyle, Card
from bot.incidents import Digest, Incident
from bot.store.approvals import ApprovalRow

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
        (Button("Open incident channel", ButtonAction.OPEN_INCIDENT, str(case.id), ButtonStyle.DEFAULT),)
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


def approval_card(row: ApprovalRow, approvals: list[str]) -> Card:
    """The request, with Approve and Deny while it is pending, and who decided once it is not."""
    fields = [
        ("Action", row.action),
        ("Target", row.target),
        ("Requested by", row.requester),
        ("Reason", row.reason),
        ("Approvals", f"{len(approvals)} of {row.required}" + (f" ({', '.join(approvals)})" if approvals else "")),
        ("Expires", row.expires_at),
    ]
    if row.critical:
        fields.insert(0, ("Critical asset", "yes: more approvals are required"))
    buttons: tuple[Button, ...]
    if row.status == "pending":
        buttons = (
            Button("Approve", ButtonAction.APPROVE, str(row.id), ButtonStyle.PRIMARY),
            Button("Deny", ButtonAction.DENY, str(row.id), ButtonStyle.DANGER),
        )
        footer = f"Approval request #{row.id}"
    else:
        buttons = ()
        verb = {"approved": "Approved", "denied": "Denied", "expired": f"Expired ({row.outcome})"}.get(
            row.status, row.status
        )
        footer = f"{verb} by {row.decided_by} at {row.decided_at}" + (
            f": {row.decision_reason}" if row.decision_reason else ""
        )
    return Card(
        title=row.message,
        fields=tuple(fields),
        buttons=buttons,
        footer=footer,
        severity="critical" if row.critical else None,
    )


def action_card(result: ActionResult, *, action_id: int | None, case_id: int | None) -> Card:
    """What a containment action did, with an Undo button where it can be undone."""
    title = f"{result.action}: {result.target}"
    text = result.message or str(result.outcome)
    buttons: tuple[Button, ...] = ()
    if action_id is not None and result.outcome.value in ("done", "simulated"):
        buttons = (Button("Undo", ButtonAction.UNDO, str(action_id), ButtonStyle.DEFAULT),)
    return Card(
        title=("SIMULATED " if result.simulated else "") + title,
        text=text,
        fields=(("Connector", result.connector), ("Outcome", str(result.outcome)), ("Case", str(case_id or "-"))),
        buttons=buttons,
    )


def failure_card(title: str, error: str) -> Card:
    """A step or action that failed."""
    return Card(title=title, text=error, severity="high")


def summary_card(incident: Incident, case: Case) -> Card:
    """The pinned summary of an incident channel (all text raw: the adapter escapes it)."""
    fields: list[tuple[str, str]] = [
        ("Case", f"#{case.id} ({case.status})"),
        ("Severity", str(case.severity)),
        ("Incident", incident.status),
        ("Declared by", f"{incident.declared_by} at {incident.declared_at}"),
    ]
    fields += [(role.capitalize(), user) for role, user in sorted(incident.roles.items())]
    if incident.resolved_at:
        fields.append(("Resolved", incident.resolved_at))
    return Card(
        title=f"Incident: {incident.title}",
        text=incident.last_update or "No status update yet.",
        fields=tuple(fields),
        footer=f"soarbot case {case.id} · /soar incident status <text> · /soar incident role <role> @user",
        severity=str(case.severity),
    )


def reminder_card(row: ApprovalRow, *, escalated_to: Sequence[str] = ()) -> Card:
    """A nudge that a request is still waiting (and, when escalated, to whom it now also goes)."""
    who = ", ".join(escalated_to) if escalated_to else "approvers"
    text = f"Still waiting for a decision on request #{row.id}: {row.message} (expires {row.expires_at})"
    return Card(title=f"Reminder for {who}", text=text)


def notice_card(title: str, text: str) -> Card:
    """A playbook's ``notify`` step, as written in the playbook."""
    return Card(title=title, text=text)


def incident_announcement(title: str, case: Case, actor: str, channel: str) -> Card:
    """Where the team learns that an incident was declared."""
    return Card(
        title=f"Incident declared: {title}",
        text=f"Case #{case.id} ({case.severity}) by {actor}; incident channel {channel}.",
        severity=str(case.severity),
    )


DIGEST_LINES = 10


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def digest_card(digest: Digest, *, case_id: int | None) -> Card:
    """The digest as a card: counts first, then a few lines of each list."""
    open_total = sum(digest.counts.values())
    by_severity = ", ".join(
        f"{digest.counts[s]} {s}" for s in sorted(digest.counts, key=lambda s: s.rank, reverse=True)
    )
    outcomes = Counter(a.status for a in digest.actions)
    headline = (
        f"{_plural(open_total, 'open case')}, {_plural(len(digest.pending), 'pending approval')}, "
        f"{_plural(len(digest.actions), 'action')} in the last 24 hours."
    )
    sections = [headline]
    ranked = digest.open_cases  # most severe first
    if ranked:
        sections.append(
            "Open cases:\n"
            + "\n".join(
                f"• #{c.id} [{c.severity}] {c.title} ({c.status}, {c.assignee or 'unassigned'})"
                for c in ranked[:DIGEST_LINES]
            )
        )
    if digest.pending:
        sections.append(
            "Waiting for approval:\n"
            + "\n".join(
                f"• #{r.id} {r.action} {r.target} (case {r.case_id}, expires {r.expires_at})"
                for r in digest.pending[:DIGEST_LINES]
            )
        )
    if digest.actions:
        sections.append(
            "Actions in the last 24 hours:\n"
            + "\n".join(
                f"• {a.action} {a.target}: {a.status} (case {a.case_id})" for a in digest.actions[-DIGEST_LINES:]
            )
        )
    worst = max(digest.counts, key=lambda s: s.rank, default=None)
    return Card(
        title=f"Digest for case #{case_id}" if case_id is not None else "Digest: all open cases",
        text="\n\n".join(sections),
        fields=(
            ("Open cases", f"{open_total}" + (f" ({by_severity})" if by_severity else "")),
            ("Pending approvals", str(len(digest.pending))),
            (
                "Actions (24 h)",
                f"{len(digest.actions)}"
                + (f" ({', '.join(f'{n} {s}' for s, n in sorted(outcomes.items()))})" if outcomes else ""),
            ),
        ),
        footer=f"Since {digest.since}",
        severity=str(worst) if worst is not None and worst.rank >= Severity.HIGH.rank else None,
    )
