"""What the engine's parts share: the services they reach, the control-flow signals, and a step's view of its run.

The interpreter, the action service, the approval service and the timers each get one ``Services``; it is
mutable on purpose, because ``bot.app`` refreshes ``access`` (user groups) and wires ``incidents`` after the
engine exists, and every part must see the change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from bot.cases import CaseService
from bot.core.errors import PlaybookError
from bot.core.events import EventPayload
from bot.core.models import format_time
from bot.core.ports import Responders
from bot.core.tasks import TaskSupervisor
from bot.enrichment import EnrichmentService
from bot.incidents import IncidentService
from bot.store.runs import RunRow
from bot.store.tx import UnitOfWork
from playbooks.engine import expressions
from playbooks.engine.approvals import Access, Guardrails

if TYPE_CHECKING:
    from playbooks.engine.actions import ActionService
    from playbooks.engine.approval_service import ApprovalService

ACTOR = "soarbot"
"""Who the timeline names for what the engine does by itself."""


class Waiting(Exception):  # noqa: N818 - control flow, not an error
    """A step cannot finish until someone decides."""


class Stop(Exception):  # noqa: N818 - control flow
    """A gate said no: the run ends here, without failing (``result`` is stored as the step's result)."""

    def __init__(self, note: str, *, result: Any = None) -> None:
        super().__init__(note)
        self.result = result


class StepFailed(PlaybookError):
    """A step failed with a result worth keeping (a gated step's outcome), not only an error message."""

    def __init__(self, message: str, *, result: Any) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True, slots=True)
class Reply:
    """What to tell the person who clicked (only they see it)."""

    text: str
    changed: bool = False


@dataclass(slots=True)
class Services:
    """Storage, the case service, connectors, policy and the clock, as every engine part sees them."""

    db: UnitOfWork
    cases: CaseService
    enrichment: EnrichmentService
    responders: Responders
    access: Access
    guardrails: Guardrails
    clock: Callable[[], datetime]
    tasks: TaskSupervisor
    incidents: IncidentService | None = None

    def now(self) -> str:
        """The current time in the stored format."""
        return format_time(self.clock())

    async def record(self, case_id: int | None, event: EventPayload, *, actor: str = ACTOR) -> None:
        """Append an event to the case timeline in its own transaction (nothing when there is no case)."""
        if case_id is not None:
            await self.cases.record(case_id, event, actor)


@dataclass(frozen=True, slots=True)
class StepContext:
    """One execution of one step (one ``for_each`` item): its run, its variables and the engine's services.

    ``key`` is the step id, or ``id[n]`` for the n-th item; gates and actions key their durable rows by it.
    """

    run: RunRow
    step_id: str
    key: str
    variables: dict[str, Any]
    services: Services
    approvals: ApprovalService
    actions: ActionService

    @property
    def actor(self) -> str:
        """Who the timeline names for what this step does."""
        return f"playbook:{self.run.playbook}"

    @property
    def case_id(self) -> int:
        """The run's case (raises ``PlaybookError`` for steps that need one when the run has none)."""
        if self.run.case_id is None:
            raise PlaybookError("this step needs a case, and the run has none")
        return self.run.case_id

    def render(self, template: str) -> str:
        """Render a template against the run's variables."""
        return expressions.render(template, self.variables)

    def evaluate(self, expression: str) -> Any:
        """Evaluate an expression against the run's variables."""
        return expressions.evaluate(expression, self.variables)

    def rendered(self, args: BaseModel) -> dict[str, Any]:
        """Every string in ``args`` rendered as a template (for kinds whose arguments are all templates)."""
        rendered: dict[str, Any] = _render_all(args.model_dump(mode="json"), self)
        return rendered


def _render_all(value: Any, ctx: StepContext) -> Any:
    if isinstance(value, str):
        return ctx.render(value)
    if isinstance(value, dict):
        return {k: _render_all(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_all(v, ctx) for v in value]
    return value
