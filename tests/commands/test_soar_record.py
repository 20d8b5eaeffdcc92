"""The conversation as the case record: messages, edits, deletions, highlights; each delivery written once."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.ports import MessagePosted, ReactionAdded
from tests.commands.conftest import ALERTS, BOT, Soar


async def incident_channel(soar: Soar) -> tuple[int, str]:
    await soar.run("R1", "incident declare Outage")
    [channel] = soar.chat.channels
    incident = await soar.router.incidents.for_channel(channel)
    assert incident is not None
    return incident.case_id, channel


def message(channel: str, text: str, *, event_id: str, kind: str = "posted", **kwargs: object) -> MessagePosted:
    fields: dict[str, object] = {
        "platform": "slack",
        "channel": channel,
        "user": "U500",
        "text": text,
        "message_id": "1700000000.000100",
        "event_id": event_id,
        "kind": kind,
        "permalink": f"https://example.slack.com/archives/{channel}/p1700000000000100",
    }
    fields.update(kwargs)
    return MessagePosted(**fields)  # type: ignore[arg-type]


async def chat_events(soar: Soar, case_id: int) -> list[tuple[str, str, dict[str, object]]]:
    return [
        (e.type, e.actor, dict(e.data))
        for e in await soar.timeline(case_id)
        if e.type.startswith("chat_") or e.type == "highlight"
    ]


async def test_messages_edits_and_deletions_are_new_events(soar: Soar) -> None:
    case_id, channel = await incident_channel(soar)
    assert await soar.router.dispatch(message(channel, "seeing logins from 203.0.113.9", event_id="Ev1")) is None
    await soar.router.dispatch(message(channel, "seeing logins from 203.0.113.10", event_id="Ev2", kind="edited"))
    await soar.router.dispatch(message(channel, "", event_id="Ev3", kind="deleted", permalink=None))

    events = await chat_events(soar, case_id)
    assert [(t, actor) for t, actor, _ in events] == [
        ("chat_message", "U500"),
        ("chat_message_edited", "U500"),
        ("chat_message_deleted", "U500"),
    ]
    original = events[0][2]
    assert original == {
        "platform": "slack",
        "channel": channel,
        "author": "U500",
        "ts": "1700000000.000100",
        "thread_ts": None,
        "permalink": f"https://example.slack.com/archives/{channel}/p1700000000000100",
        "text": "seeing logins from 203.0.113.9",
    }
    assert events[1][2]["text"] == "seeing logins from 203.0.113.10"
    assert events[2][2]["permalink"] is None
    await soar.verified(case_id)


async def test_pushpin_reactions_and_pins_are_highlights(soar: Soar) -> None:
    case_id, channel = await incident_channel(soar)
    await soar.router.dispatch(ReactionAdded("slack", channel, "U500", "pushpin", "1700000000.000100", "Ev10"))
    await soar.router.dispatch(ReactionAdded("slack", channel, "U501", "pin", "1700000000.000200", "Ev11"))
    await soar.router.dispatch(ReactionAdded("slack", channel, "U502", "thumbsup", "1700000000.000100", "Ev12"))
    events = await chat_events(soar, case_id)
    assert [(t, actor, d["message_ts"], d["via"]) for t, actor, d in events] == [
        ("highlight", "U500", "1700000000.000100", "reaction"),
        ("highlight", "U501", "1700000000.000200", "pin"),
    ]
    await soar.verified(case_id)


async def test_a_redelivered_event_is_written_once(soar: Soar) -> None:
    case_id, channel = await incident_channel(soar)
    for _ in range(3):
        await soar.router.dispatch(message(channel, "hello", event_id="EvSame"))
    await soar.router.dispatch(ReactionAdded("slack", channel, "U500", "pushpin", "1.1", "EvPin"))
    await soar.router.dispatch(ReactionAdded("slack", channel, "U500", "pushpin", "1.1", "EvPin"))
    types = [t for t, _, _ in await chat_events(soar, case_id)]
    assert types == ["chat_message", "highlight"]


async def test_concurrent_identical_deliveries_are_written_once(soar: Soar) -> None:
    case_id, channel = await incident_channel(soar)
    before = len(await soar.timeline(case_id))
    delivery = message(channel, "retry storm", event_id="EvStorm")
    results = await asyncio.gather(*(soar.router.dispatch(delivery) for _ in range(10)))
    assert results == [None] * 10
    events = await soar.timeline(case_id)
    assert len(events) == before + 1
    assert events[-1].type == "chat_message" and events[-1].data["text"] == "retry storm"
    await soar.verified(case_id)


async def test_the_same_event_id_on_another_platform_is_another_delivery(soar: Soar) -> None:
    case_id, channel = await incident_channel(soar)
    await soar.router.dispatch(message(channel, "one", event_id="E1"))
    await soar.router.dispatch(message(channel, "two", event_id="E1", platform="discord"))
    assert [d["text"] for _, _, d in await chat_events(soar, case_id)] == ["one", "two"]


async def test_deliveries_without_an_id_are_keyed_by_message(soar: Soar) -> None:
    case_id, channel = await incident_channel(soar)
    await soar.router.dispatch(message(channel, "a", event_id="", message_id="1.1"))
    await soar.router.dispatch(message(channel, "a", event_id="", message_id="1.1"))
    await soar.router.dispatch(message(channel, "b", event_id="", message_id="1.2"))
    await soar.router.dispatch(message(channel, "a!", event_id="", message_id="1.1", kind="edited"))
    await soar.router.dispatch(message(channel, "a!", event_id="", message_id="1.1", kind="edited"))
    await soar.router.dispatch(message(channel, "a!!", event_id="", message_id="1.1", kind="edited"))
    assert [(t, d["text"]) for t, _, d in await chat_events(soar, case_id)] == [
        ("chat_message", "a"),
        ("chat_message", "b"),
        ("chat_message_edited", "a!"),
        ("chat_message_edited", "a!!"),
    ]


async def test_the_bots_own_messages_are_not_recorded(soar: Soar) -> None:
    case_id, channel = await incident_channel(soar)
    await soar.router.dispatch(message(channel, "summary updated", event_id="EvBot", user=BOT))
    await soar.router.dispatch(ReactionAdded("slack", channel, BOT, "pushpin", "1.1", "EvBotPin"))
    assert await chat_events(soar, case_id) == []


async def test_messages_in_a_case_thread_are_recorded_on_that_case(soar: Soar) -> None:
    case_id = await soar.case()
    soar.threads[(ALERTS, "1699999999.000001")] = case_id
    await soar.router.dispatch(message(ALERTS, "I'll take this one", event_id="EvT", thread="1699999999.000001"))
    await soar.router.dispatch(ReactionAdded("slack", ALERTS, "U500", "pushpin", "1699999999.000001", "EvTP"))
    events = await chat_events(soar, case_id)
    assert [(t, d.get("thread_ts")) for t, _, d in events] == [
        ("chat_message", "1699999999.000001"),
        ("highlight", None),
    ]
    await soar.verified(case_id)


async def test_other_conversations_are_not_recorded(soar: Soar) -> None:
    case_id = await soar.case()
    before = await soar.types(case_id)
    await soar.router.dispatch(message("C-RANDOM", "lunch?", event_id="EvL"))
    await soar.router.dispatch(message(ALERTS, "unrelated thread", event_id="EvU", thread="123.456"))
    await soar.router.dispatch(ReactionAdded("slack", "C-RANDOM", "U500", "pushpin", "1.1", "EvR"))
    assert await soar.types(case_id) == before


async def test_tokens_pasted_in_the_channel_are_redacted_in_the_record(soar: Soar) -> None:
    case_id, channel = await incident_channel(soar)
    await soar.router.dispatch(message(channel, "use password=hunter2 and AKIAABCDEFGHIJKLMNOP", event_id="EvS"))
    [(_, _, data)] = await chat_events(soar, case_id)
    assert data["text"] == "use password=[redacted] and [redacted]"
    assert data["redacted"] is True


async def test_a_failure_while_recording_is_logged_and_answers_nothing(
    soar: Soar, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    case_id, channel = await incident_channel(soar)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(soar.router.incidents, "record_once", broken)
    assert await soar.router.dispatch(message(channel, "hello", event_id="EvX")) is None
    assert "Handling MessagePosted failed" in caplog.text
