"""The Slack fake speaks what the real slack_sdk client sends, and answers as Slack does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes import slack as fake
from tests.fakes.server import serve

SECRET = "test-secret"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk reads these and ignores NO_PROXY; a proxy would swallow 127.0.0.1.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def slack() -> AsyncIterator[fake.SlackState]:
    async with fake.slack_server(per_channel_rate=None) as state:
        yield state


def bolt_request(signed: fake.Signed) -> AsyncBoltRequest:
    headers: dict[str, str | Sequence[str]] = dict(signed.headers)
    return AsyncBoltRequest(body=signed.text, headers=headers)


def client_for(state: fake.SlackState, token: str | None = fake.BOT_TOKEN, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=state.api_url, **kwargs)


async def refused(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


def approval_blocks(approval_id: str = "APR-1") -> list[dict[str, Any]]:
    return [
        {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*INC-42* beaconing"}},
        {
            "type": "actions",
            "block_id": f"approval-{approval_id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approval_approve",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": approval_id,
                },
                {
                    "type": "button",
                    "action_id": "approval_deny",
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "value": approval_id,
                },
            ],
        },
    ]


# ---- signing -------------------------------------------------------------------------------------------------------

VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TS = 1531420618
VECTOR_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_sign_reproduces_slacks_official_test_vector() -> None:
    headers = fake.sign(VECTOR_SECRET, VECTOR_BODY, VECTOR_TS)

    assert headers["x-slack-signature"] == VECTOR_SIGNATURE
    assert headers["x-slack-request-timestamp"] == str(VECTOR_TS)
    assert fake.sign(VECTOR_SECRET, VECTOR_BODY.encode(), VECTOR_TS) == headers
    assert fake.sign("another-secret", VECTOR_BODY, VECTOR_TS)["x-slack-signature"] != VECTOR_SIGNATURE


class _Clock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value


def test_builders_are_signed_as_slack_sdk_verifies() -> None:
    now = int(time.time())
    verifier = SignatureVerifier(SECRET, clock=_Clock(now))  # type: ignore[arg-type]
    requests = [
        fake.slash_command(SECRET, user="U1", channel="C1", text="enrich 8.8.8.8", timestamp=now),
        fake.block_actions(SECRET, user="U1", action_id="a", value="v", channel="C1", message_ts="1.2", timestamp=now),
        fake.view_submission(SECRET, user="U1", callback_id="deny", values={"b": {"a": "why"}}, timestamp=now),
        fake.event_callback(SECRET, {"type": "message", "text": "hi"}, event_id="Ev1", timestamp=now),
    ]
    for body, headers in requests:
        assert verifier.is_valid_request(body, headers)
        assert not SignatureVerifier("wrong", clock=_Clock(now)).is_valid_request(body, headers)  # type: ignore[arg-type]
        assert not verifier.is_valid_request(body + b"x", headers)
    stale = fake.slash_command(SECRET, user="U1", channel="C1", text="", timestamp=now - 301)
    assert not verifier.is_valid_request(stale.body, stale.headers)


def test_slash_command_is_form_encoded_like_slack() -> None:
    signed = fake.slash_command(SECRET, user="U1", channel="C1", text="enrich 8.8.8.8", trigger_id="1.2.3")

    assert b"command=%2Fsoar&text=enrich+8.8.8.8" in signed.body
    form = {k: v[0] for k, v in parse_qs(signed.text, keep_blank_values=True).items()}
    assert form["user_id"] == "U1" and form["channel_id"] == "C1" and form["trigger_id"] == "1.2.3"
    assert signed.headers["content-type"] == "application/x-www-form-urlencoded"


def test_block_actions_is_a_payload_field_with_a_message_container() -> None:
    body, _ = fake.block_actions(
        SECRET, user="U1", action_id="approval_approve", value="APR-1", channel="C1", message_ts="1700000000.000100"
    )
    assert body.startswith(b"payload=")
    payload = json.loads(parse_qs(body.decode())["payload"][0])

    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C1",
        "is_ephemeral": False,
    }
    assert payload["actions"][0]["action_id"] == "approval_approve" and payload["actions"][0]["value"] == "APR-1"
    assert payload["user"]["id"] == "U1"


# ---- messages ------------------------------------------------------------------------------------------------------


async def test_post_and_update_round_trip(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents")
    client = client_for(slack)

    posted = await client.chat_postMessage(channel=channel, text="Approval needed", blocks=approval_blocks())
    second = await client.chat_postMessage(channel="#incidents", text="second")

    assert posted["channel"] == channel and posted["ts"] == "1700000000.000100"
    assert second["ts"] > posted["ts"]
    assert posted["message"]["bot_id"] == fake.BOT_ID and posted["message"]["blocks"] == approval_blocks()
    assert slack.button_texts(slack.posted(channel)[0]) == ["Approve", "Deny"]
    call = slack.calls("chat.postMessage")[0]
    assert call.body_kind == "json" and call.http_method == "POST"
    assert call.headers["Authorization"] == f"Bearer {fake.BOT_TOKEN}"
    assert call.args["blocks"] == approval_blocks()

    decided = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "Approved by <@U1>"}]}]
    updated = await client.chat_update(channel=channel, ts=posted["ts"], text="Approved", blocks=decided)

    assert updated["ts"] == posted["ts"] and updated["message"]["blocks"] == decided
    assert slack.message(channel, posted["ts"]).text == "Approved"
    assert updated["message"]["edited"]["ts"] > second["ts"]
    assert slack.posted(channel)[0].blocks == decided and slack.button_texts(slack.posted(channel)[0]) == []
    assert slack.last_blocks(channel) == []  # the later plain-text post
    assert [m.ts for m in slack.posted(channel)] == [posted["ts"], second["ts"]]

    await client.chat_update(channel=channel, ts=posted["ts"], text="text only")
    assert slack.message(channel, posted["ts"]).blocks == []  # text without blocks drops the old blocks


async def test_update_refuses_unknown_and_foreign_messages(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents")
    human_ts = slack.add_message(channel, "hello")
    client = client_for(slack)

    missing = await refused(client.chat_update(channel=channel, ts="1.000001", text="x"))
    foreign = await refused(client.chat_update(channel=channel, ts=human_ts, text="x"))

    assert missing.response.status_code == 200 and missing.response["error"] == "message_not_found"
    assert foreign.response["error"] == "cant_update_message"
    assert slack.message(channel, human_ts).text == "hello"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str = "Go", value: str = "v") -> dict[str, Any]:
    return {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": text}, "value": value}


@pytest.mark.parametrize(
    ("blocks", "text", "error"),
    [
        ([section("x")] * 51, "t", "invalid_blocks"),
        ([section("x" * 3001)], "t", "invalid_blocks"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "t", "invalid_blocks"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], "t", "invalid_blocks"),
        ([{"type": "actions", "elements": [button(text="b" * 76)]}], "t", "invalid_blocks"),
        ([{"type": "actions", "elements": [button(value="v" * 2001)]}], "t", "invalid_blocks"),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": button("b" * 76)}],
            "t",
            "invalid_blocks",
        ),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "t", "invalid_blocks"),
        ([{"type": "carousel"}], "t", "invalid_blocks"),
        (None, "x" * 40_001, "msg_too_long"),
    ],
    ids=[
        "51-blocks",
        "section-3001",
        "11-fields",
        "field-2001",
        "button-text-76",
        "button-value-2001",
        "accessory-text-76",
        "header-151",
        "unknown-block",
        "text-40001",
    ],
)
async def test_post_enforces_block_kit_limits(
    slack: fake.SlackState, blocks: list[dict[str, Any]] | None, text: str, error: str
) -> None:
    channel = slack.add_channel("incidents")
    client = client_for(slack)

    err = await refused(client.chat_postMessage(channel=channel, text=text, blocks=blocks))

    assert err.response.status_code == 200 and err.response["error"] == error
    assert slack.posted(channel) == []
    if error == "invalid_blocks":
        assert "json-pointer:/blocks" in err.response["errors"][0]


async def test_limits_are_inclusive_at_the_documented_maximum(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents")
    blocks = [
        section("x" * 3000),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "actions", "elements": [button(text="b" * 75, value="v" * 2000)]},
    ] + [section("x")] * 47

    await client_for(slack).chat_postMessage(channel=channel, text="x" * 40_000, blocks=blocks)

    assert len(slack.last_blocks(channel)) == 50


async def test_update_validates_blocks_too(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents")
    client = client_for(slack)
    ts = (await client.chat_postMessage(channel=channel, text="x"))["ts"]

    err = await refused(client.chat_update(channel=channel, ts=ts, text="x", blocks=[section("y" * 3001)]))

    assert err.response["error"] == "invalid_blocks"
    assert slack.message(channel, ts).text == "x"


async def test_post_without_text_or_blocks_is_no_text(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents")
    # api_call directly: chat_postMessage would warn (UserWarning) before sending.
    err = await refused(client_for(slack).api_call("chat.postMessage", json={"channel": channel}))

    assert err.response["error"] == "no_text"


async def test_post_needs_an_existing_channel_the_bot_is_in(slack: fake.SlackState) -> None:
    outside = slack.add_channel("outside", bot_member=False)
    secret = slack.add_channel("secret", bot_member=False, is_private=True)
    archived = slack.add_channel("old", archived=True)
    client = client_for(slack)

    errors = [
        (await refused(client.chat_postMessage(channel=ref, text="hi"))).response["error"]
        for ref in (outside, secret, archived, "C404", "#nope")
    ]

    assert errors == ["not_in_channel", "channel_not_found", "is_archived", "channel_not_found", "channel_not_found"]


async def test_thread_replies_post_and_stay_out_of_history(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents")
    client = client_for(slack)
    parent = (await client.chat_postMessage(channel=channel, text="case card"))["ts"]

    reply = await client.chat_postMessage(channel=channel, text="step done", thread_ts=parent)
    history = await client.conversations_history(channel=channel)

    assert slack.message(channel, reply["ts"]).thread_ts == parent
    assert [m["ts"] for m in history["messages"]] == [parent]
    assert history["messages"][0]["reply_count"] == 1


# ---- rate limits and faults ----------------------------------------------------------------------------------------


async def test_per_channel_rate_limit_answers_429_with_integer_retry_after() -> None:
    async with fake.slack_server(per_channel_rate=1.0) as slack:
        first = slack.add_channel("first")
        other = slack.add_channel("other")
        client = client_for(slack)
        await client.chat_postMessage(channel=first, text="1")

        err = await refused(client.chat_postMessage(channel=first, text="2"))
        await client.chat_postMessage(channel=other, text="another channel is not limited")

    assert err.response.status_code == 429 and err.response["error"] == "ratelimited"
    retry_after = err.response.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    assert slack.rate_limited == 1
    assert [m.text for m in slack.posted(first)] == ["1"]


async def test_retry_after_knob_overrides_the_computed_wait() -> None:
    async with fake.slack_server(per_channel_rate=1.0) as slack:
        channel = slack.add_channel("incidents")
        slack.retry_after = 0
        client = client_for(slack)
        await client.chat_postMessage(channel=channel, text="1")

        err = await refused(client.chat_postMessage(channel=channel, text="2"))

    assert err.response.status_code == 429 and err.response.headers["Retry-After"] == "0"


async def test_rate_limit_retry_handler_recovers_from_the_per_channel_limit() -> None:
    async with fake.slack_server(per_channel_rate=1.0) as slack:
        channel = slack.add_channel("incidents")
        client = client_for(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])

        await client.chat_postMessage(channel=channel, text="1")
        await client.chat_postMessage(channel=channel, text="2")  # 429 once, then lands after Retry-After

    assert [m.text for m in slack.posted(channel)] == ["1", "2"]
    assert slack.rate_limited == 1
    assert [c.status for c in slack.calls("chat.postMessage")] == [200, 429, 200]


async def test_fault_queue_scripts_429_errors_and_dropped_connections(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents")
    slack.fail("chat.postMessage")  # 429 ratelimited, Retry-After: 0
    client = client_for(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    await client.chat_postMessage(channel=channel, text="after a 429")

    slack.fail("chat.update", error="channel_not_found")
    err = await refused(client.chat_update(channel=channel, ts=slack.posted(channel)[0].ts, text="x"))

    # slack_sdk's default handler (connection errors, one retry), without its 0.5 s backoff
    reconnecting = client_for(
        slack,
        retry_handlers=[AsyncConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0))],
    )
    slack.fail("chat.postMessage", drop=True)
    await reconnecting.chat_postMessage(channel=channel, text="after a drop")

    slack.fail("chat.postMessage", drop=True, landed=True)  # the first attempt took effect before the cut
    await reconnecting.chat_postMessage(channel=channel, text="landed twice")

    assert err.response.status_code == 200 and err.response["error"] == "channel_not_found"
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200, 0, 200, 0, 200]
    assert [m.text for m in slack.posted(channel)] == ["after a 429", "after a drop", "landed twice", "landed twice"]


# ---- auth ----------------------------------------------------------------------------------------------------------


async def test_auth_test_and_bad_tokens_answer_like_slack(slack: fake.SlackState) -> None:
    me = await client_for(slack).auth_test()
    assert me["user_id"] == fake.BOT_USER_ID and me["bot_id"] == fake.BOT_ID and me["team_id"] == fake.TEAM_ID
    assert slack.calls("auth.test")[0].body_kind == "none"  # params in the query string; here none

    wrong = await refused(client_for(slack, token="xoxb-wrong").auth_test())
    missing = await refused(client_for(slack, token=None).chat_postMessage(channel="C1", text="x"))
    app_token = await refused(client_for(slack, token=fake.APP_TOKEN).auth_test())
    unknown = await refused(client_for(slack).api_call("foo.bar"))
    bot_on_socket = await refused(client_for(slack).apps_connections_open(app_token=fake.BOT_TOKEN))
    opened = await client_for(slack).apps_connections_open(app_token=fake.APP_TOKEN)

    assert wrong.response.status_code == 200 and wrong.response["error"] == "invalid_auth"
    assert missing.response["error"] == "not_authed"
    assert app_token.response["error"] == "not_allowed_token_type"
    assert bot_on_socket.response["error"] == "not_allowed_token_type"
    assert opened["url"].startswith(slack.url.replace("http://", "ws://") + "/link")
    assert unknown.response.status_code == 200
    assert unknown.response.data == {"ok": False, "error": "unknown_method", "req_method": "foo.bar"}


# ---- conversations -------------------------------------------------------------------------------------------------


async def test_conversations_create_makes_a_channel_the_bot_is_in(slack: fake.SlackState) -> None:
    client = client_for(slack)

    created = await client.conversations_create(name="inc-42_web-01")

    channel = created["channel"]
    assert channel["name"] == "inc-42_web-01" and channel["is_member"] is True and channel["is_channel"] is True
    assert channel["id"].startswith("C") and channel["creator"] == fake.BOT_USER_ID
    call = slack.calls("conversations.create")[0]
    assert call.query == {"name": "inc-42_web-01"} and call.body_kind == "none"
    await client.chat_postMessage(channel=channel["id"], text="case opened")  # no not_in_channel

    private = await client.conversations_create(name="inc-43", is_private=True)
    assert private["channel"]["is_private"] is True

    taken = await refused(client.conversations_create(name="inc-42_web-01"))
    assert taken.response["error"] == "name_taken"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("INC-42", "invalid_name_specials"),
        ("inc 42", "invalid_name_specials"),
        ("inc.42", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
        ("--", "invalid_name_punctuation"),
        ("", "invalid_name_required"),
    ],
)
async def test_conversations_create_checks_names(slack: fake.SlackState, name: str, error: str) -> None:
    err = await refused(client_for(slack).conversations_create(name=name))

    assert err.response["error"] == error
    assert slack.channels == {}


async def test_conversations_invite(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents", members=["U1"])
    outside = slack.add_channel("outside", bot_member=False)
    archived = slack.add_channel("old", archived=True)
    client = client_for(slack)

    invited = await client.conversations_invite(channel=channel, users=["U2", "U3"])

    assert slack.calls("conversations.invite")[0].query["users"] == "U2,U3"
    assert invited["channel"]["id"] == channel
    assert slack.channels[channel].members == {fake.BOT_USER_ID, "U1", "U2", "U3"}
    errors = [
        (await refused(client.conversations_invite(channel=ref, users=users))).response["error"]
        for ref, users in [(channel, "U1"), (channel, fake.BOT_USER_ID), (outside, "U9"), (archived, "U9")]
    ]
    assert errors == ["already_in_channel", "cant_invite_self", "not_in_channel", "is_archived"]


async def test_join_topic_purpose_info_and_archive(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents", bot_member=False)
    client = client_for(slack)

    joined = await client.conversations_join(channel=channel)
    again = await client.conversations_join(channel=channel)
    topic = await client.conversations_setTopic(channel=channel, topic="INC-42 | sev high")
    purpose = await client.conversations_setPurpose(channel=channel, purpose="Case INC-42")
    info = await client.conversations_info(channel=channel, include_num_members=True)
    too_long = await refused(client.conversations_setTopic(channel=channel, topic="t" * 251))
    await client.conversations_archive(channel=channel)
    archived_twice = await refused(client.conversations_archive(channel=channel))

    assert joined["channel"]["is_member"] is True and again["warning"] == "already_in_channel"
    assert topic["channel"]["topic"]["value"] == "INC-42 | sev high"
    assert purpose["channel"]["purpose"]["value"] == "Case INC-42"
    assert info["channel"]["num_members"] == 1 and slack.calls("conversations.info")[0].http_method == "GET"
    assert too_long.response["error"] == "too_long"
    assert slack.channels[channel].archived and archived_twice.response["error"] == "already_archived"


async def test_history_pages_newest_first_with_a_cursor(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents")
    stamps = [slack.add_message(channel, f"m{i}") for i in range(5)]
    client = client_for(slack)

    first = await client.conversations_history(channel=channel, limit=2)

    assert slack.calls("conversations.history")[0].http_method == "GET"
    assert slack.calls("conversations.history")[0].query["limit"] == "2"
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]
    assert first["has_more"] is True and first["response_metadata"]["next_cursor"]

    seen: list[str] = []
    more: list[bool] = []
    async for page in await client.conversations_history(channel=channel, limit=2):  # slack_sdk follows next_cursor
        seen += [m["ts"] for m in page["messages"]]
        more.append(page["has_more"])
    assert seen == stamps[::-1] and more == [True, True, False]

    window = await client.conversations_history(channel=channel, oldest=stamps[1], latest=stamps[3])
    assert [m["ts"] for m in window["messages"]] == [stamps[2]]
    bad = await refused(client.conversations_history(channel=channel, cursor="bm9wZQ=="))
    assert bad.response["error"] == "invalid_cursor"


async def test_history_needs_membership(slack: fake.SlackState) -> None:
    outside = slack.add_channel("outside", bot_member=False)

    err = await refused(client_for(slack).conversations_history(channel=outside))

    assert err.response["error"] == "not_in_channel"


# ---- pins, permalinks, ephemerals, user groups ---------------------------------------------------------------------


async def test_pins_permalink_ephemeral_and_usergroups(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents", members=["U1"])
    group = slack.add_usergroup("soc-responders", ["U1", "U2"])
    client = client_for(slack)
    ts = (await client.chat_postMessage(channel=channel, text="card"))["ts"]

    await client.pins_add(channel=channel, timestamp=ts)
    pinned_twice = await refused(client.pins_add(channel=channel, timestamp=ts))
    link = await client.chat_getPermalink(channel=channel, message_ts=ts)
    shown = await client.chat_postEphemeral(channel=channel, user="U1", text="Only you can see this")
    not_member = await refused(client.chat_postEphemeral(channel=channel, user="U7", text="x"))
    members = await client.usergroups_users_list(usergroup=group)
    no_group = await refused(client.usergroups_users_list(usergroup="S404"))

    assert slack.pins[channel] == [ts] and pinned_twice.response["error"] == "already_pinned"
    assert link["permalink"] == f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    assert shown["message_ts"] and [e.text for e in slack.ephemerals("U1")] == ["Only you can see this"]
    assert not_member.response["error"] == "user_not_in_channel"
    assert members["users"] == ["U1", "U2"] and no_group.response["error"] == "no_such_subteam"
    assert slack.posted(channel)[0].text == "card" and len(slack.posted(channel)) == 1  # ephemerals aren't messages


# ---- modals --------------------------------------------------------------------------------------------------------


def modal(title: str = "Deny approval", metadata: str = "APR-1") -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "deny_reason",
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Deny"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            }
        ],
    }


async def test_views_open_needs_a_fresh_single_use_trigger(slack: fake.SlackState) -> None:
    client = client_for(slack)
    fresh = slack.fresh_trigger("U1")

    opened = await client.views_open(trigger_id=fresh, view=modal())
    reused = await refused(client.views_open(trigger_id=fresh, view=modal()))
    stale = await refused(client.views_open(trigger_id=slack.fresh_trigger("U1", age=3.5), view=modal()))
    unknown = await refused(client.views_open(trigger_id="123.456.never-issued", view=modal()))
    bad_view = await refused(client.views_open(trigger_id=slack.fresh_trigger("U1"), view=modal(title="t" * 25)))

    assert opened["view"]["id"].startswith("V") and opened["view"]["private_metadata"] == "APR-1"
    assert [v.user for v in slack.opened_views()] == ["U1"] and slack.calls("views.open")[0].body_kind == "json"
    assert reused.response["error"] == "exchanged_trigger_id"
    assert stale.response["error"] == "expired_trigger_id" and unknown.response["error"] == "expired_trigger_id"
    assert bad_view.response["error"] == "invalid_arguments"
    assert "/view/title" in " ".join(bad_view.response["response_metadata"]["messages"])

    view_id, view_hash = opened["view"]["id"], opened["view"]["hash"]
    updated = await client.views_update(view_id=view_id, hash=view_hash, view=modal(title="Denied"))
    conflict = await refused(client.views_update(view_id=view_id, hash=view_hash, view=modal()))
    assert updated["view"]["title"]["text"] == "Denied" and conflict.response["error"] == "hash_conflict"


# ---- response_url --------------------------------------------------------------------------------------------------


async def test_response_url_posts_are_recorded_and_limited_to_five(slack: fake.SlackState) -> None:
    webhook = AsyncWebhookClient(url=slack.response_url("cmd-1"))

    first = await webhook.send(text="Enriching 8.8.8.8…", response_type="ephemeral")
    for i in range(4):
        await webhook.send(text=f"update {i}", replace_original=True)
    sixth = await webhook.send(text="too many")

    assert first.status_code == 200 and first.body == "ok"
    assert slack.responses_to("cmd-1")[0] == {"text": "Enriching 8.8.8.8…", "response_type": "ephemeral"}
    assert slack.responses_to("cmd-1")[1]["replace_original"] is True
    assert len(slack.responses_to("cmd-1")) == 5 and sixth.status_code == 404


# ---- Bolt against the fake -----------------------------------------------------------------------------------------


async def test_bolt_dispatches_the_builders_against_the_fake(slack: fake.SlackState) -> None:
    channel = slack.add_channel("incidents", members=["U1"])
    bolt = AsyncApp(client=client_for(slack), signing_secret=SECRET, process_before_response=True)
    clicks: list[str] = []

    @bolt.command("/soar")
    async def on_command(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(channel=command["channel_id"], text="card", blocks=approval_blocks())

    @bolt.action("approval_approve")
    async def on_approve(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        clicks.append(body["user"]["id"])
        container = body["container"]
        await client.chat_update(
            channel=container["channel_id"], ts=container["message_ts"], text="Approved", blocks=[section("Approved")]
        )

    @bolt.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        clicks.append(event["text"])

    command = fake.slash_command(SECRET, user="U1", channel=channel, text="enrich 8.8.8.8")
    answer = await bolt.async_dispatch(bolt_request(command))
    assert answer.status == 200
    card = slack.posted(channel)[0]
    assert slack.button_texts(card) == ["Approve", "Deny"]

    click = fake.block_actions(
        SECRET,
        user="U1",
        action_id="approval_approve",
        value="APR-1",
        channel=channel,
        message_ts=card.ts,
        block_id="approval-APR-1",
        message=card.to_api(),
    )
    answer = await bolt.async_dispatch(bolt_request(click))
    event = fake.event_callback(
        SECRET, {"type": "message", "channel": channel, "user": "U1", "text": "note", "ts": "1.1"}, event_id="Ev1"
    )
    event_answer = await bolt.async_dispatch(bolt_request(event))
    forged = fake.slash_command("wrong-secret", user="U1", channel=channel, text="x")
    forged_answer = await bolt.async_dispatch(bolt_request(forged))

    assert answer.status == 200 and event_answer.status == 200 and forged_answer.status == 401
    assert clicks == ["U1", "note"]
    assert slack.button_texts(slack.posted(channel)[0]) == [] and slack.posted(channel)[0].text == "Approved"
    assert len(slack.calls("auth.test")) == 1  # Bolt's lazy auth.test, once


async def test_the_fake_also_runs_under_the_plain_serve_harness() -> None:
    state = fake.SlackState()
    async with serve(fake.app(state, per_channel_rate=None)) as vendor:
        channel = state.add_channel("incidents")
        client = AsyncWebClient(token=fake.BOT_TOKEN, base_url=f"{vendor.url}/api")

        await client.chat_postMessage(channel=channel, text="hi")

    assert vendor.paths() == ["/api/chat.postMessage"]
    assert state.url == vendor.url and [m.text for m in state.posted(channel)] == ["hi"]


# ---- Socket Mode ---------------------------------------------------------------------------------------------------


async def test_socket_mode_link_pushes_envelopes_collects_acks_and_asks_for_reconnects(slack: fake.SlackState) -> None:
    received: list[SocketModeRequest] = []

    async def on_request(client: SocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    socket = SocketModeClient(app_token=fake.APP_TOKEN, web_client=client_for(slack))
    socket.socket_mode_request_listeners.append(on_request)  # type: ignore[arg-type]
    try:
        await socket.connect()  # type: ignore[no-untyped-call]
        envelope = fake.socket_envelope(
            "slash_commands", {"command": "/soar", "text": "help", "user_id": "U1", "channel_id": "C1"}
        )
        envelope_id = await slack.socket_push(envelope)
        ack = await slack.socket_ack(envelope_id)

        await slack.socket_disconnect("refresh_requested")
        async with asyncio.timeout(5):
            while slack.socket_connects < 2:
                await asyncio.sleep(0.01)
        again = await slack.socket_push(fake.socket_envelope("events_api", {"event": {"type": "message"}}))
        await slack.socket_ack(again)
    finally:
        await socket.close()  # type: ignore[no-untyped-call]

    assert ack == {"envelope_id": envelope_id}
    assert received[0].type == "slash_commands" and received[0].payload["text"] == "help"
    opens = slack.calls("apps.connections.open")
    assert len(opens) >= 2 and {c.headers["Authorization"] for c in opens} == {f"Bearer {fake.APP_TOKEN}"}
