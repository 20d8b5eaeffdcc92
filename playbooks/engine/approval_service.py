"""The approval service: ask (once per step), count votes, decide by compare-and-set, expire, remind, escalate.

Every change is a timeline event written in the same transaction as the approval row (approval_requested,
vote_recorded, approval_decided, approval_expired, approval_reminder, approval_escalated); chat renders its
cards from those events, so nothing here talks to a chat platform. A decision resumes the waiting run through
``on_decided``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

from bot.core.events import (
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalExpired,
    ApprovalReminder,
    ApprovalRequested,
    UnauthorizedAttempt,
    VoteRecorded,
)
from bot.core.models import ApprovalStatus, Decision, format_time
from bot.core.ports import ButtonAction, ButtonClicked
from bot.store import approvals as approvals_store
from bot.store.approvals import ApprovalRow
from bot.store.cases import append_event_tx
from bot.store.runs import RunRow
from playbooks.engine.approvals import escalation_level, first_reminder, may_decide, next_reminder, policy_dict
from playbooks.engine.context import ACTOR, Reply, Services
from playbooks.engine.models import Approval


class ApprovalService:
    """Approval requests of playbook runs, from the request to the decision (or expiry)."""

    def __init__(
        self,
        services: Services,
        *,
        on_decided: Callable[[int], None],
        undo: Callable[[int, str], Awaitable[Reply]],
    ) -> None:
        self.services = services
        self._on_decided = on_decided
        self._undo = undo

    async def ensure(
        self,
        run: RunRow,
        key: str,
        policy: Approval,
        *,
        action: str,
        target: str,
        reason: str,
        message: str,
    ) -> ApprovalRow:
        """The approval for ``key``: created (with its approval_requested event) the first time, read back after."""
        db = self.services.db
        existing = await approvals_store.for_step(db.reader, run.id, key)
        if existing is not None:
            return existing
        created = self.services.clock()
        guardrails = self.services.guardrails
        critical = guardrails.is_critical(target)
        required = max(policy.min_approvals, guardrails.min_approvals if critical else 1)
        now = format_time(created)

        def job(conn: Any) -> ApprovalRow:
            row, new = approvals_store.insert_tx(
                conn,
                run_id=run.id,
                step_key=key,
                case_id=run.case_id,
                action=action,
                target=target,
                reason=reason,
                message=message,
                requester=run.requester,
                policy=policy_dict(policy),
                required=required,
                critical=critical,
                expires_at=created + policy.timeout,
                remind_at=first_reminder(policy, created),
                now=now,
            )
            if new and run.case_id is not None:
                requested = ApprovalRequested(
                    approval_id=row.id,
                    action=action,
                    target=target,
                    reason=reason,
                    message=message,  # the card's title
                    required=required,
                    critical=critical,
                    roles=tuple(policy.roles),
                    users=tuple(policy.users),
                    expires_at=format_time(row.expires_at),
                    requester=run.requester,
                )
                append_event_tx(conn, run.case_id, requested, ACTOR, now)
            return row

        return await db.write(job)

    async def click(self, event: ButtonClicked) -> Reply:
        """Handle a button press from any chat platform (Approve, Deny, Undo)."""
        try:
            ident = int(event.value)
        except ValueError:
            return Reply("That button is not valid any more.")
        if event.action in (ButtonAction.APPROVE, ButtonAction.DENY):
            decision = Decision.APPROVE if event.action == ButtonAction.APPROVE else Decision.DENY
            return await self.vote(ident, event.user, decision, event.reason)
        if event.action == ButtonAction.UNDO:
            return await self._undo(ident, event.user)
        return Reply("Unknown button.")

    async def vote(self, approval_id: int, user: str, decision: Decision, reason: str | None = None) -> Reply:
        """Record ``user``'s approve/deny; decide once enough approvals (or one deny) are in."""
        decision = Decision(decision)  # the plain word from an untyped caller (a test, a script) compares as the enum
        db = self.services.db
        row = await approvals_store.get(db.reader, approval_id)
        if row is None:
            return Reply(f"There is no approval request #{approval_id}.")
        if row.status is not ApprovalStatus.PENDING:
            return Reply(_already(row))
        if not may_decide(user, row, self.services.access):
            await self.services.record(
                row.case_id, UnauthorizedAttempt(user=user, approval_id=row.id, decision=decision), actor=user
            )
            return Reply(
                f"You are not allowed to decide request #{row.id} (it needs role "
                f"{', '.join(row.policy.get('roles', [])) or 'a named approver'}). Nothing was changed."
            )
        if user == row.requester:
            return Reply("You asked for this action, so someone else has to approve it.")
        moment = self.services.clock()
        now = format_time(moment)

        def job(conn: Any) -> tuple[str, ApprovalRow | None, list[str]]:
            current = approvals_store.get_tx(conn, approval_id)
            assert current is not None
            if current.status is not ApprovalStatus.PENDING:
                return "decided", current, []
            if current.expires_at <= moment:  # the timer has not run yet; the request is over all the same
                _expire_tx(conn, current, now)
                return "expired", approvals_store.get_tx(conn, approval_id), []
            if not approvals_store.add_vote_tx(conn, approval_id, user, decision, reason, now):
                return "repeat", current, approvals_store.approvals_count_tx(conn, approval_id)
            if current.case_id is not None:
                vote = VoteRecorded(approval_id=approval_id, user=user, vote=decision, reason=reason)
                append_event_tx(conn, current.case_id, vote, user, now)
            approvals = approvals_store.approvals_count_tx(conn, approval_id)
            if decision is Decision.DENY:
                status, outcome = ApprovalStatus.DENIED, Decision.DENY
            elif len(approvals) >= current.required:
                status, outcome = ApprovalStatus.APPROVED, Decision.APPROVE
            else:
                return "counted", None, approvals
            # Compare-and-set: only the first decision of a pending request changes it.
            if not approvals_store.decide_tx(conn, approval_id, status, outcome, user, now, reason):
                return "decided", approvals_store.get_tx(conn, approval_id), approvals
            if current.case_id is not None:
                decided = ApprovalDecided(
                    approval_id=approval_id,
                    status=status,
                    by=user,
                    reason=reason,
                    approvers=tuple(approvals),
                    action=current.action,
                    target=current.target,
                )
                append_event_tx(conn, current.case_id, decided, user, now)
            return "now-decided", approvals_store.get_tx(conn, approval_id), approvals

        state, decided, approvals = await db.write(job)
        if state == "decided" and decided is not None:
            return Reply(_already(decided))
        if state == "expired" and decided is not None:
            self._resume(decided)
            return Reply(_already(decided))
        if state == "repeat":
            return Reply(f"You already voted on request #{approval_id} ({len(approvals)} of {row.required} approvals).")
        if state == "counted":
            return Reply(f"Recorded: {len(approvals)} of {row.required} approvals for request #{approval_id}.", True)
        assert decided is not None
        self._resume(decided)
        return Reply(f"Request #{approval_id} {decided.status}.", True)

    async def expire(self, row: ApprovalRow, now: str) -> None:
        """Decide ``row`` by its ``on_timeout`` (compare-and-set: a vote that came first wins)."""
        if await self.services.db.write(partial(_expire_tx, row=row, now=now)):
            self._resume(row)

    async def remind(self, row: ApprovalRow, moment: datetime) -> None:
        """Remind the approvers of ``row``, or escalate to the next level when one has come due."""
        level = max(row.escalation_level, escalation_level(row, moment))
        updated = ApprovalRow(**{**_fields(row), "escalation_level": level})
        following = next_reminder(updated, moment)
        await self.services.db.write(
            partial(approvals_store.reschedule_tx, approval_id=row.id, remind_at=following, escalation_level=level)
        )
        # message and expires_at: what a reminder card shows, so chat can render it from the event alone.
        expires = format_time(row.expires_at)
        if level > row.escalation_level:
            added = row.policy["escalate"][row.escalation_level : level]
            roles = tuple(sorted({r for step in added for r in step.get("roles", ())}))
            users = tuple(sorted({u for step in added for u in step.get("users", ())}))
            await self.services.record(
                row.case_id, ApprovalEscalated(row.id, level, roles, users, row.message, expires)
            )
        else:
            await self.services.record(row.case_id, ApprovalReminder(row.id, level, row.message, expires))

    def _resume(self, row: ApprovalRow) -> None:
        if row.run_id is not None:
            self._on_decided(row.run_id)


def _expire_tx(conn: Any, row: ApprovalRow, now: str) -> bool:
    outcome = Decision(row.policy.get("on_timeout", Decision.DENY))
    if not approvals_store.decide_tx(conn, row.id, ApprovalStatus.EXPIRED, outcome, "soarbot (expired)", now, None):
        return False
    if row.case_id is not None:
        expired = ApprovalExpired(row.id, outcome, row.action, row.target)
        append_event_tx(conn, row.case_id, expired, ACTOR, now)
    return True


def _fields(row: ApprovalRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def _already(row: ApprovalRow) -> str:
    verb = {"approved": "approved", "denied": "denied", "expired": "expired"}.get(row.status, row.status)
    at = None if row.decided_at is None else format_time(row.decided_at)
    return f"Request #{row.id} was already {verb} by {row.decided_by} at {at}. Nothing was changed."
