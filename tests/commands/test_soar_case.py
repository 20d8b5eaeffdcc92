"""/soar case <id> [show | assign @user | note <text> | close <reason> | export]."""

from __future__ import annotations

import json

import pytest

from bot.core.models import CaseStatus
from tests.commands.conftest import Soar


async def test_show_is_the_default_and_lists_latest_events(soar: Soar) -> None:
    case_id = await soar.case()
    for text in (f"case {case_id}", f"case #{case_id} show", f"CASE {case_id} SHOW"):
        reply = await soar.run("V1", text)
        assert reply.card is not None, text
        assert not reply.public
        assert reply.card.title == f"Case #{case_id}: SSH brute force on web-01"
        assert ("Status", "new") in reply.card.fields
        assert ("Assignee", "nobody") in reply.card.fields
        assert "case_opened by source:splunk" in reply.card.text
        assert "alert_added" in reply.card.text


async def test_show_offers_the_incident_button_only_to_responders(soar: Soar) -> None:
    case_id = await soar.case()
    responder = await soar.run("R1", f"case {case_id} show")
    viewer = await soar.run("V1", f"case {case_id} show")
    assert responder.card is not None and viewer.card is not None
    assert [(b.action, b.value) for b in responder.card.buttons] == [("incident.open", str(case_id))]
    assert viewer.card.buttons == ()


async def test_assign_takes_a_mention_and_writes_one_event(soar: Soar) -> None:
    case_id = await soar.case()
    reply = await soar.run("R1", f"case {case_id} assign <@U777|bob>")
    assert reply.text == f"Case {case_id} is now assigned to U777."
    assert (await soar.env.cases.get(case_id)).assignee == "U777"
    again = await soar.run("L1", f"case {case_id} assign <@U777>")
    assert "already assigned" in again.text
    events = [e for e in await soar.timeline(case_id) if e.type == "assigned"]
    assert [(e.actor, e.data["to"]) for e in events] == [("R1", "U777")]
    await soar.verified(case_id)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("assign", "Missing the user to assign"),
        ("assign bob", "not a user mention"),
        ("assign <@U1> <@U2>", "Unexpected"),
    ],
)
async def test_assign_mistakes(soar: Soar, text: str, expected: str) -> None:
    case_id = await soar.case()
    reply = await soar.run("R1", f"case {case_id} {text}")
    assert expected in reply.text
    assert (await soar.env.cases.get(case_id)).assignee is None


async def test_note_keeps_the_text_as_typed(soar: Soar) -> None:
    case_id = await soar.case()
    reply = await soar.run("R2", f"case {case_id} note called  the owner;\nhost is a build box")
    assert reply.text == f"Note added to case {case_id}."
    [note] = [e for e in await soar.timeline(case_id) if e.type == "note_added"]
    assert note.actor == "R2"
    assert note.data == {"text": "called  the owner;\nhost is a build box"}
    await soar.verified(case_id)


async def test_note_never_stores_a_pasted_token(soar: Soar) -> None:
    case_id = await soar.case()
    await soar.run("R1", f"case {case_id} note the key was xoxb-1234567890-abcdefghij, rotated")
    [note] = [e for e in await soar.timeline(case_id) if e.type == "note_added"]
    assert "xoxb" not in note.data["text"]
    assert "[redacted]" in note.data["text"]


async def test_empty_note_is_a_mistake(soar: Soar) -> None:
    case_id = await soar.case()
    reply = await soar.run("R1", f"case {case_id} note")
    assert "Write the note after `note`" in reply.text
    assert "note_added" not in await soar.types(case_id)


async def test_close_needs_a_reason_and_closes_once(soar: Soar) -> None:
    case_id = await soar.case()
    missing = await soar.run("R1", f"case {case_id} close")
    assert "Say why" in missing.text
    assert (await soar.env.cases.get(case_id)).status is CaseStatus.NEW

    reply = await soar.run("R1", f"case {case_id} close false positive: scanner")
    assert reply.text == f"Case {case_id} is closed."
    assert (await soar.env.cases.get(case_id)).status is CaseStatus.CLOSED
    [change] = [e for e in await soar.timeline(case_id) if e.type == "status_changed"]
    assert change.data == {"from": "new", "to": "closed", "reason": "false positive: scanner"}
    assert change.actor == "R1"

    again = await soar.run("R1", f"case {case_id} close still nothing")
    assert again.text == f"Case {case_id} is already closed."
    assert (await soar.types(case_id)).count("status_changed") == 1
    await soar.verified(case_id)


async def test_export_shows_the_verified_record(soar: Soar) -> None:
    case_id = await soar.case()
    await soar.run("R1", f"case {case_id} note looked at it")
    reply = await soar.run("V1", f"case {case_id} export")
    header, _, body = reply.text.partition("\n")
    assert header == f"Case {case_id}: 1 alert(s), 3 timeline event(s); hash chain intact."
    exported = json.loads(body)
    assert exported["case"]["id"] == case_id
    assert [e["type"] for e in exported["timeline"]] == ["case_opened", "alert_added", "note_added"]


async def test_a_large_export_points_to_the_cli(soar: Soar) -> None:
    case_id = await soar.case()
    for n in range(30):
        await soar.run("R1", f"case {case_id} note observation number {n} with a little more text to fill it up")
    reply = await soar.run("V1", f"case {case_id} export")
    assert "too large for chat" in reply.text
    assert f"soarbot case export {case_id}" in reply.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("case", "Missing a case id"),
        ("case abc show", "Case ids are numbers"),
        ("case -3 show", "Case ids are numbers"),
        ("case 0", "Case ids are numbers"),
        ("case 99999999999999999999999 show", "Case ids are numbers"),
        ("case 99 show", "There is no case 99."),
        ("case 1 frobnicate", "Unknown case action `frobnicate`"),
        ("case 1 show everything", "Unexpected `everything`"),
    ],
)
async def test_mistakes_get_a_helpful_sentence(soar: Soar, text: str, expected: str) -> None:
    await soar.case()
    reply = await soar.run("R1", text)
    assert expected in reply.text
    assert "Traceback" not in reply.text
    assert reply.card is None
