"""The run interpreter: match triggers, start runs, and advance them step by step, durably.

Every step's (and every ``for_each`` item's) outcome is stored before the run moves on, so a run resumes after
a restart from its last completed step. A run waiting for a decision holds no task: a decision, an expiry or a
restart advances it again. What a step does comes from the step-kind registry; this module only knows the
shared step fields (``when``, ``for_each``, ``retry``, ``timeout``, ``on_error``) and ``parallel`` groups.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from bot.cases import IngestOutcome
from bot.core.errors import BotError, PlaybookError
from bot.core.events import PlaybookFinished, PlaybookStarted, StepFinished
from bot.core.models import Alert, AlertStatus, Case, RunStatus, StepStatus, format_time
from bot.store import runs as runs_store
from bot.store.cases import append_event_tx
from playbooks.engine import expressions
from playbooks.engine.actions import ActionService
from playbooks.engine.approval_service import ApprovalService
from playbooks.engine.context import ACTOR, Services, StepContext, StepFailed, Stop, Waiting
from playbooks.engine.models import Playbook, Step
from playbooks.engine.registry import StepKind, StepRegistry

logger = logging.getLogger(__name__)


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


@dataclass(slots=True)
class _RunState:
    run: runs_store.RunRow
    playbook: Playbook
    context: dict[str, Any]
    done: dict[str, runs_store.StepRow]
    errors: dict[str, str] = field(default_factory=dict)


class Interpreter:
    """Starts runs for matching alerts and advances them (one advance per run at a time)."""

    def __init__(
        self,
        services: Services,
        playbooks: Mapping[str, Playbook],
        steps: StepRegistry,
        approvals: ApprovalService,
        actions: ActionService,
    ) -> None:
        self.services = services
        self.playbooks = playbooks
        self.steps = steps
        self.approvals = approvals
        self.actions = actions
        self._per_alert = any(p.trigger.on == "alert" for p in playbooks.values())
        self._locks: dict[int, asyncio.Lock] = {}

    # --- starting -----------------------------------------------------------------------------------------

    async def resume_all(self) -> None:
        """Advance, in the background, every run a stop or crash interrupted."""
        # Waiting runs too: a decision may have been taken (or an attempt interrupted) just before the stop.
        for status in (RunStatus.RUNNING, RunStatus.WAITING):
            for run in await runs_store.runs_with_status(self.services.db.reader, status):
                self.resume(run.id, name=f"resume-run-{run.id}")

    def resume(self, run_id: int, *, name: str | None = None) -> None:
        """Advance ``run_id`` in the background (after a decision, an expiry or a restart)."""
        self.services.tasks.spawn(self.advance(run_id), name=name or f"advance-run-{run_id}")

    def busy(self) -> bool:
        """True while some run is being advanced."""
        return any(lock.locked() for lock in self._locks.values())

    def on_ingested(self, alerts: Sequence[Alert], outcomes: Sequence[IngestOutcome]) -> None:
        """Intake hook: start matching playbooks for newly stored alerts (in the background)."""
        for alert, outcome in zip(alerts, outcomes, strict=True):
            if outcome.duplicate or alert.status is not AlertStatus.FIRING or outcome.case_id is None:
                continue
            # An alert that joins an open case can only start playbooks that trigger on every alert.
            if outcome.opened or self._per_alert:
                self.services.tasks.spawn(self.trigger(alert, outcome), name=f"trigger-alert-{outcome.alert_id}")

    async def trigger(self, alert: Alert, outcome: IngestOutcome, *, requester: str = ACTOR) -> list[int]:
        """Start every playbook whose trigger matches; return the new run ids."""
        cases = self.services.cases
        case = await cases.get(outcome.case_id) if outcome.case_id is not None else None
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
            run_id = await self.services.db.write(
                partial(_create_run_tx, playbook, outcome, key, context, requester, self.services.now())
            )
            if run_id is not None:
                started.append(run_id)
                await self.advance(run_id)
        return started

    # --- running ------------------------------------------------------------------------------------------

    async def advance(self, run_id: int) -> str:
        """Run ``run_id`` as far as it can go; return its status (one advance per run at a time)."""
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        async with lock:
            return await self._advance(run_id)

    async def _advance(self, run_id: int) -> str:
        db = self.services.db
        run = await runs_store.get_run(db.reader, run_id)
        if run is None or run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return run.status if run else "missing"
        playbook = self.playbooks.get(run.playbook)
        if playbook is None:
            await self._finish(run, RunStatus.FAILED, f"playbook {run.playbook!r} is no longer loaded")
            return RunStatus.FAILED
        done = await runs_store.steps(db.reader, run_id)
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
            except Waiting:
                if run.status is not RunStatus.WAITING:
                    await db.write(
                        partial(
                            runs_store.set_run_status_tx,
                            run_id=run_id,
                            status=RunStatus.WAITING,
                            now=self.services.now(),
                        )
                    )
                return RunStatus.WAITING
            except Stop as stop:
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
        """Store the run's end; its playbook_finished event is what chat shows (a failure card included)."""
        now = self.services.now()

        def job(conn: Any) -> None:
            runs_store.set_run_status_tx(conn, run.id, status, now, error)
            if run.case_id is not None:
                finished = PlaybookFinished(run.id, run.playbook, status, error, note)
                append_event_tx(conn, run.case_id, finished, ACTOR, now)

        await self.services.db.write(job)

    async def _run_step(self, state: _RunState, step: Step) -> StepStatus:
        """Run one step (all its items); return ``succeeded``, ``failed`` or ``skipped``; raise Waiting."""
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
        if step.parallel is not None:
            return await self._run_parallel(state, step, step.parallel)

        kind = self.steps.get(step.kind)
        if kind is None:  # the loader checks kinds; this is a playbook loaded against another registry
            raise PlaybookError(f"step kind {step.kind!r} is not registered")
        if step.for_each is None:
            result, failed = await self._run_item(state, step, kind, step.id, state.context)
        else:
            items = await self._items(state, step)
            results: list[Any] = []
            waiting = False
            failed = False
            for n, item in enumerate(items):
                try:
                    item_result, item_failed = await self._run_item(
                        state, step, kind, f"{step.id}[{n}]", {**state.context, "item": item}
                    )
                except Waiting:
                    waiting = True  # ask for every item's decision at once, then wait
                    continue
                results.append(item_result)
                failed = failed or item_failed
            if waiting:
                raise Waiting
            result = results
        status = StepStatus.FAILED if failed else StepStatus.SUCCEEDED
        await self._store_step(state, step.id, status, result, error=state.errors.get(step.id))
        state.context["steps"][step.id] = result
        self._after_step(state, step, result)
        return status

    async def _run_parallel(self, state: _RunState, step: Step, inner: list[Step]) -> StepStatus:
        outcomes = await asyncio.gather(*(self._run_step(state, s) for s in inner), return_exceptions=True)
        if any(isinstance(o, Waiting) for o in outcomes):
            raise Waiting
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        status = StepStatus.FAILED if StepStatus.FAILED in outcomes else StepStatus.SUCCEEDED
        group = {s.id: state.context["steps"].get(s.id) for s in inner}
        await self._store_step(state, step.id, status, group)
        state.context["steps"][step.id] = group
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
        kind = self.steps.get(step.kind) if step.parallel is None else None
        if kind is not None and kind.on_result is not None:
            kind.on_result(result, state.context)

    async def _run_item(
        self, state: _RunState, step: Step, kind: StepKind[Any], key: str, context: dict[str, Any]
    ) -> tuple[Any, bool]:
        """Run one execution of a step with its retry policy; return ``(result, failed)``."""
        stored = state.done.get(key)
        if key != step.id and stored is not None and stored.status in (StepStatus.SUCCEEDED, StepStatus.FAILED):
            return stored.result, stored.status is StepStatus.FAILED
        ctx = StepContext(state.run, step.id, key, context, self.services, self.approvals, self.actions)
        if kind.gated:
            # Gates and containment never retry on their own; their own state machines ask people.
            try:
                result, failed = await kind.handler(step.args, ctx), False
            except StepFailed as err:
                result, failed = err.result, True
            except Stop as stop:
                if stop.result is not None:
                    await self._store_step(state, key, StepStatus.SUCCEEDED, stop.result)
                raise
        else:
            result, failed = None, True
            for attempt in range(step.retry.attempts):
                try:
                    async with asyncio.timeout(step.timeout.total_seconds()):
                        result, failed = await kind.handler(step.args, ctx), False
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
        now = self.services.now()
        run = state.run

        def job(conn: Any) -> None:
            runs_store.put_step_tx(conn, run.id, key, status, result, now, error=error)
            if run.case_id is not None and "#" not in key:
                finished = StepFinished(run_id=run.id, step=key, status=status, error=error)
                append_event_tx(conn, run.case_id, finished, ACTOR, now)

        await self.services.db.write(job)
        state.done[key] = runs_store.StepRow(key, status, orjson.loads(orjson.dumps(result, default=str)), 1, error)


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
