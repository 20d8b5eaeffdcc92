"""Registries: a new action and a new step kind, registered from here, load and run with no edit to the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from bot.core.models import ObservableKind
from bot.core.ports import ActionOutcome, ActionResult, Responders
from bot.store import runs as runs_store
from playbooks.engine.context import StepContext
from playbooks.engine.loader import LoadedPlaybook, PlaybookInvalid, Registries, load_text
from playbooks.engine.registry import (
    ActionCall,
    ActionRegistry,
    ActionSpec,
    ApprovalRule,
    StepKind,
    builtin_actions,
)
from playbooks.engine.steps import builtin_steps
from tests.playbooks.conftest import Env, build, malicious_ip_alert

SENDER = "phisher@example.net"


@dataclass
class RecordingMail:
    """A mail-security connector that records quarantine and release calls."""

    name: str = "fake-mail"
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    async def check(self) -> str:
        return "ok"

    async def quarantine(self, sender: str, *, reason: str, idempotency_key: str) -> ActionResult:
        self.calls.append(("quarantine", sender, idempotency_key))
        return ActionResult(self.name, "quarantine", sender, ActionOutcome.DONE, "3 messages", undo={"batch": "b1"})

    async def release(self, sender: str, *, undo: Mapping[str, Any]) -> ActionResult:
        self.calls.append(("release", sender, str(undo.get("batch"))))
        return ActionResult(self.name, "release", sender, ActionOutcome.DONE, "released")


def mail_actions(mail: RecordingMail) -> ActionRegistry:
    """The built-in actions plus mail quarantine (approval required) and its inverse."""

    def lookup(responders: Responders) -> RecordingMail:
        return mail

    async def quarantine(connector: RecordingMail, call: ActionCall) -> ActionResult:
        return await connector.quarantine(call.target, reason=call.reason, idempotency_key=call.idempotency_key)

    async def release(connector: RecordingMail, call: ActionCall) -> ActionResult:
        return await connector.release(call.target, undo=call.undo)

    registry = builtin_actions()
    registry.register(
        ActionSpec(
            "mail.quarantine_message",
            "mail",
            ObservableKind.EMAIL,
            lookup,
            quarantine,
            approval=ApprovalRule.REQUIRED,
            inverse="mail.release_message",
        )
    )
    registry.action("mail.release_message", capability="mail", target=ObservableKind.EMAIL, connector=lookup)(release)
    return registry


class EchoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    tags: list[str] = []


async def echo(args: EchoArgs, ctx: StepContext) -> dict[str, Any]:
    return ctx.rendered(args)


PLAYBOOK = f"""
name: quarantine-phish
trigger:
  min_severity: high
steps:
  - id: say
    echo:
      text: case {{{{ case.id }}}} from {{{{ alert.source }}}}
      tags:
        - "{{{{ alert.severity }}}}"
  - id: quarantine
    action:
      action: mail.quarantine_message
      target: {SENDER}
  - id: each
    for_each: steps.say.tags
    when: steps.quarantine.outcome == "done"
    echo:
      text: "{{{{ item }}}} after {{{{ steps.quarantine.outcome }}}}"
  - id: never
    when: "false"
    echo:
      text: not run
"""


async def test_a_registered_action_and_step_kind_run_through_the_engine(tmp_path: Path) -> None:
    mail = RecordingMail()
    steps = builtin_steps()
    steps.register(StepKind("echo", EchoArgs, echo))
    actions = mail_actions(mail)
    loaded = LoadedPlaybook(load_text(PLAYBOOK, "quarantine.yaml", Registries(steps, actions)), "quarantine.yaml")
    env: Env = await build(tmp_path, playbooks=[loaded], actions=actions, steps=steps)
    try:
        outcome = await env.alert(malicious_ip_alert())
        case_id = outcome.case_id or 0
        [request] = await env.pending()  # approval is required by the registration, not by the YAML
        assert (request.action, request.target) == ("mail.quarantine_message", SENDER)
        assert mail.calls == []

        await env.engine.vote(request.id, "U001", "approve")
        await env.engine.idle()
        again = await env.engine.vote(request.id, "U002", "approve")
        await env.engine.idle()
        assert "already approved" in again.text

        [call] = mail.calls  # exactly one connector call
        assert call[:2] == ("quarantine", SENDER)
        [run] = await runs_store.case_runs(env.db.reader, case_id)
        assert run.status == "completed"
        done = await runs_store.steps(env.db.reader, run.id)
        assert done["say"].result == {"text": f"case {case_id} from splunk", "tags": ["high"]}
        assert done["quarantine"].result["outcome"] == "done"
        assert done["quarantine"].result["approved_by"] == "U001"
        assert done["each"].result == [{"text": "high after done", "tags": []}]
        assert done["never"].status == "skipped"

        # The registered inverse is the Undo.
        [finished] = await env.events(case_id, "action_finished")
        assert finished["action"] == "mail.quarantine_message" and finished["reversible"] is True
        reply = await env.engine.undo(finished["action_id"], "U005")
        assert reply.text.startswith("Undone")
        assert mail.calls[1] == ("release", SENDER, "b1")
    finally:
        await env.aclose()


def test_an_unknown_action_key_is_a_load_error_naming_file_line_and_known_keys() -> None:
    text = f"""
name: t
steps:
  - id: quarantine
    action:
      action: mail.quarantine_message
      target: {SENDER}
"""
    with pytest.raises(PlaybookInvalid) as caught:
        load_text(text, "t.yaml")  # the built-in registries know no mail action
    [problem] = caught.value.problems
    assert problem.startswith("t.yaml:6: steps.0.action.action: unknown action 'mail.quarantine_message'")
    assert "firewall.block_ip" in problem


def test_an_unknown_step_kind_is_a_load_error_naming_file_line_and_known_kinds() -> None:
    text = """
name: t
steps:
  - id: say
    echo:
      text: hello
"""
    with pytest.raises(PlaybookInvalid) as caught:
        load_text(text, "t.yaml")
    [problem] = caught.value.problems
    assert problem.startswith("t.yaml:5: steps.0.echo: unknown key")
    assert "enrich" in problem and "parallel" in problem


def test_a_registered_step_kind_validates_its_own_arguments() -> None:
    steps = builtin_steps()
    steps.register(StepKind("echo", EchoArgs, echo))
    text = """
name: t
steps:
  - id: say
    echo:
      txet: hello
"""
    with pytest.raises(PlaybookInvalid) as caught:
        load_text(text, "t.yaml", Registries(steps, builtin_actions()))
    assert sorted(caught.value.problems) == [
        "t.yaml:5: steps.0.echo.text: field required",
        "t.yaml:6: steps.0.echo.txet: unknown key",
    ]


def test_an_action_that_never_waits_refuses_an_approval_block() -> None:
    mail = RecordingMail()
    actions = builtin_actions()

    @actions.action(
        "mail.tag_message",
        capability="mail",
        target=ObservableKind.EMAIL,
        connector=lambda responders: mail,
        approval=ApprovalRule.NEVER,
    )
    async def tag(connector: RecordingMail, call: ActionCall) -> ActionResult:
        return await connector.quarantine(call.target, reason=call.reason, idempotency_key=call.idempotency_key)

    text = f"""
name: t
steps:
  - id: tag
    action:
      action: mail.tag_message
      target: {SENDER}
      approval:
        roles: [responder]
"""
    with pytest.raises(PlaybookInvalid) as caught:
        load_text(text, "t.yaml", Registries(builtin_steps(), actions))
    [problem] = caught.value.problems
    assert "never waits for approval" in problem
