"""The ``Engine`` facade: one object for ``bot.app``, commands and tests, wiring the engine's parts together.

The parts, each in its own module:

- ``interpreter``: trigger matching and the durable step-by-step run (``when``, ``for_each``, ``parallel``,
  retries, ``on_error``);
- ``steps`` and ``registry``: what steps and actions exist (registries built by ``builtin_steps()`` and
  ``builtin_actions()``, extendable without touching the interpreter);
- ``actions``: exactly-once actions, resolutions of failed or interrupted attempts, undo (button and TTL);
- ``approval_service``: approval requests, votes, compare-and-set decisions, expiry, reminders, escalation;
- ``timers``: the loop that drives expiry, reminders and due undos.

Nothing here talks to chat: every change is a timeline event written in the same transaction, and the chat
outbox renders cards from those events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.cases import CaseService, IngestOutcome
from bot.core.models import Alert, Decision, utcnow
from bot.core.ports import ButtonClicked, Responders
from bot.core.tasks import TaskSupervisor
from bot.enrichment import EnrichmentService
from bot.incidents import IncidentService
from bot.store.tx import UnitOfWork
from playbooks.engine.actions import ActionService
from playbooks.engine.approval_service import ApprovalService
from playbooks.engine.approvals import Access, Guardrails
from playbooks.engine.context import ACTOR, Reply, Services
from playbooks.engine.interpreter import Interpreter, alert_context, matches, mismatches
from playbooks.engine.loader import LoadedPlaybook
from playbooks.engine.models import Playbook
from playbooks.engine.registry import ActionRegistry, StepRegistry, builtin_actions
from playbooks.engine.steps import builtin_steps
from playbooks.engine.timers import Timers

__all__ = ["ACTOR", "Engine", "Reply", "alert_context", "matches", "mismatches"]


class Engine:
    """Runs playbooks. Created by ``bot.app``; reaches vendors only through ``responders`` and the registries."""

    def __init__(
        self,
        *,
        db: UnitOfWork,
        cases: CaseService,
        enrichment: EnrichmentService,
        responders: Responders,
        playbooks: Sequence[LoadedPlaybook],
        access: Access | None = None,
        guardrails: Guardrails | None = None,
        incidents: IncidentService | None = None,
        actions: ActionRegistry | None = None,
        steps: StepRegistry | None = None,
        tick_every: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.services = Services(
            db=db,
            cases=cases,
            enrichment=enrichment,
            responders=responders,
            access=access or Access(),
            guardrails=guardrails or Guardrails(),
            clock=clock,
            tasks=TaskSupervisor(),
            incidents=incidents,
        )
        self.playbooks: dict[str, Playbook] = {p.playbook.name: p.playbook for p in playbooks}
        # Pass the same registries the playbooks were loaded with: the loader validated against them.
        self.action_registry = actions if actions is not None else builtin_actions()
        self.step_registry = steps if steps is not None else builtin_steps()
        self.approvals = ApprovalService(self.services, on_decided=self._resume, undo=self._undo)
        self.actions = ActionService(self.services, self.action_registry, self.approvals)
        self.interpreter = Interpreter(self.services, self.playbooks, self.step_registry, self.approvals, self.actions)
        self.timers = Timers(self.services, self.approvals, self.actions, every=tick_every)

    # --- what other code reads (and bot.app refreshes) ------------------------------------------------------

    @property
    def db(self) -> UnitOfWork:
        """The store."""
        return self.services.db

    @property
    def cases(self) -> CaseService:
        """The case service."""
        return self.services.cases

    @property
    def enrichment(self) -> EnrichmentService:
        """The enrichment service the enrich step uses."""
        return self.services.enrichment

    @property
    def responders(self) -> Responders:
        """The configured response connectors."""
        return self.services.responders

    @property
    def tasks(self) -> TaskSupervisor:
        """The runs being advanced in the background."""
        return self.services.tasks

    @property
    def access(self) -> Access:
        """Who holds which role."""
        return self.services.access

    @access.setter
    def access(self, value: Access) -> None:
        # bot.app refreshes this when chat user groups change; every part reads it through Services.
        self.services.access = value

    @property
    def guardrails(self) -> Guardrails:
        """The critical-asset guardrails."""
        return self.services.guardrails

    @property
    def incidents(self) -> IncidentService | None:
        """The incident service ``create_incident`` steps use (None: record the declaration only)."""
        return self.services.incidents

    @incidents.setter
    def incidents(self, value: IncidentService | None) -> None:
        # bot.app can only build the incident service after the engine (the command router needs both).
        self.services.incidents = value

    # --- life cycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume runs interrupted by a stop or crash, and start the timer loop."""
        await self.interpreter.resume_all()
        self.timers.start()

    async def aclose(self) -> None:
        """Stop the timer loop and in-flight runs (they resume at the next start)."""
        await self.timers.aclose()
        await self.services.tasks.aclose()

    async def idle(self) -> None:
        """Wait until no run is being advanced (tests and the dry run use this)."""
        # Polling is fine here: this is for tests and the dry run, never the hot path.
        while len(self.services.tasks) or self.interpreter.busy():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    # --- runs ---------------------------------------------------------------------------------------------

    def on_ingested(self, alerts: Sequence[Alert], outcomes: Sequence[IngestOutcome]) -> None:
        """Intake hook: start matching playbooks for newly stored alerts (in the background)."""
        self.interpreter.on_ingested(alerts, outcomes)

    async def trigger(self, alert: Alert, outcome: IngestOutcome, *, requester: str = ACTOR) -> list[int]:
        """Start every playbook whose trigger matches; return the new run ids."""
        return await self.interpreter.trigger(alert, outcome, requester=requester)

    async def advance(self, run_id: int) -> str:
        """Run ``run_id`` as far as it can go; return its status."""
        return await self.interpreter.advance(run_id)

    # --- people -------------------------------------------------------------------------------------------

    async def click(self, event: ButtonClicked) -> Reply:
        """Handle a button press from any chat platform."""
        return await self.approvals.click(event)

    async def vote(self, approval_id: int, user: str, decision: Decision, reason: str | None = None) -> Reply:
        """Record ``user``'s approve/deny; decide once enough approvals (or one deny) are in."""
        return await self.approvals.vote(approval_id, user, decision, reason)

    async def undo(self, action_id: int, user: str) -> Reply:
        """Reverse a containment action (the Undo button); responders only, and only once."""
        return await self.actions.undo(action_id, user)

    async def tick(self) -> None:
        """Expire, remind and escalate approvals; undo actions whose TTL ran out."""
        await self.timers.tick()

    def _resume(self, run_id: int) -> None:
        self.interpreter.resume(run_id)

    async def _undo(self, action_id: int, user: str) -> Reply:
        return await self.actions.undo(action_id, user)
