"""End to end through Slack: alert in → card with verdicts → approval → one containment call → card updated.

Everything talks over loopback: soarbot's own HTTP server with Bolt at /slack/events, the fake Slack Web API,
the fake AbuseIPDB and the fake Cloudflare. Requests to /slack/events are signed as Slack signs them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App
from bot.settings import Settings, validate
from tests.fakes import abuseipdb, cloudflare
from tests.fakes import slack as fake_slack
from tests.fakes.server import serve

SECRET = "slack-signing-secret-123"
RESPONDER = "U0RESPONDER"
TOKEN = "splunk-token-123"
BAD_IP = "118.25.6.39"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def config(
    tmp_path: Path,
    slack: fake_slack.SlackState,
    alerts: str,
    *,
    abuse: str | None = None,
    cf: str | None = None,
    roles: dict[str, list[str]] | None = None,
    **chat: Any,
) -> dict[str, Any]:
    """The config document the end-to-end tests run with (vendors only when their fakes are given)."""
    connectors: dict[str, Any] = {"offline": {"warninglists": False}}
    if abuse is not None:
        connectors["abuseipdb"] = {"api_key": abuseipdb.GOOD_KEY, "base_url": f"{abuse}/api/v2"}
    if cf is not None:
        connectors["cloudflare"] = {
            "api_token": cloudflare.GOOD_TOKEN,
            "account_id": cloudflare.ACCOUNT_ID,
            "base_url": f"{cf}/client/v4",
        }
    slack_settings = {
        "bot_token": fake_slack.BOT_TOKEN,
        "signing_secret": SECRET,
        "api_url": slack.api_url,
        "alerts_channel": alerts,
        **chat,
    }
    return {
        "database": str(tmp_path / "soarbot.db"),
        "server": {"host": "127.0.0.1", "port": 0},
        "sources": {"splunk": {"format": "splunk", "token": TOKEN}, "gen": {"format": "generic", "token": TOKEN}},
        "access": {"roles": roles if roles is not None else {"responder": [RESPONDER]}},
        "connectors": connectors,
        "chat": {"slack": {k: v for k, v in slack_settings.items() if v is not None}},
    }


@dataclass
class World:
    """The fake Slack, AbuseIPDB and Cloudflare of one test, and the config that points soarbot at them."""

    tmp_path: Path
    slack: fake_slack.SlackState
    alerts: str
    abuse: str
    cf: str
    cf_state: cloudflare.State

    def settings(self, **overrides: Any) -> Settings:
        return validate(config(self.tmp_path, self.slack, self.alerts, abuse=self.abuse, cf=self.cf, **overrides))


@asynccontextmanager
async def vendors(tmp_path: Path, *, members: Sequence[str] = (RESPONDER,)) -> AsyncIterator[World]:
    cf_state = cloudflare.State()
    async with (
        fake_slack.slack_server() as slack,
        serve(abuseipdb.app()) as abuse,
        serve(cloudflare.app(cf_state)) as cf,
    ):
        alerts = slack.add_channel("soc-alerts", members=list(members))
        yield World(tmp_path, slack, alerts, abuse.url, cf.url, cf_state)


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[App]:
    app = App(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@asynccontextmanager
async def running(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[App, fake_slack.SlackState, str, Any]]:
    async with vendors(tmp_path) as world, started(world.settings(**{"messages_per_second": 5, **overrides})) as app:
        yield app, world.slack, world.alerts, world.cf_state


async def eventually(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def approval_message(slack: fake_slack.SlackState, channel: str) -> Any:
    for message in slack.posted(channel):
        if fake_slack.SlackState.button_texts(message) == ["Approve", "Deny"]:
            return message
    return None


def button_value(message: Any, label: str) -> str:
    for block in message.blocks or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("text", {}).get("text") == label:
                return str(element["value"])
    raise AssertionError(f"no {label} button")


def everything_sent(slack: fake_slack.SlackState) -> str:
    return json.dumps([call.args for call in slack.calls()])


async def post_event(app: App, signed: fake_slack.Signed, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}", timeout=10) as http:
        return await http.post("/slack/events", content=signed.body, headers={**signed.headers, **headers})


async def test_alert_to_approval_to_one_block(tmp_path: Path) -> None:
    async with running(tmp_path) as (app, slack, alerts, cf_state):
        body = {
            "sid": "scheduler_nobody_search_1",
            "search_name": "<!channel> Outbound beacon to C2",
            "result": {"src_ip": BAD_IP, "dest": "web-01", "_raw": f"beacon from {BAD_IP} <!here>"},
        }
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
            response = await http.post(f"/alerts/splunk?token={TOKEN}", json=body)
        assert response.status_code == 202

        # The card shows the indicator with its verdict.
        card = await eventually(
            lambda: next(
                (
                    m
                    for m in slack.posted(alerts)
                    if "malicious" in json.dumps(m.blocks) and BAD_IP in json.dumps(m.blocks)
                ),
                None,
            )
        )
        assert "Outbound beacon" in json.dumps(card.blocks)

        approval = await eventually(lambda: approval_message(slack, alerts))
        approval_id = button_value(approval, "Approve")

        # Bad and stale signatures are refused before anything happens.
        signed = fake_slack.block_actions(
            SECRET,
            user=RESPONDER,
            action_id="approval_approve",
            value=approval_id,
            channel=alerts,
            message_ts=approval.ts,
        )
        forged = fake_slack.block_actions(
            "not-the-secret",
            user=RESPONDER,
            action_id="approval_approve",
            value=approval_id,
            channel=alerts,
            message_ts=approval.ts,
        )
        stale = fake_slack.block_actions(
            SECRET,
            user=RESPONDER,
            action_id="approval_approve",
            value=approval_id,
            channel=alerts,
            message_ts=approval.ts,
            timestamp=int(time.time()) - 600,
        )
        assert (await post_event(app, forged)).status_code == 401
        assert (await post_event(app, stale)).status_code == 401

        # An unauthorised click changes nothing.
        intruder = fake_slack.block_actions(
            SECRET,
            user="U0INTRUDER",
            action_id="approval_approve",
            value=approval_id,
            channel=alerts,
            message_ts=approval.ts,
            response_url=slack.response_url("intruder"),
        )
        assert (await post_event(app, intruder)).status_code == 200
        await eventually(lambda: slack.responses_to("intruder"))
        assert "not allowed" in json.dumps(slack.responses_to("intruder"))
        assert cf_state.creates == 0

        # The responder approves: exactly one block at Cloudflare, and the card says who decided.
        assert (await post_event(app, signed)).status_code == 200
        await eventually(lambda: cf_state.creates == 1)
        await eventually(
            lambda: any(
                "Approved by U0RESPONDER" in json.dumps(c.args.get("blocks")) for c in slack.calls("chat.update")
            )
        )
        again = fake_slack.block_actions(
            SECRET,
            user=RESPONDER,
            action_id="approval_approve",
            value=approval_id,
            channel=alerts,
            message_ts=approval.ts,
        )
        assert (await post_event(app, again)).status_code == 200
        await asyncio.sleep(0.5)
        assert cf_state.creates == 1

        # Alert text never reaches Slack unescaped.
        sent = everything_sent(slack)
        assert "<!channel>" not in sent and "<!here>" not in sent
        assert "&lt;!channel&gt;" in sent

        [case] = await app.cases.list_cases()
        exported = await app.cases.export(case.id)
        types = [e["type"] for e in exported["timeline"]]
        for expected in (
            "case_opened",
            "alert_added",
            "indicators_enriched",
            "approval_requested",
            "unauthorized_attempt",
            "approval_decided",
            "action_finished",
        ):
            assert expected in types, expected
        assert await app.cases.verify(case.id) is None


async def test_deny_opens_a_modal_and_records_the_reason(tmp_path: Path) -> None:
    async with running(tmp_path) as (app, slack, alerts, cf_state):
        body = {"sid": "s-2", "search_name": "Beacon", "result": {"src_ip": BAD_IP}}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
            await http.post(f"/alerts/splunk?token={TOKEN}", json=body)
        approval = await eventually(lambda: approval_message(slack, alerts))
        approval_id = button_value(approval, "Deny")
        trigger = slack.fresh_trigger(RESPONDER)
        click = fake_slack.block_actions(
            SECRET,
            user=RESPONDER,
            action_id="approval_deny",
            value=approval_id,
            channel=alerts,
            message_ts=approval.ts,
            trigger_id=trigger,
        )
        assert (await post_event(app, click)).status_code == 200
        [view] = await eventually(lambda: slack.opened_views(RESPONDER))
        submit = fake_slack.view_submission(
            SECRET,
            user=RESPONDER,
            callback_id="approval_deny_reason",
            private_metadata=view.view["private_metadata"],
            values={"reason": {"reason": {"type": "plain_text_input", "value": "our own scanner"}}},
        )
        assert (await post_event(app, submit)).status_code == 200
        await eventually(
            lambda: any("our own scanner" in json.dumps(c.args.get("blocks")) for c in slack.calls("chat.update"))
        )
        assert cf_state.creates == 0


async def test_a_storm_of_500_alerts_is_a_handful_of_messages(tmp_path: Path) -> None:
    async with running(tmp_path) as (app, slack, alerts, _):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
            for n in range(500):
                body = {"id": f"storm-{n}", "title": "Port scan", "severity": "low", "host": "fw-01"}
                response = await http.post("/alerts/gen", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
                assert response.status_code == 202
        await eventually(
            lambda: any(
                "500 (last" in json.dumps(c.args.get("blocks"))
                for c in slack.calls("chat.update") + slack.calls("chat.postMessage")
            ),
            30,
        )
        posts = [c for c in slack.calls("chat.postMessage") if c.args.get("channel") == alerts]
        updates = slack.calls("chat.update")
        assert len(posts) <= 3, len(posts)
        assert len(updates) <= 15, len(updates)
        async with app.db.reader.execute("SELECT count(*) FROM outbox WHERE status = 'failed'") as cursor:
            assert (await cursor.fetchone())[0] == 0  # type: ignore[index]  # no 429 was dropped


async def test_click_after_a_restart_blocks_once(tmp_path: Path) -> None:
    async with vendors(tmp_path) as world:
        slack, alerts, cf_state = world.slack, world.alerts, world.cf_state
        document = world.settings()
        first = App(document)
        await first.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.port}") as http:
            body = {"sid": "s-restart", "search_name": "Beacon", "result": {"src_ip": BAD_IP}}
            await http.post(f"/alerts/splunk?token={TOKEN}", json=body)
        approval = await eventually(lambda: approval_message(slack, alerts))
        await first.stop()

        second = App(document)  # a new process over the same database
        await second.start()
        try:
            click = fake_slack.block_actions(
                SECRET,
                user=RESPONDER,
                action_id="approval_approve",
                value=button_value(approval, "Approve"),
                channel=alerts,
                message_ts=approval.ts,
            )
            assert (await post_event(second, click)).status_code == 200
            await eventually(lambda: cf_state.creates == 1)
            updated = await eventually(
                lambda: [c for c in slack.calls("chat.update") if c.args.get("ts") == approval.ts]
            )
            assert fake_slack.SlackState.button_texts(updated[-1].args["blocks"]) == []
            assert (await post_event(second, click)).status_code == 200
            await asyncio.sleep(0.3)
            assert cf_state.creates == 1
        finally:
            await second.stop()


async def test_slash_commands_and_the_incident_channel_record(tmp_path: Path) -> None:
    async with running(tmp_path) as (app, slack, alerts, _):
        help_url = slack.response_url("help")
        signed = fake_slack.slash_command(SECRET, user=RESPONDER, channel=alerts, text="help", response_url=help_url)
        assert (await post_event(app, signed)).status_code == 200
        [answer] = await eventually(lambda: slack.responses_to("help"))
        assert answer["response_type"] == "ephemeral" and "incident declare" in json.dumps(answer)

        enrich_url = slack.response_url("enrich")
        signed = fake_slack.slash_command(
            SECRET, user=RESPONDER, channel=alerts, text=f"enrich {BAD_IP}", response_url=enrich_url
        )
        assert (await post_event(app, signed)).status_code == 200
        [answer] = await eventually(lambda: slack.responses_to("enrich"), 20)
        assert "malicious" in json.dumps(answer)

        outsider_url = slack.response_url("outsider")
        signed = fake_slack.slash_command(
            SECRET, user="U0OUTSIDER", channel=alerts, text="case 1 close done", response_url=outsider_url
        )
        assert (await post_event(app, signed)).status_code == 200
        [answer] = await eventually(lambda: slack.responses_to("outsider"))
        assert "not allowed" in json.dumps(answer).lower() or "role" in json.dumps(answer).lower()

        declare_url = slack.response_url("declare")
        signed = fake_slack.slash_command(
            SECRET,
            user=RESPONDER,
            channel=alerts,
            text="incident declare Ransomware on file server --severity critical",
            response_url=declare_url,
        )
        assert (await post_event(app, signed)).status_code == 200
        await eventually(lambda: slack.responses_to("declare"))
        channel = await eventually(lambda: next((c for c in slack.channels.values() if "ransomware" in c.name), None))
        assert RESPONDER in channel.members

        message = {
            "type": "message",
            "channel": channel.id,
            "user": RESPONDER,
            "text": "found the dropper",
            "ts": "1700000100.000200",
            "channel_type": "channel",
        }
        for retry in (None, 1, 2):  # Slack retries the same event_id
            delivery = fake_slack.event_callback(SECRET, message, event_id="Ev0RECORD1", retry_num=retry)
            assert (await post_event(app, delivery)).status_code == 200
        await asyncio.sleep(0.5)
        [case] = [c for c in await app.cases.list_cases() if "Ransomware" in c.title]
        records = [e for e in await app.cases.timeline(case.id) if e.type == "chat_message"]
        assert len(records) == 1
        assert records[0].data["text"] == "found the dropper" and records[0].actor == RESPONDER
        assert await app.cases.verify(case.id) is None


async def test_daily_digest_goes_to_the_digest_channel(tmp_path: Path) -> None:
    async with fake_slack.slack_server() as slack:
        alerts = slack.add_channel("soc-alerts")
        digests = slack.add_channel("soc-digest")
        settings = validate(config(tmp_path, slack, alerts, digest_channel=digests, digest_at="07:30"))
        app = App(settings)
        await app.start()
        try:
            assert app.scheduler is not None
            [job] = app.scheduler._scheduler.get_jobs()
            assert (job.name, str(job.trigger)) == ("daily-digest", "cron[hour='7', minute='30']")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
                body = {"id": "d-1", "title": "Impossible travel", "severity": "high", "user": "alice"}
                await http.post("/alerts/gen", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            await app.post_digest(digests)
            [digest] = await eventually(lambda: slack.posted(digests))
            assert "1 open case" in json.dumps(digest.blocks)
        finally:
            await app.stop()


async def test_socket_mode_commands_and_clicks(tmp_path: Path) -> None:
    async with running(tmp_path, app_token=fake_slack.APP_TOKEN, signing_secret=None) as (app, slack, alerts, cf_state):
        await slack.socket_connected(5)
        help_url = slack.response_url("sm-help")
        command = {
            "team_id": fake_slack.TEAM_ID,
            "channel_id": alerts,
            "user_id": RESPONDER,
            "command": "/soar",
            "text": "help",
            "response_url": help_url,
            "trigger_id": "1.2.3",
        }
        envelope = await slack.socket_push(fake_slack.socket_envelope("slash_commands", command))
        assert (await slack.socket_ack(envelope))["envelope_id"] == envelope  # acked within 3 s
        await eventually(lambda: slack.responses_to("sm-help"))

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
            body = {"sid": "s-socket", "search_name": "Beacon", "result": {"src_ip": BAD_IP}}
            await http.post(f"/alerts/splunk?token={TOKEN}", json=body)
        approval = await eventually(lambda: approval_message(slack, alerts))
        click = {
            "type": "block_actions",
            "team": {"id": fake_slack.TEAM_ID},
            "user": {"id": RESPONDER},
            "api_app_id": fake_slack.APP_ID,
            "trigger_id": "1.2.4",
            "container": {"type": "message", "message_ts": approval.ts, "channel_id": alerts},
            "channel": {"id": alerts},
            "response_url": slack.response_url("sm-click"),
            "actions": [
                {
                    "action_id": "approval_approve",
                    "block_id": "b",
                    "type": "button",
                    "value": button_value(approval, "Approve"),
                    "action_ts": "1.1",
                }
            ],
        }
        envelope = await slack.socket_push(fake_slack.socket_envelope("interactive", click))
        await slack.socket_ack(envelope)
        await eventually(lambda: cf_state.creates == 1)

        # Without a signing secret there is no HTTP endpoint that could be fed forged requests.
        forged = fake_slack.block_actions(
            "anything",
            user=RESPONDER,
            action_id="approval_approve",
            value="1",
            channel=alerts,
            message_ts=approval.ts,
        )
        assert (await post_event(app, forged)).status_code == 404


async def test_a_slack_user_group_in_a_role_can_approve(tmp_path: Path) -> None:
    async with vendors(tmp_path, members=["U0ONCALL"]) as world:
        slack, alerts = world.slack, world.alerts
        group = slack.add_usergroup("soc-oncall", ["U0ONCALL"])
        async with started(world.settings(roles={"responder": [group]})) as app:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
                await http.post(
                    f"/alerts/splunk?token={TOKEN}",
                    json={"sid": "s-g", "search_name": "Beacon", "result": {"src_ip": BAD_IP}},
                )
            approval = await eventually(lambda: approval_message(slack, alerts))
            click = fake_slack.block_actions(
                SECRET,
                user="U0ONCALL",
                action_id="approval_approve",
                value=button_value(approval, "Approve"),
                channel=alerts,
                message_ts=approval.ts,
            )
            assert (await post_event(app, click)).status_code == 200
            await eventually(lambda: world.cf_state.creates == 1)
            assert slack.calls("usergroups.users.list")
