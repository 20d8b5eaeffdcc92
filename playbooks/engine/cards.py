"""Platform-neutral cards for approvals and action results (adapters render and escape them)."""

from __future__ import annotations

from bot.core.ports import ActionResult, Button, ButtonStyle, Card
from bot.store.approvals import ApprovalRow

APPROVE = "approval.approve"
DENY = "approval.deny"
UNDO = "action.undo"


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
            Button("Approve", APPROVE, str(row.id), ButtonStyle.PRIMARY),
            Button("Deny", DENY, str(row.id), ButtonStyle.DANGER),
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
        buttons = (Button("Undo", UNDO, str(action_id), ButtonStyle.DEFAULT),)
    return Card(
        title=("SIMULATED " if result.simulated else "") + title,
        text=text,
        fields=(("Connector", result.connector), ("Outcome", str(result.outcome)), ("Case", str(case_id or "-"))),
        buttons=buttons,
    )


def failure_card(title: str, error: str) -> Card:
    """A step or action that failed."""
    return Card(title=title, text=error, severity="high")
