"""The engine: start runs for matching alerts, advance them durably, decide approvals, keep the timers.

Durability rules:
- Every step's (and every for_each item's) outcome is stored before the run moves on, so a run resumes after a
  restart from its last completed step. A run waiting for a decision holds no task: a decision, an expiry or
  a restart advances it again.
- A containment action is recorded as *attempted* (with a unique idempotency key) before the vendor is called
  and *done* or *failed* after. Nothing calls the vendor for a key that is already done. An attempt whose
  outcome was never recorded (a crash mid-call), or that failed, is never repeated by itself: a responder is
  asked, from chat, whether to retry (the connectors check the vendor's state first) or give up.
- Timers are rows with a due time (approval expiry and reminders, automatic undo of blocks with a TTL), read by
  one loop, so they survive restarts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson

from bot.cases import CaseService, IngestOutcome
from bot.core.errors import BotError, ConnectorError, PlaybookError
from bot.core.events import (
    ActionAttempted,
    ActionFailed,
    ActionFinished,
    ActionReverted,
    ActionRevertFailed,
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalExpired,
    ApprovalReminder,
    ApprovalRequested,
    EventPayload,
    IncidentDeclared,
    Notified,
    PlaybookFinished,
    PlaybookStarted,
    StepFinished,
    TicketCreated,
    UnauthorizedAttempt,
    VoteRecorded,
)
from bot.core.models import (
    ActionStatus,
    Alert,
    AlertStatus,
    ApprovalStatus,
    Case,
    CaseStatus,
    Decision,
    Observable,
    RunStatus,
    StepStatus,
    format_time,
    utcnow,
)
from bot.core.ports import (
    ActionOutcome,
    ButtonAction,
    ButtonClicked,
    Card,
    ContainmentKind,
    Responders,
)
from bot.core.tasks import TaskSupervisor
from bot.enrichment import EnrichmentService
from bot.incidents import IncidentService
from bot.store import approvals as approvals_store
from bot.store import runs as runs_store
from bot.store.approvals import ApprovalRow
from bot.store.cases import append_event_tx
from bot.store.db import Database
from playbooks.engine import expressions
from playbooks.engine.approvals import (
    Access,
    Guardrails,
    escalation_level,
    first_reminder,
    may_decide,
    next_reminder,
    policy_dict,
)
from playbooks.engine.loader import LoadedPlaybook
from playbooks.engine.models import (
    ActionStep,
    Approval,
    EnrichStep,
    IncidentStep,
    NotifyStep,
    Playbook,
    SetStep,
    Step,
    TicketStep,
)

logger = logging.getLogger(__name__)

ACTOR = "soarbot"
_CAPABILITY = {
    "edr.contain_host": (ContainmentKind.EDR, "apply"),
    "edr.release_host": (ContainmentKind.EDR, "revert"),
    "identity.disable_user": (ContainmentKind.IDENTITY, "apply"),
    "identity.enable_user": (ContainmentKind.IDENTITY, "revert"),
    "firewall.block_ip": (ContainmentKind.FIREWALL, "apply"),
    "firewall.unblock_ip": (ContainmentKind.FIREWALL, "revert"),
}


class _Waiting(Exception):  # noqa: N818 - control flow, not an error
    """A step cannot finish until someone decides."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What to tell the person who clicked (only they see it)."""

    text: str
    changed: bool = False


def alert_context(alert: Alert, case: Case | None, alert_id: int | None) -> dict[str, Any]:
    """The template variables a run starts with (stored with the run, so a resume sees the same)."""
    try:
        raw = orjson.loads(alert.raw)
    except orjson.JSONDecodeError:
        raw = None
    return {
        "alert": {
            "id": alert_id,
            "source": alert.source,
            "format": alert.format,
            "external_id": alert.external_id,
            "title": alert.title,
            "description": alert.description,
            "severity": str(alert.severity),
            "rule": alert.rule,
            "time": format_time(alert.time),
            "link": alert.link,
            "status": str(alert.status),
            "raw": raw,
        },
        "case": None if case is None else {k: v for k, v in case.to_dict().items() if k != "fingerprint"},
        "observables": [o.to_dict() for o in alert.observables],
    }


def mismatches(playbook: Playbook, alert: Alert, outcome: IngestOutcome, context: Mapping[str, Any]) -> list[str]:
    """Why ``playbook``'s trigger does not accept this newly stored alert (empty when it does)."""
    trigger = playbook.trigger
    reasons = []
    if not playbook.enabled:
        reasons.append("the playbook is disabled")
    if alert.status is not AlertStatus.FIRING or outcome.duplicate:
        reasons.append("the alert is a resolve notice or a resend")
    if trigger.on == "case" and not outcome.opened:
        reasons.append("the alert joined an existing case (trigger.on is case)")
    if trigger.sources and alert.source not in trigger.sources:
        reasons.append(f"source {alert.source} is not in trigger.sources")
    if trigger.formats and alert.format not in trigger.formats:
        reasons.append(f"format {alert.format} is not in trigger.formats")
    if alert.severity.rank < trigger.min_severity.rank:
        reasons.append(f"severity {alert.severity} is below trigger.min_severity {trigger.min_severity}")
    fields = context["alert"]
    for key, wanted in trigger.match.items():
        value = str(fields.get(key) or "").lower()
        options = [wanted] if isinstance(wanted, str) else wanted
        if value not in {o.lower() for o in options}:
            reasons.append(f"trigger.match.{key}: {value!r} is not one of {options}")
    kinds = {o.kind for o in alert.observables}
    missing = [str(kind) for kind in trigger.observables if kind not in kinds]
    if missing:
        reasons.append(f"no indicator of kind {', '.join(missing)}")
    if not reasons and not expressions.truthy(trigger.when, context):
        reasons.append("trigger.when is false")
    return reasons


def matches(playbook: Playbook, alert: Alert, outcome: IngestOutcome, context: Mapping[str, Any]) -> bool:
    """True when ``playbook``'s trigger accepts this newly stored alert."""
    return not mismatches(playbook, alert, outcome, context)


class Engine:
    """Runs playbooks. Created by ``bot.app``; reaches vendors only through ``responders``."""

    def __init__(
        self,
        *,
        db: Database,
        cases: CaseService,
        enrichment: EnrichmentService,
        responders: Responders,
        playbooks: Sequence[LoadedPlaybook],
        access: Access | None = None,
        guardrails: Guardrails | None = None,
        incidents: IncidentService | None = None,
        tick_every: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.cases = cases
        self.enrichment = enrichment
        self.responders = responders
        self.playbooks = {p.playbook.name: p.playbook for p in playbooks}
        self._per_alert = any(p.trigger.on == "alert" for p in self.playbooks.values())
        self.access = access or Access()
        self.guardrails = guardrails or Guardrails()
        self.tasks = TaskSupervisor()
        self._tick_every = tick_every
        self._clock = clock
        self._locks: dict[int, asyncio.Lock] = {}
        self._timer: asyncio.Task[None] | None = None
        self.incidents = incidents  # opens real incident channels for create_incident steps, where a platform can

    # --- life cycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume runs interrupted by a stop or crash, and start the timer loop."""
        # Waiting runs too: a decision may have been taken (or an attempt interrupted) just before the stop.
        for status in (RunStatus.RUNNING, RunStatus.WAITING):
            for run in await runs_store.runs_with_status(self.db.reader, status):
                self.tasks.spawn(self.advance(run.id), name=f"resume-run-{run.id}")
        self._timer = asyncio.create_task(self._timers(), name="playbook-timers")

    async def aclose(self) -> None:
        """Stop the timer loop and in-flight runs (they resume at the next start)."""
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        await self.tasks.aclose()

    async def idle(self) -> None:
        """Wait until no run is being advanced (tests and the dry run use this)."""
        # Polling is fine here: this is for tests and the dry run, never the hot path.
        while len(self.tasks) or any(lock.locked() for lock in self._locks.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    def _now(self) -> str:
        return format_time(self._clock())

    # --- triggering ---------------------------------------------------------------------------------------

    def on_ingested(self, alerts: Sequence[Alert], outcomes: Sequence[IngestOutcome]) -> None:
        """Intake hook: start matching playbooks for newly stored alerts (in the background)."""
        for alert, outcome in zip(alerts, outcomes, strict=True):
            if outcome.duplicate or alert.status is not AlertStatus.FIRING or outcome.case_id is None:
                continue
            # An alert that joins an open case can only start playbooks that trigger on every alert.
            if outcome.opened or self._per_alert:
                self.tasks.spawn(self.trigger(alert, outcome), name=f"trigger-alert-{outcome.alert_id}")

    async def trigger(self, alert: Alert, outcome: IngestOutcome, *, requester: str = ACTOR) -> list[int]:
        """Start every playbook whose trigger matches; return the new run ids."""
        case = await self.cases.get(outcome.case_id) if outcome.case_id is not None else None
        context = alert_context(alert, case, outcome.alert_id)
        started = []
        for name, playbook in self.playbooks.items():
            try:
                if not matches(playbook, alert, outcome, context):
                    continue
            except PlaybookError as err:
                logger.warning("Playbook %s: trigger condition failed: %s", name, err)
                continue
            key = f"case:{outcome.case_id}" if playbook.trigger.on == "case" else f"alert:{outcome.alert_id}"
            run_id = await self.db.write(
                partial(self._create_run_tx, playbook, outcome, key, context, requester, self._now())
            )
            if run_id is not None:
                started.append(run_id)
                await self.advance(run_id)
        return started

    @staticmethod
    def _create_run_tx(
        playbook: Playbook,
        outcome: IngestOutcome,
        key: str,
        context: dict[str, Any],
        requester: str,
        now: str,
        conn: Any,
    ) -> int | None:
        run_id = runs_store.create_run_tx(
            conn,
            playbook=playbook.name,
            version=playbook.version,
            case_id=outcome.case_id,
            alert_id=outcome.alert_id,
            trigger_key=key,
            context=context,
            requester=requester,
            now=now,
        )
        if run_id is not None and outcome.case_id is not None:
            started = PlaybookStarted(run_id=run_id, playbook=playbook.name, version=playbook.version)
            append_event_tx(conn, outcome.case_id, started, ACTOR, now)
        return run_id

    # --- running ------------------------------------------------------------------------------------------

    async def advance(self, run_id: int) -> str:
        """Run ``run_id`` as far as it can go; return its status (one advance per run at a time)."""
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        async with lock:
            return await self._advance(run_id)

    async def _advance(self, run_id: int) -> str:
        run = await runs_store.get_run(self.db.reader, run_id)
        if run is None or run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return run.status if run else "missing"
        playbook = self.playbooks.get(run.playbook)
        if playbook is None:
            await self._finish(run, RunStatus.FAILED, f"playbook {run.playbook!r} is no longer loaded")
            return RunStatus.FAILED
        done = await runs_store.steps(self.db.reader, run_id)
        state = _RunState(run, playbook, dict(run.context), done)
        state.context["run"] = {"id": run.id, "playbook": run.playbook}
        state.context["steps"] = {}
        state.context.setdefault(
            "indicators", [{**o, "level": "unknown", "score": 0} for o in run.context["observables"]]
        )
        index = 0
        while index < len(playbook.steps):
            step = playbook.steps[index]
            try:
                status = await self._run_step(state, step)
            except _Waiting:
                if run.status is not RunStatus.WAITING:
                    await self.db.write(
                        partial(runs_store.set_run_status_tx, run_id=run_id, status=RunStatus.WAITING, now=self._now())
                    )
                return RunStatus.WAITING
            except _Stop as stop:
                await self._finish(run, RunStatus.COMPLETED, None, note=str(stop))
                return RunStatus.COMPLETED
            if status is StepStatus.FAILED:
                target = step.on_error
                if target == "continue":
                    index += 1
                    continue
                if target == "fail":
                    error = state.errors.get(step.id, "step failed")
                    await self._finish(run, RunStatus.FAILED, f"step {step.id}: {error}")
                    return RunStatus.FAILED
                jump = next(i for i, s in enumerate(playbook.steps) if s.id == target)
                if jump <= index:
                    await self._finish(run, RunStatus.FAILED, f"step {step.id}: on_error may only jump forward")
                    return RunStatus.FAILED
                index = jump
                continue
            index += 1
        await self._finish(run, RunStatus.COMPLETED, None)
        return RunStatus.COMPLETED

    async def _finish(
        self, run: runs_store.RunRow, status: RunStatus, error: str | None, *, note: str | None = None
    ) -> None:
        now = self._now()

        def job(conn: Any) -> None:
            runs_store.set_run_status_tx(conn, run.id, status, now, error)
            if run.case_id is not None:
                finished = PlaybookFinished(run.id, run.playbook, status, error, note)
                append_event_tx(conn, run.case_id, finished, ACTOR, now)

        await self.db.write(job)

    async def _run_step(self, state: _RunState, step: Step) -> StepStatus:
        """Run one step (all its items); return succeeded, failed or skipped; raise _Waiting."""
        stored = state.done.get(step.id)
        if stored is not None and stored.status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED):
            state.context["steps"][step.id] = stored.result
            if stored.status is StepStatus.FAILED:
                state.errors[step.id] = stored.error or "failed"
            self._after_step(state, step, stored.result)
            return stored.status
        if not expressions.truthy(step.when, state.context):
            await self._store_step(state, step.id, StepStatus.SKIPPED, None)
            state.context["steps"][step.id] = None
            return StepStatus.SKIPPED
        if step.kind == "parallel":
            outcomes = await asyncio.gather(
                *(self._run_step(state, inner) for inner in step.parallel or []), return_exceptions=True
            )
            if any(isinstance(o, _Waiting) for o in outcomes):
                raise _Waiting
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            status = StepStatus.FAILED if StepStatus.FAILED in outcomes else StepStatus.SUCCEEDED
            group = {inner.id: state.context["steps"].get(inner.id) for inner in step.parallel or []}
            await self._store_step(state, step.id, status, group)
            state.context["steps"][step.id] = group
            return status

        if step.for_each is None:
            result, failed = await self._run_item(state, step, step.id, state.context)
        else:
            items = await self._items(state, step)
            results: list[Any] = []
            waiting = False
            failed = False
            for n, item in enumerate(items):
                try:
                    item_result, item_failed = await self._run_item(
                        state, step, f"{step.id}[{n}]", {**state.context, "item": item}
                    )
                except _Waiting:
                    waiting = True  # ask for every item's decision at once, then wait
                    continue
                results.append(item_result)
                failed = failed or item_failed
            if waiting:
                raise _Waiting
            result = results
        status = StepStatus.FAILED if failed else StepStatus.SUCCEEDED
        await self._store_step(state, step.id, status, result, error=state.errors.get(step.id))
        state.context["steps"][step.id] = result
        self._after_step(state, step, result)
        return status

    async def _items(self, state: _RunState, step: Step) -> list[Any]:
        """Evaluate ``for_each`` once and keep the list, so a resumed run iterates over the same items."""
        key = f"{step.id}#items"
        if key in state.done:
            return list(state.done[key].result)
        value = expressions.evaluate(step.for_each or "[]", state.context)
        items = list(value) if isinstance(value, list | tuple) else [value]
        stable: list[Any] = orjson.loads(orjson.dumps(items, default=str))
        await self._store_step(state, key, StepStatus.SUCCEEDED, stable)
        return stable

    def _after_step(self, state: _RunState, step: Step, result: Any) -> None:
        if step.kind == "enrich" and isinstance(result, dict) and "indicators" in result:
            state.context["indicators"] = result["indicators"]

    async def _run_item(self, state: _RunState, step: Step, key: str, context: dict[str, Any]) -> tuple[Any, bool]:
        """Run one execution of a step with its retry policy; return ``(result, failed)``."""
        stored = state.done.get(key)
        if key != step.id and stored is not None and stored.status in (StepStatus.SUCCEEDED, StepStatus.FAILED):
            return stored.result, stored.status is StepStatus.FAILED
        if step.kind in ("action", "approval"):
            # Gates and containment never retry on their own; their own state machines ask people.
            result, failed = await self._gated(state, step, key, context)
        else:
            result, failed = None, True
            for attempt in range(step.retry.attempts):
                try:
                    async with asyncio.timeout(step.timeout.total_seconds()):
                        result, failed = await self._execute(state, step, context), False
                    break
                except (BotError, TimeoutError) as err:
                    message = str(err) or f"timed out after {step.timeout.total_seconds():g}s"
                except Exception as err:  # noqa: BLE001 - one bad step must not take the engine down
                    error_id = secrets.token_hex(4)
                    logger.exception("Step %s of run %s failed (error %s)", key, state.run.id, error_id)
                    message = f"internal error (id {error_id}): {err.__class__.__name__}"
                state.errors[step.id] = message
                result = {"error": message}
                if attempt + 1 < step.retry.attempts:
                    await asyncio.sleep(step.retry.backoff.total_seconds() * 2**attempt)
        if key != step.id:
            await self._store_step(
                state,
                key,
                StepStatus.FAILED if failed else StepStatus.SUCCEEDED,
                result,
                error=state.errors.get(step.id),
            )
        return result, failed

    async def _store_step(
        self, state: _RunState, key: str, status: StepStatus, result: Any, *, error: str | None = None
    ) -> None:
        now = self._now()
        run = state.run

        def job(conn: Any) -> None:
            runs_store.put_step_tx(conn, run.id, key, status, result, now, error=error)
            if run.case_id is not None and "#" not in key:
                finished = StepFinished(run_id=run.id, step=key, status=status, error=error)
                append_event_tx(conn, run.case_id, finished, ACTOR, now)

        await self.db.write(job)
        state.done[key] = runs_store.StepRow(key, status, orjson.loads(orjson.dumps(result, default=str)), 1, error)

    # --- step kinds ---------------------------------------------------------------------------------------

    async def _execute(self, state: _RunState, step: Step, context: dict[str, Any]) -> Any:
        run = state.run
        actor = f"playbook:{run.playbook}"
        if step.enrich is not None:
            return await self._enrich(step.enrich, context)
        if step.set is not None:
            return await self._set(step.set, _case_id(run), actor, context)
        if step.notify is not None:
            return await self._notify(step.notify, run.case_id, actor, context)
        if step.create_incident is not None:
            return await self._incident(step.create_incident, _case_id(run), actor, context)
        if step.ticket is not None:
            return await self._ticket(step.ticket, run, step.id, actor, context)
        if step.close is not None:
            reason = expressions.render(step.close.reason, context)
            await self.cases.update(_case_id(run), actor=actor, status=CaseStatus.CLOSED, reason=reason)
            return {"closed": True, "reason": reason}
        raise PlaybookError(f"step kind {step.kind} cannot run here")

    async def _enrich(self, args: EnrichStep, context: dict[str, Any]) -> dict[str, Any]:
        source = expressions.evaluate(args.indicators, context) if args.indicators else context["observables"]
        observables = [Observable.from_dict(o) for o in source]
        reports = await self.enrichment.enrich(observables, refresh=args.refresh)
        indicators = [
            {
                **r.observable.to_dict(),
                "level": str(r.level),
                "score": r.score,
                "sources": [v.source for v in r.verdicts],
                "failures": [f.source for f in r.failures],
            }
            for r in reports
        ]
        return {"indicators": indicators}

    async def _set(self, args: SetStep, case_id: int, actor: str, context: dict[str, Any]) -> dict[str, Any]:
        changed = await self.cases.update(
            case_id,
            actor=actor,
            status=CaseStatus(args.status) if args.status else None,
            severity=args.severity,
            assignee=expressions.render(args.assignee, context) if args.assignee else None,
            tags=[expressions.render(t, context) for t in args.tags],
        )
        return {"changed": changed}

    async def _notify(self, args: NotifyStep, case_id: int | None, actor: str, context: dict[str, Any]) -> Any:
        card = Card(
            title=expressions.render(args.title or "{{ case.title }}", context),
            text=expressions.render(args.text, context),
        )
        if case_id is not None:
            await self.cases.record(case_id, Notified(to=args.to, title=card.title, text=card.text), actor)
        return {"notified": args.to}

    async def _incident(self, args: IncidentStep, case_id: int, actor: str, context: dict[str, Any]) -> Any:
        title = expressions.render(args.title, context)
        if self.incidents is not None:
            existing = await self.incidents.get(case_id)
            if existing is not None and existing.channel:
                return {
                    "declared": False,
                    "channel": existing.channel,
                    "title": existing.title,
                    "reason": "an incident was already declared for this case",
                }
            incident = await self.incidents.declare(title=title, actor=actor, case_id=case_id, severity=args.severity)
            return {"declared": True, "channel": incident.channel, "title": incident.title}
        # No chat platform that can open channels: record the declaration; the channel can follow from chat.
        await self.cases.update(
            case_id, actor=actor, severity=args.severity, status=CaseStatus.TRIAGE, reason="incident declared"
        )
        await self.cases.record(case_id, IncidentDeclared(title=title), actor)
        return {"declared": True, "title": title}

    async def _ticket(
        self, args: TicketStep, run: runs_store.RunRow, step_id: str, actor: str, context: dict[str, Any]
    ) -> Any:
        ticketing = self.responders.ticketing
        if ticketing is None:
            raise PlaybookError("no ticketing connector is configured")
        case = context.get("case") or {}
        result = await ticketing.create_ticket(
            title=expressions.render(args.title, context)[:255],
            description=expressions.render(args.description, context),
            severity=str(case.get("severity", "medium")),
            labels=tuple(args.labels),
            idempotency_key=f"run:{run.id}:{step_id}",
        )
        if run.case_id is not None:
            await self.cases.record(run.case_id, TicketCreated.from_result(result), actor)
        return result.to_dict()

    async def _gated(self, state: _RunState, step: Step, key: str, context: dict[str, Any]) -> tuple[Any, bool]:
        """Approval steps and action steps: the decision, then (for actions) the attempt."""
        run = state.run
        if step.kind == "approval":
            policy = step.approval
            assert policy is not None
            message = expressions.render(policy.message or f"Continue playbook {run.playbook}?", context)
            row = await self._ensure_approval(
                run, key, policy, action="continue playbook", target=run.playbook, reason=message, message=message
            )
            if row.status is ApprovalStatus.PENDING:
                raise _Waiting
            result = {
                "approved": row.outcome is Decision.APPROVE,
                "status": row.status,
                "by": row.decided_by,
                "at": None if row.decided_at is None else format_time(row.decided_at),
                "reason": row.decision_reason,
            }
            if row.outcome is not Decision.APPROVE:
                await self._store_step(state, key, StepStatus.SUCCEEDED, result)
                raise _Stop(f"stopped at {step.id}: {row.status} by {row.decided_by}")
            return result, False

        args = step.action
        assert args is not None
        target = expressions.render(args.target, context).strip()
        reason = expressions.render(args.reason, context)
        if not target:
            return {"outcome": "skipped", "error": "empty target"}, False
        approved_by = None
        if args.approval is not None:
            message = expressions.render(args.approval.message or f"{args.action} {target}?", context)
            row = await self._ensure_approval(
                run, key, args.approval, action=args.action, target=target, reason=reason, message=message
            )
            if row.status is ApprovalStatus.PENDING:
                raise _Waiting
            if row.outcome is not Decision.APPROVE:
                outcome = "expired" if row.status is ApprovalStatus.EXPIRED else "denied"
                return {
                    "outcome": outcome,
                    "target": target,
                    "by": row.decided_by,
                    "reason": row.decision_reason,
                }, False
            approved_by = row.decided_by
        result = await self._act(run, key, args, target, reason, args.approval)
        result["approved_by"] = approved_by
        return result, result["outcome"] == "failed"

    async def _act(
        self, run: runs_store.RunRow, key: str, args: ActionStep, target: str, reason: str, policy: Approval | None
    ) -> dict[str, Any]:
        """Perform a containment action exactly once; failures and interrupted attempts go to a human."""
        capability, verb = _CAPABILITY[args.action]
        connector = self.responders.containment.get(capability)
        if connector is None:
            return {"outcome": "failed", "target": target, "error": f"no {capability} connector is configured"}
        attempt = 0
        while True:
            action_key = f"run:{run.id}:{key}" + (f"#{attempt}" if attempt else "")
            now = self._now()
            existing = await self.db.write(
                partial(
                    runs_store.begin_action_tx,
                    key=action_key,
                    run_id=run.id,
                    step_key=key,
                    case_id=run.case_id,
                    action=args.action,
                    connector=connector.name,
                    target=target,
                    now=now,
                )
            )
            if existing is None:
                await self._record(
                    run.case_id,
                    ActionAttempted(action=args.action, target=target, connector=connector.name, key=action_key),
                )
                try:
                    if verb == "apply":
                        result = await connector.apply(target, reason=reason, idempotency_key=action_key)
                    else:
                        result = await connector.revert(target, reason=reason, undo={})
                except ConnectorError as err:
                    await self._finish_action(run, action_key, ActionStatus.FAILED, {"error": str(err)}, None, None)
                    continue  # the stored failure now goes to the resolution below
                except Exception as err:  # noqa: BLE001 - an unexpected failure is still a failure a person resolves
                    error_id = secrets.token_hex(4)
                    logger.exception("Action %s on %s failed unexpectedly (error %s)", args.action, target, error_id)
                    error = f"internal error (id {error_id}): {err.__class__.__name__}"
                    await self._finish_action(run, action_key, ActionStatus.FAILED, {"error": error}, None, None)
                    continue
                revert_at = None
                if args.ttl is not None and verb == "apply" and result.outcome is not ActionOutcome.ALREADY:
                    revert_at = format_time(self._clock() + args.ttl)
                action_id = await self._finish_action(
                    run,
                    action_key,
                    ActionStatus.DONE,
                    result.to_dict(),
                    dict(result.undo) or {},
                    revert_at,
                    verb == "apply",
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
                    f"soarbot stopped while running {args.action} on {target}; the vendor may or may not have "
                    f"done it. Retry? ({connector.name} checks the current state first)"
                )
            else:
                error = (existing.result or {}).get("error", "unknown error")
                problem = f"{args.action} on {target} failed: {error}. Retry?"
            # A retry of containment must be a person's decision: never let a timeout approve it.
            resolve = (policy or Approval()).model_copy(update={"on_timeout": "deny"})
            row = await self._ensure_approval(
                run,
                f"{key}#resolve{attempt}",
                resolve,
                action=f"retry {args.action}",
                target=target,
                reason=problem,
                message=problem,
            )
            if row.status is ApprovalStatus.PENDING:
                raise _Waiting
            if row.outcome is not Decision.APPROVE:
                return {"outcome": "failed", "target": target, "error": problem, "given_up_by": row.decided_by}
            attempt += 1

    async def _finish_action(
        self,
        run: runs_store.RunRow,
        key: str,
        status: ActionStatus,
        result: dict[str, Any],
        undo: dict[str, Any] | None,
        revert_at: str | None,
        reversible: bool = False,
    ) -> int:
        now = self._now()

        def job(conn: Any) -> int:
            runs_store.finish_action_tx(conn, key, status, result, now, undo=undo, revert_at=revert_at)
            row = runs_store.action_by_key_tx(conn, key)
            assert row is not None
            if run.case_id is not None:
                kind = ActionFinished if status is ActionStatus.DONE else ActionFailed
                event = kind(row.id, row.action, row.target, row.connector, status, result, revert_at, reversible)
                append_event_tx(conn, run.case_id, event, ACTOR, now)
            return row.id

        return await self.db.write(job)

    # --- approvals ----------------------------------------------------------------------------------------

    async def _ensure_approval(
        self,
        run: runs_store.RunRow,
        key: str,
        policy: Approval,
        *,
        action: str,
        target: str,
        reason: str,
        message: str,
    ) -> ApprovalRow:
        """The approval for ``key``: created (and its card posted) the first time, read back afterwards."""
        existing = await approvals_store.for_step(self.db.reader, run.id, key)
        if existing is not None:
            return existing
        created = self._clock()
        critical = self.guardrails.is_critical(target)
        required = max(policy.min_approvals, self.guardrails.min_approvals if critical else 1)
        now = format_time(created)

        def job(conn: Any) -> tuple[ApprovalRow, bool]:
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
                    required=required,
                    critical=critical,
                    roles=tuple(policy.roles),
                    users=tuple(policy.users),
                    expires_at=format_time(row.expires_at),
                    requester=run.requester,
                )
                append_event_tx(conn, run.case_id, requested, ACTOR, now)
            return row, new

        row, _ = await self.db.write(job)
        return row

    async def click(self, event: ButtonClicked) -> Reply:
        """Handle a button press from any chat platform."""
        try:
            ident = int(event.value)
        except ValueError:
            return Reply("That button is not valid any more.")
        if event.action in (ButtonAction.APPROVE, ButtonAction.DENY):
            decision = Decision.APPROVE if event.action == ButtonAction.APPROVE else Decision.DENY
            return await self.vote(ident, event.user, decision, event.reason)
        if event.action == ButtonAction.UNDO:
            return await self.undo(ident, event.user)
        return Reply("Unknown button.")

    async def vote(self, approval_id: int, user: str, decision: Decision, reason: str | None = None) -> Reply:
        """Record ``user``'s approve/deny; decide once enough approvals (or one deny) are in."""
        decision = Decision(decision)  # the plain word from an untyped caller (a test, a script) compares as the enum
        row = await approvals_store.get(self.db.reader, approval_id)
        if row is None:
            return Reply(f"There is no approval request #{approval_id}.")
        if row.status is not ApprovalStatus.PENDING:
            return Reply(_already(row))
        if not may_decide(user, row, self.access):
            await self._record(
                row.case_id, UnauthorizedAttempt(user=user, approval_id=row.id, decision=decision), actor=user
            )
            return Reply(
                f"You are not allowed to decide request #{row.id} (it needs role "
                f"{', '.join(row.policy.get('roles', [])) or 'a named approver'}). Nothing was changed."
            )
        if user == row.requester:
            return Reply("You asked for this action, so someone else has to approve it.")
        moment = self._clock()
        now = format_time(moment)

        def job(conn: Any) -> tuple[str, ApprovalRow | None, list[str]]:
            current = approvals_store.get_tx(conn, approval_id)
            assert current is not None
            if current.status is not ApprovalStatus.PENDING:
                return "decided", current, []
            if current.expires_at <= moment:  # the timer has not run yet; the request is over all the same
                outcome = Decision(current.policy.get("on_timeout", Decision.DENY))
                approvals_store.decide_tx(
                    conn, approval_id, ApprovalStatus.EXPIRED, outcome, "soarbot (expired)", now, None
                )
                if current.case_id is not None:
                    expired = ApprovalExpired(approval_id, outcome, current.action, current.target)
                    append_event_tx(conn, current.case_id, expired, ACTOR, now)
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

        state, decided, approvals = await self.db.write(job)
        if state == "decided" and decided is not None:
            return Reply(_already(decided))
        if state == "expired" and decided is not None:
            if decided.run_id is not None:
                self.tasks.spawn(self.advance(decided.run_id), name=f"advance-run-{decided.run_id}")
            return Reply(_already(decided))
        if state == "repeat":
            return Reply(f"You already voted on request #{approval_id} ({len(approvals)} of {row.required} approvals).")
        if state == "counted":
            return Reply(f"Recorded: {len(approvals)} of {row.required} approvals for request #{approval_id}.", True)
        assert decided is not None
        if decided.run_id is not None:
            self.tasks.spawn(self.advance(decided.run_id), name=f"advance-run-{decided.run_id}")
        return Reply(f"Request #{approval_id} {decided.status}.", True)

    async def undo(self, action_id: int, user: str) -> Reply:
        """Reverse a containment action (the Undo button); responders only, and only once."""
        action = await runs_store.get_action(self.db.reader, action_id)
        if action is None:
            return Reply(f"There is no action #{action_id}.")
        if not (self.access.has_role(user, "responder") or self.access.has_role(user, "lead")):
            await self._record(
                action.case_id, UnauthorizedAttempt(user=user, action_id=action_id, decision="undo"), actor=user
            )
            return Reply("You are not allowed to undo containment actions. Nothing was changed.")
        if action.status is not ActionStatus.DONE:
            return Reply(f"Action #{action_id} is {action.status}; there is nothing to undo.")
        return Reply(await self._revert(action, actor=user), True)

    async def _revert(self, action: runs_store.ActionRow, *, actor: str) -> str:
        capability, verb = _CAPABILITY[action.action]
        connector = self.responders.containment.get(capability)
        if connector is None or verb != "apply":
            return f"Action #{action.id} cannot be undone here."
        # Claim first (compare-and-set), so a click and the TTL timer cannot both call the vendor.
        if not await self.db.write(partial(runs_store.claim_revert_tx, action_id=action.id)):
            return f"Action #{action.id} was already undone."
        try:
            result = await connector.revert(
                action.target, reason=f"undo of action {action.id} by {actor}", undo=action.undo or {}
            )
        except Exception as err:  # noqa: BLE001 - a failed undo is reported and retried later, never lost
            failures = int((action.result or {}).get("revert_failures", 0)) + 1
            retry_at = format_time(
                self._clock() + min(timedelta(hours=24), timedelta(minutes=15) * 2 ** (failures - 1))
            )
            await self.db.write(partial(runs_store.release_revert_tx, action_id=action.id, retry_at=retry_at))
            reason = str(err) if isinstance(err, ConnectorError) else f"internal error: {err.__class__.__name__}"
            await self._record(action.case_id, ActionRevertFailed(action_id=action.id, error=reason, next_try=retry_at))
            return f"Undo of action #{action.id} failed: {reason}"
        now = self._now()

        def job(conn: Any) -> bool:
            changed = runs_store.mark_reverted_tx(conn, action.id, result.to_dict(), now)
            if changed and action.case_id is not None:
                reverted = ActionReverted(action.id, action.action, action.target, by=actor, result=result.to_dict())
                append_event_tx(conn, action.case_id, reverted, actor, now)
            return changed

        await self.db.write(job)
        return f"Undone: {result.action} {action.target}."

    # --- timers -------------------------------------------------------------------------------------------

    async def _timers(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the timer loop must survive a bad tick
                logger.exception("Playbook timer tick failed")
            await asyncio.sleep(self._tick_every)

    async def tick(self) -> None:
        """Expire, remind and escalate approvals; undo actions whose TTL ran out."""
        moment = self._clock()
        now = format_time(moment)
        for row in await approvals_store.due(self.db.reader, now):
            if row.expires_at <= moment:
                await self._expire(row, now)
            else:
                await self._remind(row, moment)
        for action in await runs_store.due_reverts(self.db.reader, now):
            message = await self._revert(action, actor="soarbot (TTL expired)")
            logger.info("TTL undo of action %s: %s", action.id, message)

    async def _expire(self, row: ApprovalRow, now: str) -> None:
        outcome = Decision(row.policy.get("on_timeout", Decision.DENY))

        def job(conn: Any) -> bool:
            if not approvals_store.decide_tx(
                conn, row.id, ApprovalStatus.EXPIRED, outcome, "soarbot (expired)", now, None
            ):
                return False
            if row.case_id is not None:
                expired = ApprovalExpired(row.id, outcome, row.action, row.target)
                append_event_tx(conn, row.case_id, expired, ACTOR, now)
            return True

        if await self.db.write(job) and row.run_id is not None:
            self.tasks.spawn(self.advance(row.run_id), name=f"advance-run-{row.run_id}")

    async def _remind(self, row: ApprovalRow, moment: datetime) -> None:
        level = max(row.escalation_level, escalation_level(row, moment))
        updated = ApprovalRow(**{**_fields(row), "escalation_level": level})
        following = next_reminder(updated, moment)
        await self.db.write(
            partial(approvals_store.reschedule_tx, approval_id=row.id, remind_at=following, escalation_level=level)
        )
        escalated = level > row.escalation_level
        if escalated:
            added = row.policy["escalate"][row.escalation_level : level]
            roles = tuple(sorted({r for step in added for r in step.get("roles", ())}))
            users = tuple(sorted({u for step in added for u in step.get("users", ())}))
            await self._record(
                row.case_id, ApprovalEscalated(row.id, level, row.message, format_time(row.expires_at), roles, users)
            )
        else:
            await self._record(row.case_id, ApprovalReminder(row.id, level, row.message, format_time(row.expires_at)))

    # --- helpers ------------------------------------------------------------------------------------------

    async def _record(self, case_id: int | None, event: EventPayload, *, actor: str = ACTOR) -> None:
        if case_id is not None:
            await self.cases.record(case_id, event, actor)


class _Stop(Exception):  # noqa: N818 - control flow
    """A gate said no: the run ends here, without failing."""


@dataclass(slots=True)
class _RunState:
    run: runs_store.RunRow
    playbook: Playbook
    context: dict[str, Any]
    done: dict[str, runs_store.StepRow]
    errors: dict[str, str] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.errors = {}


def _case_id(run: runs_store.RunRow) -> int:
    if run.case_id is None:
        raise PlaybookError("this step needs a case, and the run has none")
    return run.case_id


def _fields(row: ApprovalRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def _already(row: ApprovalRow) -> str:
    verb = {"approved": "approved", "denied": "denied", "expired": "expired"}.get(row.status, row.status)
    at = None if row.decided_at is None else format_time(row.decided_at)
    return f"Request #{row.id} was already {verb} by {row.decided_by} at {at}. Nothing was changed."
