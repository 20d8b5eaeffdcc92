"""Two chat surfaces at once: Slack (against the fake Web API) and the neutral in-memory surface.

Each surface reads the same case events from its own cursor and delivers through its own outbox: an approval card
appears on both, a decision taken on either updates both, and one surface being down never holds the other.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from bot.app import App
from bot.chat.memory import MemoryChat, Sent
from bot.core.ports import ButtonAction, ButtonClicked
from tests.chat.test_slack_e2e import (
    BAD_IP,
    RESPONDER,
    SECRET,
    TOKEN,
    World,
    approval_message,
    button_value,
    eventually,
    post_event,
    vendors,
)
from tests.fakes import slack as fake_slack

MEMORY_ALERTS = "mem-alerts"


@asynccontextmanager
async def both(tmp_path: Path) -> AsyncIterator[tuple[App, World, MemoryChat]]:
    memory = MemoryChat(alerts_channel=MEMORY_ALERTS)
    async with vendors(tmp_path) as world:
        app = App(world.settings(messages_per_second=10), transports=[memory])
        await app.start()
        try:
            yield app, world, memory
        finally:
            await app.stop()


async def send_beacon(app: App, sid: str = "s-both", title: str = "Beacon to C2") -> None:
    body = {"sid": sid, "search_name": title, "result": {"src_ip": BAD_IP, "dest": "web-01"}}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
        assert (await http.post(f"/alerts/splunk?token={TOKEN}", json=body)).status_code == 202


def memory_approval(memory: MemoryChat) -> Sent | None:
    return next((m for m in memory.posted if [b.label for b in m.versions[0].buttons] == ["Approve", "Deny"]), None)


async def test_an_approval_shows_on_both_and_a_slack_decision_updates_both(tmp_path: Path) -> None:
    async with both(tmp_path) as (app, world, memory):
        await send_beacon(app)
        slack_card = await eventually(lambda: approval_message(world.slack, world.alerts))
        memory_card = await eventually(lambda: memory_approval(memory))
        approval_id = button_value(slack_card, "Approve")
        assert [b.value for b in memory_card.card.buttons] == [approval_id, approval_id]
        # The memory surface threads it under its own case card, exactly as Slack does under its own.
        [case_card] = [m for m in memory.in_channel(MEMORY_ALERTS) if m.card.title == "Beacon to C2"]
        assert memory_card.thread == case_card.id
        assert slack_card.thread_ts is not None

        click = fake_slack.block_actions(
            SECRET,
            user=RESPONDER,
            action_id="approval_approve",
            value=approval_id,
            channel=world.alerts,
            message_ts=slack_card.ts,
        )
        assert (await post_event(app, click)).status_code == 200
        await eventually(lambda: world.cf_state.creates == 1)
        await eventually(lambda: "Approved by U0RESPONDER" in memory_card.card.footer)
        assert memory_card.card.buttons == ()
        await eventually(
            lambda: any(
                "Approved by U0RESPONDER" in json.dumps(c.args.get("blocks")) for c in world.slack.calls("chat.update")
            )
        )
        # The action's result is shown on both, once each.
        undo = lambda: [m for m in memory.posted if [b.label for b in m.card.buttons] == ["Undo"]]  # noqa: E731
        [result] = await eventually(undo)
        assert result.card.title == f"block IP: {BAD_IP}" and result.thread == case_card.id
        assert world.cf_state.creates == 1


async def test_a_decision_on_the_other_surface_updates_slack(tmp_path: Path) -> None:
    async with both(tmp_path) as (app, world, memory):
        await send_beacon(app)
        memory_card = await eventually(lambda: memory_approval(memory))
        slack_card = await eventually(lambda: approval_message(world.slack, world.alerts))
        approval_id = memory_card.card.buttons[1].value
        reply = await app.router.dispatch(
            ButtonClicked(RESPONDER, ButtonAction.DENY, approval_id, reason="our own scanner")
        )
        assert reply is not None and reply.text == f"Request #{approval_id} denied."
        await eventually(
            lambda: any(
                "our own scanner" in json.dumps(c.args.get("blocks")) and c.args.get("ts") == slack_card.ts
                for c in world.slack.calls("chat.update")
            )
        )
        await eventually(lambda: "Denied by U0RESPONDER" in memory_card.card.footer)
        assert world.cf_state.creates == 0


async def test_one_surface_down_does_not_hold_the_other(tmp_path: Path) -> None:
    async with both(tmp_path) as (app, world, memory):
        memory.down = True
        await send_beacon(app, "s-1")
        # Slack shows the card and the approval while the other surface fails every call.
        await eventually(lambda: approval_message(world.slack, world.alerts))
        assert memory.posted == []
        # The other surface catches up once it is back: nothing was dropped.
        memory.down = False
        await eventually(lambda: memory_approval(memory), 20)

        # And the other way round: Slack answers 503 to every post, the memory surface goes on.
        world.slack.fail("chat.postMessage", status=503, json={"ok": False, "error": "service_unavailable"}, times=50)
        before = len(world.slack.calls("chat.postMessage"))
        await send_beacon(app, "s-2", "Second beacon")
        await eventually(lambda: [m for m in memory.posted if m.card.title == "Second beacon"])
        await eventually(lambda: len([m for m in memory.posted if m.card.title.startswith("Block ")]) == 2)
        successful = [
            c for c in world.slack.calls("chat.postMessage")[before:] if c.status == 200 and c.response.get("ok")
        ]
        assert successful == []
        # Slack comes back and gets what it missed: nothing was dropped on either side.
        world.slack.faults["chat.postMessage"].clear()
        await eventually(
            lambda: "Second beacon" in json.dumps([m.blocks for m in world.slack.posted(world.alerts)]), 30
        )
