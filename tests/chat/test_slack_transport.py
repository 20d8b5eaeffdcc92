"""SlackTransport against the fake Web API: what one delivery call does, joining included (the outbox never joins)."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack.adapter import SlackTransport
from bot.core.errors import ChatDeliveryError
from bot.core.ports import Card
from tests.fakes import slack as fake


async def test_not_in_a_public_channel_joins_once_and_posts() -> None:
    async with fake.slack_server(per_channel_rate=None) as state:
        channel = state.add_channel("new-room", bot_member=False)
        transport = SlackTransport(AsyncWebClient(token=fake.BOT_TOKEN, base_url=state.api_url), channel)
        ts = await transport.send(channel, Card(title="hello"), thread=None)
        assert [c.method for c in state.calls()] == ["chat.postMessage", "conversations.join", "chat.postMessage"]
        assert state.message(channel, ts).text
        await transport.send(channel, Card(title="again"), thread=ts)  # a reply in its thread, no second join
        assert [c.method for c in state.calls()].count("conversations.join") == 1


async def test_a_private_channel_it_cannot_join_is_a_permanent_failure() -> None:
    async with fake.slack_server(per_channel_rate=None) as state:
        channel = state.add_channel("secret-room", bot_member=False, is_private=True)
        transport = SlackTransport(AsyncWebClient(token=fake.BOT_TOKEN, base_url=state.api_url), channel)
        with pytest.raises(ChatDeliveryError) as failure:
            await transport.send(channel, Card(title="hello"), thread=None)
        assert failure.value.permanent and failure.value.code == "channel_not_found"


async def test_a_rate_limit_says_how_long_to_wait() -> None:
    async with fake.slack_server(per_channel_rate=None) as state:
        channel = state.add_channel("busy")
        state.fail("chat.postMessage", headers={"Retry-After": "7"})
        transport = SlackTransport(AsyncWebClient(token=fake.BOT_TOKEN, base_url=state.api_url), channel)
        with pytest.raises(ChatDeliveryError) as failure:
            await transport.send(channel, Card(title="hello"), thread=None)
        assert failure.value.retry_after == 7 and not failure.value.permanent


async def test_a_bot_removed_from_a_channel_it_joined_joins_again() -> None:
    """Bug: SlackTransport marks a channel as joined before the join even succeeds and never forgets it
    (bot/chat/slack/adapter.py, send). When someone removes the bot from the alerts channel after it had joined
    once, every later card fails with not_in_channel (retried, then given up) until the process restarts; likewise a
    join that failed once for a transient reason is never tried again. The port says a transport "never remembers"."""
    async with fake.slack_server(per_channel_rate=None) as state:
        channel = state.add_channel("new-room", bot_member=False)
        transport = SlackTransport(AsyncWebClient(token=fake.BOT_TOKEN, base_url=state.api_url), channel)
        await transport.send(channel, Card(title="hello"), thread=None)
        state.channels[channel].members.discard(fake.BOT_USER_ID)  # someone removed the bot
        ts = await transport.send(channel, Card(title="still here?"), thread=None)
        assert state.message(channel, ts).text
