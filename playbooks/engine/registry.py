"""What a playbook can do: the action registry (key → connector call and policy) and the step-kind registry.

Both are instances, never module globals: ``builtin_actions()`` and ``playbooks.engine.steps.builtin_steps()``
build the defaults, the composition root may add to them, and the same instances go to the loader (which
validates ``action:`` keys and step kinds against them) and to the ``Engine`` (which runs them). A new kind of
action is one ``ActionRegistry.register`` plus its connector; a new kind of step is one ``StepRegistry.register``;
neither touches the interpreter.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, create_model

from bot.core.models import ObservableKind
from bot.core.ports import ActionResult, Connector, Containment, ContainmentKind, Responders
from playbooks.engine.context import StepContext
from playbooks.engine.models import Playbook, Step

_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

C = TypeVar("C", bound=Connector)
A = TypeVar("A", bound=BaseModel)


# --- actions ----------------------------------------------------------------------------------------------


class ApprovalRule(StrEnum):
    """Whether an action waits for people before it runs."""

    REQUIRED = "required"  # always: a step without ``approval:`` gets the default policy (a responder, 4h)
    OPTIONAL = "optional"  # when the step says ``approval:``
    NEVER = "never"  # never; an ``approval:`` on the step is a load error

    @property
    def allows_policy(self) -> bool:
        """True when a step may give its own approval policy."""
        return self is not ApprovalRule.NEVER


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One call of an action handler.

    ``idempotency_key`` is unique per attempt (the vendor may use it to drop a repeat); ``undo`` is what the
    forward action returned, given to its inverse.
    """

    target: str
    reason: str
    idempotency_key: str
    undo: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionSpec(Generic[C]):
    """One registered action.

    Attributes:
        key: ``capability.verb_object``, what a playbook's ``action:`` names.
        capability: the connector capability it needs (``edr``, ``firewall``, ``mail``...), for messages.
        target: the kind of indicator it acts on.
        connector: picks the configured connector from the responders (None when none is configured).
        handler: performs the action with that connector; failures raise ``ConnectorError``.
        approval: whether it waits for people first.
        inverse: the key of the action that undoes it (Undo button, TTL); None when it cannot be undone.

    """

    key: str
    capability: str
    target: ObservableKind
    connector: Callable[[Responders], C | None]
    handler: Callable[[C, ActionCall], Awaitable[ActionResult]]
    approval: ApprovalRule = ApprovalRule.OPTIONAL
    inverse: str | None = None


class ActionRegistry:
    """Action key → ``ActionSpec``. Registration order is the order ``keys()`` lists them in."""

    def __init__(self) -> None:
        self._specs: dict[str, ActionSpec[Any]] = {}

    def register(self, spec: ActionSpec[C]) -> ActionSpec[C]:
        """Add one action (a key may be registered once)."""
        if not _KEY.match(spec.key):
            raise ValueError(f"action key {spec.key!r} is not capability.verb_object")
        if spec.key in self._specs:
            raise ValueError(f"action {spec.key!r} is already registered")
        self._specs[spec.key] = spec
        return spec

    def action(
        self,
        key: str,
        *,
        capability: str,
        target: ObservableKind,
        connector: Callable[[Responders], C | None],
        approval: ApprovalRule = ApprovalRule.OPTIONAL,
        inverse: str | None = None,
    ) -> Callable[
        [Callable[[C, ActionCall], Awaitable[ActionResult]]], Callable[[C, ActionCall], Awaitable[ActionResult]]
    ]:
        """Register the decorated handler under ``key`` (the decorator form of :meth:`register`)."""

        def decorate(
            handler: Callable[[C, ActionCall], Awaitable[ActionResult]],
        ) -> Callable[[C, ActionCall], Awaitable[ActionResult]]:
            self.register(ActionSpec(key, capability, target, connector, handler, approval, inverse))
            return handler

        return decorate

    def get(self, key: str) -> ActionSpec[Any] | None:
        """The action registered under ``key``."""
        return self._specs.get(key)

    def inverse_of(self, key: str) -> ActionSpec[Any] | None:
        """The action that undoes ``key``; None when it cannot be undone (or its inverse is not registered)."""
        spec = self._specs.get(key)
        return None if spec is None or spec.inverse is None else self._specs.get(spec.inverse)

    def keys(self) -> list[str]:
        """Every registered key."""
        return list(self._specs)

    def __contains__(self, key: object) -> bool:
        return key in self._specs


def containment(kind: ContainmentKind) -> Callable[[Responders], Containment | None]:
    """A connector lookup: the configured containment connector for ``kind``."""

    def lookup(responders: Responders) -> Containment | None:
        return responders.containment.get(kind)

    return lookup


async def contain(connector: Containment, call: ActionCall) -> ActionResult:
    """Contain / disable / block the target."""
    return await connector.apply(call.target, reason=call.reason, idempotency_key=call.idempotency_key)


async def release(connector: Containment, call: ActionCall) -> ActionResult:
    """Release / enable / unblock the target (with what the containing call returned, when it is an undo)."""
    return await connector.revert(call.target, reason=call.reason, undo=call.undo)


def builtin_actions() -> ActionRegistry:
    """The shipped containment actions; the vendor behind each is chosen by configuration."""
    registry = ActionRegistry()
    edr, identity, firewall = ContainmentKind.EDR, ContainmentKind.IDENTITY, ContainmentKind.FIREWALL
    for spec in (
        ActionSpec("edr.contain_host", edr, edr.target_kind, containment(edr), contain, inverse="edr.release_host"),
        ActionSpec("edr.release_host", edr, edr.target_kind, containment(edr), release),
        ActionSpec(
            "identity.disable_user",
            identity,
            identity.target_kind,
            containment(identity),
            contain,
            inverse="identity.enable_user",
        ),
        ActionSpec("identity.enable_user", identity, identity.target_kind, containment(identity), release),
        ActionSpec(
            "firewall.block_ip",
            firewall,
            firewall.target_kind,
            containment(firewall),
            contain,
            inverse="firewall.unblock_ip",
        ),
        ActionSpec("firewall.unblock_ip", firewall, firewall.target_kind, containment(firewall), release),
    ):
        registry.register(spec)
    return registry


# --- step kinds -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepKind(Generic[A]):
    """One registered kind of step.

    Attributes:
        name: the YAML key (``- id: x`` / ``  name: {...}``).
        args: the pydantic model its arguments are validated with at load time.
        handler: runs one execution; returns the step's result (JSON-able), raises ``BotError`` to fail.
        gated: waits for people (``Waiting``), so it gets no retry or timeout of its own (approvals, actions).
        expressions: argument fields that are expressions rather than templates (checked as such at load).
        on_result: updates the run's variables from a result (also when a resumed run reads it back).

    """

    name: str
    args: type[A]
    handler: Callable[[A, StepContext], Awaitable[Any]]
    gated: bool = False
    expressions: frozenset[str] = frozenset()
    on_result: Callable[[Any, dict[str, Any]], None] | None = None


class StepRegistry:
    """Step kind name → ``StepKind``; also builds the playbook model that parses them from YAML."""

    def __init__(self) -> None:
        self._kinds: dict[str, StepKind[Any]] = {}
        self._model: type[Playbook] | None = None

    def register(self, kind: StepKind[A]) -> StepKind[A]:
        """Add one step kind (a name may be registered once, and not shadow a field every step has)."""
        if not _KIND.match(kind.name):
            raise ValueError(f"step kind {kind.name!r} must be lower-case letters, digits and _")
        if kind.name in Step.model_fields or kind.name in self._kinds:
            raise ValueError(f"step kind {kind.name!r} is already taken")
        self._kinds[kind.name] = kind
        self._model = None
        return kind

    def step(
        self,
        name: str,
        args: type[A],
        *,
        gated: bool = False,
        expressions: Iterable[str] = (),
        on_result: Callable[[Any, dict[str, Any]], None] | None = None,
    ) -> Callable[[Callable[[A, StepContext], Awaitable[Any]]], Callable[[A, StepContext], Awaitable[Any]]]:
        """Register the decorated handler as step kind ``name`` (the decorator form of :meth:`register`)."""

        def decorate(
            handler: Callable[[A, StepContext], Awaitable[Any]],
        ) -> Callable[[A, StepContext], Awaitable[Any]]:
            self.register(StepKind(name, args, handler, gated, frozenset(expressions), on_result))
            return handler

        return decorate

    def get(self, name: str) -> StepKind[Any] | None:
        """The kind registered as ``name``."""
        return self._kinds.get(name)

    def names(self) -> list[str]:
        """Every registered kind, in registration order."""
        return list(self._kinds)

    def playbook_model(self) -> type[Playbook]:
        """The ``Playbook`` model whose steps accept exactly the registered kinds (and ``parallel``)."""
        if self._model is None:
            fields: dict[str, Any] = {name: (kind.args | None, None) for name, kind in self._kinds.items()}
            # A parallel group holds steps of this same model, hence the forward reference and the rebuild.
            fields["parallel"] = (list["Step"] | None, None)
            step: Any = create_model("Step", __base__=Step, **fields)
            step.kinds = (*self._kinds, "parallel")
            step.model_rebuild(_types_namespace={"Step": step})
            steps: Any = (list[step], Field(min_length=1))
            self._model = create_model("Playbook", __base__=Playbook, steps=steps)
        return self._model
