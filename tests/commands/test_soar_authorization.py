"""Every command and click is checked against access roles; a refusal is private and changes nothing else."""

from __future__ import annotations

import pytest

from bot.core.models import CaseStatus
from bot.core.ports import ButtonClicked
from tests.commands.conftest import Soar

ANY_ROLE = ["help", "enrich 8.8.8.8", "approvals", "digest"]
RESPONDER_ONLY = ["case {id} assign <@U9>", "case {id} note hi", "case {id} close done"]


@pytest.mark.parametrize("text", [*ANY_ROLE, "frobnicate", ""])
async def test_a_user_without_any_role_is_refused(soar: Soar, text: str) -> None:
    reply = await soar.run("NOBODY", text)
    assert "You have no soarbot role" in reply.text
    assert "Nothing was changed" in reply.text
    assert not reply.public and reply.card is None
    assert soar.env.intel.asked == []


@pytest.mark.parametrize("action", ["show", "export", "assign <@U9>", "note hi", "close done"])
async def test_a_refusal_on_a_case_is_recorded_there_and_nothing_else_changes(soar: Soar, action: str) -> None:
    case_id = await soar.case()
    before = await soar.env.cases.get(case_id)
    reply = await soar.run("NOBODY", f"case {case_id} {action}")
    assert "You have no soarbot role" in reply.text
    after = await soar.env.cases.get(case_id)
    assert (after.status, after.assignee, after.severity) == (before.status, before.assignee, before.severity)
    events = await soar.timeline(case_id)
    assert [e.type for e in events] == ["case_opened", "alert_added", "unauthorized_attempt"]
    attempt = events[-1]
    assert attempt.actor == "NOBODY"
    assert attempt.data["user"] == "NOBODY"
    assert attempt.data["command"] == f"case {action.split()[0]}"
    assert "hi" not in str(attempt.data) and "done" not in str(attempt.data)  # the refused text is not kept
    await soar.verified(case_id)


@pytest.mark.parametrize(
    "text", ["case 42 show", "case abc", "case 1 frobnicate", "incident declare X --severity bad", "approvals x"]
)
async def test_a_user_without_any_role_learns_nothing_about_cases_or_syntax(soar: Soar, text: str) -> None:
    await soar.case()
    reply = await soar.run("NOBODY", text)
    assert "You have no soarbot role, so you cannot run" in reply.text
    assert soar.chat.channels == {}


@pytest.mark.parametrize("template", RESPONDER_ONLY)
async def test_a_viewer_may_look_but_not_change(soar: Soar, template: str) -> None:
    case_id = await soar.case()
    assert (await soar.run("V1", f"case {case_id} show")).card is not None
    reply = await soar.run("V1", template.format(id=case_id))
    assert "needs the responder or lead role; you have viewer" in reply.text
    case = await soar.env.cases.get(case_id)
    assert case.status is CaseStatus.NEW and case.assignee is None
    assert (await soar.types(case_id))[-1] == "unauthorized_attempt"
    assert "note_added" not in await soar.types(case_id)


@pytest.mark.parametrize("user", ["R1", "L1"])
async def test_responders_and_leads_may_change_cases(soar: Soar, user: str) -> None:
    case_id = await soar.case()
    assert (await soar.run(user, f"case {case_id} note checked")).text == f"Note added to case {case_id}."
    assert "unauthorized_attempt" not in await soar.types(case_id)


async def test_viewers_cannot_touch_incidents(soar: Soar) -> None:
    case_id = await soar.case()
    refused = await soar.run("V1", "incident declare Outage")
    assert "needs the responder or lead role" in refused.text
    on_case = await soar.run("V1", f"incident declare Outage --case {case_id}")
    assert "needs the responder or lead role" in on_case.text
    assert soar.chat.channels == {}
    assert (await soar.types(case_id))[-1] == "unauthorized_attempt"
    assert len(await soar.env.cases.list_cases()) == 1  # no case was opened for the refused declaration


async def test_a_refused_incident_command_in_the_channel_is_recorded_on_its_case(soar: Soar) -> None:
    await soar.run("R1", "incident declare Outage")
    [channel] = soar.chat.channels
    incident = await soar.router.incidents.for_channel(channel)
    assert incident is not None
    reply = await soar.run("V1", "incident status all good", channel=channel)
    assert "needs the responder or lead role" in reply.text
    events = await soar.timeline(incident.case_id)
    assert events[-1].type == "unauthorized_attempt"
    assert events[-1].data["command"] == "incident status"
    assert "incident_status" not in [e.type for e in events]
    await soar.verified(incident.case_id)


async def test_the_incident_button_is_authorized_too(soar: Soar) -> None:
    case_id = await soar.case()
    reply = await soar.router.dispatch(ButtonClicked("V1", "incident.open", str(case_id)))
    assert reply is not None and "needs the responder or lead role" in reply.text
    assert soar.chat.channels == {}
    assert (await soar.types(case_id))[-1] == "unauthorized_attempt"


async def test_help_lists_only_what_the_caller_may_run(soar: Soar) -> None:
    viewer = (await soar.run("V1", "help")).text
    responder = (await soar.run("R1", "help")).text
    lead = (await soar.run("L1", "help")).text
    for line in ("enrich <indicators", "case <id> [show]", "case <id> export", "approvals", "digest", "help"):
        assert line in viewer
        assert line in responder
    for line in ("case <id> assign", "case <id> note", "case <id> close", "incident declare", "incident resolve"):
        assert line not in viewer
        assert line in responder
        assert line in lead


async def test_an_empty_command_is_help(soar: Soar) -> None:
    assert (await soar.run("V1", "")).text.startswith("Commands you can run:")
