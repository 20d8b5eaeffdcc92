"""Exactly-once actions and their undo.

An action is recorded as *attempted* (with a unique idempotency key) before the connector is called and *done*
or *failed* after. Nothing calls the connector for a key that is already done. An attempt whose outcome was
never recorded (a crash mid-call), or that failed, is never repeated by itself: a responder is asked, through
a resolution approval, whether to retry (the connectors check the vendor's state first) or give up.

Undo (the Undo button, or a TTL running out) calls the action's registered inverse, after claiming the action
with a compare-and-set so a click and the timer cannot both call the vendor.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from functools import partial
from typing import Any

from bot.core.errors import ConnectorError
from bot.core.events import (
    ActionAttempted,
    ActionFailed,
    ActionFinished,
    ActionReverted,
    ActionRevertFailed,
    UnauthorizedAttempt,
)
from bot.core.models import ActionStatus, ApprovalStatus, Decision, format_time
from bot.core.ports import ActionOutcome
from bot.store import runs as runs_store
from bot.store.cases import append_event_tx
from playbooks.engine.approval_service import ApprovalService
from playbooks.engine.context import ACTOR, Reply, Services, Waiting
from playbooks.engine.models import Approval
from playbooks.engine.registry import ActionCall, ActionRegistry, ActionSpec

logger = logging.getLogger(__name__)


class ActionService:
    """Performs registered actions exactly once per step, and undoes them."""

    def __init__(self, services: Services, registry: ActionRegistry, approvals: ApprovalService) -> None:
        self.services = services
        self.registry = registry
        self.approvals = approvals

    async def perform(
        self,
        run: runs_store.RunRow,
        key: str,
        spec: ActionSpec[Any],
        target: str,
        reason: str,
        *,
        ttl: timedelta | None,
        policy: Approval | None,
    ) -> dict[str, Any]:
        """Perform ``spec`` on ``target`` for step ``key`` of ``run`` once; raise ``Waiting`` for a resolution.

        ``policy`` is the step's approval policy, reused (never approving on timeout) when a person has to
        decide whether a failed or interrupted attempt is retried.
        """
        services = self.services
        connector = spec.connector(services.responders)
        if connector is None:
            return {"outcome": "failed", "target": target, "error": f"no {spec.capability} connector is configured"}
        attempt = 0
        while True:
            action_key = f"run:{run.id}:{key}" + (f"#{attempt}" if attempt else "")
            existing = await services.db.write(
                partial(
                    runs_store.begin_action_tx,
                    key=action_key,
                    run_id=run.id,
                    step_key=key,
                    case_id=run.case_id,
                    action=spec.key,
                    connector=connector.name,
                    target=target,
                    now=services.now(),
                )
            )
            if existing is None:
                await services.record(
                    run.case_id,
                    ActionAttempted(action=spec.key, target=target, connector=connector.name, key=action_key),
                )
                try:
                    result = await spec.handler(connector, ActionCall(target, reason, action_key))
                except ConnectorError as err:
                    await self._finish(run, action_key, ActionStatus.FAILED, {"error": str(err)}, None, None)
                    continue  # the stored failure now goes to the resolution below
                except Exception as err:  # noqa: BLE001 - an unexpected failure is still a failure a person resolves
                    error_id = secrets.token_hex(4)
                    logger.exception("Action %s on %s failed unexpectedly (error %s)", spec.key, target, error_id)
                    error = f"internal error (id {error_id}): {err.__class__.__name__}"
                    await self._finish(run, action_key, ActionStatus.FAILED, {"error": error}, None, None)
                    continue
                undoable = spec.inverse is not None
                revert_at = None
                if ttl is not None and undoable and result.outcome is not ActionOutcome.ALREADY:
                    revert_at = format_time(services.clock() + ttl)
                action_id = await self._finish(
                    run,
                    action_key,
                    ActionStatus.DONE,
                    result.to_dict(),
                    dict(result.undo) or {},
                    revert_at,
                    reversible=undoable,
                )
                return {
                    "outcome": str(result.outcome),
                    "target": target,
                    "connector": connector.name,
                    "message": result.message,
                    "action_id": action_id,
                    "revert_at": revert_at,
                }
            if existing.status in (ActionStatus.DONE, ActionStatus.REVERTED):
                data = existing.result or {}
                return {
                    "outcome": data.get("outcome", "done"),
                    "target": target,
                    "connector": existing.connector,
                    "message": data.get("message", ""),
                    "action_id": existing.id,
                }
            # "attempted" (a crash between call and record) or "failed": never repeated without a person.
            if existing.status is ActionStatus.ATTEMPTED:
                problem = (
                    f"soarbot stopped while running {spec.key} on {target}; the vendor may or may not have "
                    f"done it. Retry? ({connector.name} checks the current state first)"
                )
            else:
                error = (existing.result or {}).get("error", "unknown error")
                problem = f"{spec.key} on {target} failed: {error}. Retry?"
            # A retry of containment must be a person's decision: never let a timeout approve it.
            resolve = (policy or Approval()).model_copy(update={"on_timeout": "deny"})
            row = await self.approvals.ensure(
                run,
                f"{key}#resolve{attempt}",
                resolve,
                action=f"retry {spec.key}",
                target=target,
                reason=problem,
                message=problem,
            )
            if row.status is ApprovalStatus.PENDING:
                raise Waiting
            if row.outcome is not Decision.APPROVE:
                return {"outcome": "failed", "target": target, "error": problem, "given_up_by": row.decided_by}
            attempt += 1

    async def _finish(
        self,
        run: runs_store.RunRow,
        key: str,
        status: ActionStatus,
        result: dict[str, Any],
        undo: dict[str, Any] | None,
        revert_at: str | None,
        *,
        reversible: bool = False,
    ) -> int:
        now = self.services.now()

        def job(conn: Any) -> int:
            runs_store.finish_action_tx(conn, key, status, result, now, undo=undo, revert_at=revert_at)
            row = runs_store.action_by_key_tx(conn, key)
            assert row is not None
            if run.case_id is not None:
                # reversible: whether the action has a registered inverse; chat offers Undo when it also changed
                # something.
                kind = ActionFinished if status is ActionStatus.DONE else ActionFailed
                event = kind(row.id, row.action, row.target, row.connector, status, result, revert_at, reversible)
                append_event_tx(conn, run.case_id, event, ACTOR, now)
            return row.id

        return await self.services.db.write(job)

    async def undo(self, action_id: int, user: str) -> Reply:
        """Reverse an action (the Undo button); responders and leads only, and only once."""
        services = self.services
        action = await runs_store.get_action(services.db.reader, action_id)
        if action is None:
            return Reply(f"There is no action #{action_id}.")
        if not (services.access.has_role(user, "responder") or services.access.has_role(user, "lead")):
            await services.record(
                action.case_id, UnauthorizedAttempt(user=user, action_id=action_id, decision="undo"), actor=user
            )
            return Reply("You are not allowed to undo containment actions. Nothing was changed.")
        if action.status is not ActionStatus.DONE:
            return Reply(f"Action #{action_id} is {action.status}; there is nothing to undo.")
        return Reply(await self.revert(action, actor=user), True)

    async def revert_due(self, now: str) -> None:
        """Undo every action whose TTL has run out by ``now`` (and retry undos that failed earlier)."""
        for action in await runs_store.due_reverts(self.services.db.reader, now):
            message = await self.revert(action, actor="soarbot (TTL expired)")
            logger.info("TTL undo of action %s: %s", action.id, message)

    async def revert(self, action: runs_store.ActionRow, *, actor: str) -> str:
        """Call the inverse of ``action`` once; say what happened."""
        services = self.services
        inverse = self.registry.inverse_of(action.action)
        connector = None if inverse is None else inverse.connector(services.responders)
        if inverse is None or connector is None:
            return f"Action #{action.id} cannot be undone here."
        # Claim first (compare-and-set), so a click and the TTL timer cannot both call the vendor.
        if not await services.db.write(partial(runs_store.claim_revert_tx, action_id=action.id)):
            return f"Action #{action.id} was already undone."
        call = ActionCall(
            action.target,
            reason=f"undo of action {action.id} by {actor}",
            idempotency_key=f"undo:{action.idempotency_key}",
            undo=action.undo or {},
        )
        try:
            result = await inverse.handler(connector, call)
        except Exception as err:  # noqa: BLE001 - a failed undo is reported and retried later, never lost
            failures = int((action.result or {}).get("revert_failures", 0)) + 1
            retry_at = format_time(
                services.clock() + min(timedelta(hours=24), timedelta(minutes=15) * 2 ** (failures - 1))
            )
            await services.db.write(partial(runs_store.release_revert_tx, action_id=action.id, retry_at=retry_at))
            reason = str(err) if isinstance(err, ConnectorError) else f"internal error: {err.__class__.__name__}"
            await services.record(
                action.case_id, ActionRevertFailed(action_id=action.id, error=reason, next_try=retry_at)
            )
            return f"Undo of action #{action.id} failed: {reason}"
        now = services.now()

        def job(conn: Any) -> bool:
            changed = runs_store.mark_reverted_tx(conn, action.id, result.to_dict(), now)
            if changed and action.case_id is not None:
                reverted = ActionReverted(action.id, action.action, action.target, by=actor, result=result.to_dict())
                append_event_tx(conn, action.case_id, reverted, actor, now)
            return changed

        await services.db.write(job)
        return f"Undone: {result.action} {action.target}."
