"""The playbook format, as pydantic models (validated once at load; the runner works on these).

A playbook is ``name``, ``description``, ``version``, a ``trigger`` and ``steps``. A step has an ``id`` and
exactly one kind key: ``parallel`` (a group of steps run at once) or a kind from the step registry (the built-ins
are ``enrich``, ``set``, ``notify``, ``approval``, ``action``, ``create_incident``, ``ticket`` and ``close``; see
``playbooks.engine.registry``). The models here hold what every step shares; the registry adds one optional
field per registered kind, so YAML errors keep their ``steps.0.kind.key`` path. Any step may carry ``when``
(a condition), ``for_each`` (a list to repeat over, each element as ``item``), ``retry``, ``timeout`` and ``on_error``
(``fail``, ``continue`` or the id of a step to jump to). Conditions and ``for_each`` are Jinja2 expressions;
other strings are Jinja2 templates; both run in the sandbox.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.core.models import ObservableKind, Severity, parse_duration

if TYPE_CHECKING:
    from playbooks.engine.registry import ActionRegistry

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ACTIONS_CONTEXT = "actions"
"""The validation-context key under which the loader passes the action registry to ``ActionStep``."""

_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Model):
    """Which alerts start the playbook. Every given condition must hold."""

    on: Literal["case", "alert"] = "case"
    sources: list[str] = []
    formats: list[str] = []
    min_severity: Severity = Severity.INFO
    match: dict[str, str | list[str]] = {}
    observables: list[ObservableKind] = []
    when: str | None = None


class Retry(_Model):
    """Retry a failing step: ``attempts`` in all, waiting ``backoff`` × 2ⁿ between them."""

    attempts: int = Field(default=1, ge=1, le=10)
    backoff: Duration = timedelta(seconds=5)


class Escalation(_Model):
    """After ``after`` without a decision, also ask these roles or users."""

    after: Duration
    roles: list[str] = []
    users: list[str] = []


class Approval(_Model):
    """Who must approve, how many, and what happens when nobody answers."""

    roles: list[str] = ["responder"]
    users: list[str] = []
    min_approvals: int = Field(default=1, ge=1, le=10)
    timeout: Duration = timedelta(hours=4)
    on_timeout: Literal["deny", "approve"] = "deny"
    remind_every: Duration | None = None
    escalate: list[Escalation] = []
    message: str | None = None


class EnrichStep(_Model):
    """Enrich the alert's indicators (or ``indicators``, an expression giving a list)."""

    indicators: str | None = None
    refresh: bool = False


class SetStep(_Model):
    """Change case fields."""

    severity: Severity | None = None
    status: Literal["new", "triage", "waiting", "contained", "closed"] | None = None
    assignee: str | None = None
    tags: list[str] = []

    @model_validator(mode="after")
    def _something(self) -> SetStep:
        if self.severity is None and self.status is None and self.assignee is None and not self.tags:
            raise ValueError("set needs at least one of severity, status, assignee, tags")
        return self


class NotifyStep(_Model):
    """Post a card: to a channel, or to the case's thread."""

    to: str = "case"
    title: str | None = None
    text: str


class ActionStep(_Model):
    """Request a registered action (``action``, a registry key) on ``target`` (a template)."""

    action: str
    target: str
    reason: str = "soarbot case {{ case.id }}: {{ alert.title }}"
    ttl: Duration | None = None
    approval: Approval | None = None

    @field_validator("action")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        registry = _actions(info)
        if value not in registry:
            raise ValueError(f"unknown action {value!r}; known: {', '.join(registry.keys())}")
        return value

    @model_validator(mode="after")
    def _approval_allowed(self, info: ValidationInfo) -> ActionStep:
        spec = _actions(info).get(self.action)
        if self.approval is not None and spec is not None and not spec.approval.allows_policy:
            raise ValueError(f"action {self.action} never waits for approval; remove approval")
        return self


def _actions(info: ValidationInfo) -> ActionRegistry:
    """The action registry the loader validates against (it passes one in the validation context)."""
    context = info.context or {}
    registry = context.get(ACTIONS_CONTEXT)
    if registry is None:
        raise ValueError("no action registry to check action keys against (load playbooks through the loader)")
    return registry  # type: ignore[no-any-return]


class IncidentStep(_Model):
    """Open an incident channel for the case."""

    title: str = "{{ case.title }}"
    severity: Severity | None = None


class TicketStep(_Model):
    """Open a ticket in the configured ticketing system."""

    title: str = "{{ case.title }}"
    description: str = "{{ alert.description }}"
    labels: list[str] = []


class CloseStep(_Model):
    """Close the case."""

    reason: str


class Step(_Model):
    """One step; exactly one kind key is set.

    This base knows only the structural kind ``parallel``; ``StepRegistry.playbook_model()`` derives the model
    that also has one optional field per registered kind (and lists them in ``kinds``).
    """

    kinds: ClassVar[tuple[str, ...]] = ("parallel",)

    id: str
    when: str | None = None
    for_each: str | None = None
    retry: Retry = Retry()
    timeout: Duration = timedelta(minutes=5)
    on_error: str = "fail"
    parallel: list[Step] | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("step id must be lower-case letters, digits and _, starting with a letter")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in self.kinds if getattr(self, k, None) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(f"a step needs exactly one of {', '.join(self.kinds)} (found: {found})")
        return self

    @property
    def kind(self) -> str:
        """Which kind of step this is."""
        return next(k for k in self.kinds if getattr(self, k, None) is not None)

    @property
    def args(self) -> Any:
        """The kind-specific part of the step (its registered args model, or the list of a parallel group)."""
        return getattr(self, self.kind)


class Playbook(_Model):
    """A whole playbook file."""

    name: str
    description: str = ""
    version: int = Field(default=1, ge=1)
    enabled: bool = True
    trigger: Trigger = Trigger()
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Playbook:
        ids: list[str] = []
        for step in self.all_steps():
            if step.id in ids:
                raise ValueError(f"step id {step.id!r} is used twice")
            ids.append(step.id)
        for step in self.all_steps():
            if step.on_error not in ("fail", "continue") and step.on_error not in ids:
                raise ValueError(f"step {step.id!r}: on_error names no step ({step.on_error!r})")
        return self

    def all_steps(self) -> list[Step]:
        """Every step, including those inside parallel groups, in order."""
        found: list[Step] = []
        for step in self.steps:
            found.append(step)
            found.extend(step.parallel or [])
        return found
