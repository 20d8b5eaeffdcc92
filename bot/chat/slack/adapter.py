"""The Slack adapter: Bolt in, neutral events out; neutral cards in, Block Kit out. No business rules here.

HTTP mode mounts Bolt at ``POST /slack/events`` in soarbot's own aiohttp server (events, slash commands and
interactivity on one URL; Bolt verifies every signature and answers 401 otherwise). With ``app_token`` set it
connects over Socket Mode instead. Every listener acknowledges first and does its work in a tracked task, so
Slack's 3-second deadline is always met. Messages go out through the outbox (paced, durable); channel
operations for incidents go straight to the Web API.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack.render import deny_modal, ephemeral, neutral_action, reason_from_view, render
from bot.core.errors import ChatDeliveryError
from bot.core.ports import (
    ButtonClicked,
    Card,
    ChatEvent,
    CommandInvoked,
    MessagePosted,
    MessageRef,
    ReactionAdded,
    Reply,
)
from bot.core.tasks import TaskSupervisor

logger = logging.getLogger(__name__)

Dispatch = Callable[[ChatEvent], Awaitable[Reply | None]]

# Errors that no retry will fix; anything else unknown is treated as transient.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "cant_update_message",
        "message_not_found",
        "edit_window_closed",
        "restricted_action",
        "user_not_in_channel",
        "invalid_arguments",
        "token_revoked",
        "missing_scope",
        "channel_is_archived",
    }
)
BUTTON_ACTIONS = re.compile(r"^(approval_approve|action_undo|incident_open)$")


def _slack_error(err: SlackApiError) -> ChatDeliveryError:
    status = err.response.status_code
    code = str(err.response.get("error", "unknown_error")) if err.response is not None else "unknown_error"
    if status == 429 or code == "ratelimited":
        try:
            retry_after = float(err.response.headers.get("Retry-After", "1"))
        except (TypeError, ValueError):
            retry_after = 1.0
        return ChatDeliveryError("ratelimited", retry_after=retry_after)
    return ChatDeliveryError(code, permanent=code in PERMANENT)


class SlackTransport:
    """The outbox's way into Slack's Web API (a :class:`bot.core.ports.ChatTransport`)."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient, alerts_channel: str) -> None:
        self.client = client
        self.alerts_channel = alerts_channel

    async def send(self, channel: str, card: Card, *, thread: str | None) -> str:
        """chat.postMessage, joining a public channel first when Slack says the bot is not in it; return the ts.

        The join is part of this one call and remembered nowhere: a bot removed from a channel later joins again,
        and a join that failed is tried again on the outbox's next attempt.
        """
        text, blocks = render(card)
        for joined in (False, True):
            try:
                response = await self.client.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, thread_ts=thread, unfurl_links=False, unfurl_media=False
                )
            except SlackApiError as err:
                if joined or err.response.get("error") != "not_in_channel" or not await self.join(channel):
                    raise _slack_error(err) from err
                continue
            except (OSError, TimeoutError) as err:
                raise ChatDeliveryError(err.__class__.__name__) from err
            return str(response["ts"])
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def edit(self, channel: str, ts: str, card: Card) -> None:
        """chat.update with the full blocks (omitting them would keep the old ones)."""
        text, blocks = render(card)
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as err:
            raise _slack_error(err) from err
        except (OSError, TimeoutError) as err:
            raise ChatDeliveryError(err.__class__.__name__) from err

    async def send_private(self, channel: str, user: str, card: Card) -> None:
        """chat.postEphemeral."""
        text, blocks = render(card) if card.title else ephemeral(card.text)
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
        except SlackApiError as err:
            raise _slack_error(err) from err
        except (OSError, TimeoutError) as err:
            raise ChatDeliveryError(err.__class__.__name__) from err

    async def pin(self, channel: str, message_id: str) -> None:
        """pins.add (already pinned is fine: a retried send may pin twice)."""
        try:
            await self.client.pins_add(channel=channel, timestamp=message_id)
        except SlackApiError as err:
            if err.response.get("error") != "already_pinned":
                raise _slack_error(err) from err
        except (OSError, TimeoutError) as err:
            raise ChatDeliveryError(err.__class__.__name__) from err

    async def join(self, channel: str) -> bool:
        """conversations.join (public channels only)."""
        try:
            await self.client.conversations_join(channel=channel)
        except SlackApiError as err:
            logger.warning("Cannot join Slack channel %s: %s", channel, err.response.get("error"))
            return False
        except (OSError, TimeoutError) as err:
            logger.warning("Cannot join Slack channel %s: %s", channel, err.__class__.__name__)
            return False
        return True


class SlackChannels:
    """ChatChannels on Slack: incident channels, topics, archiving."""

    platform = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        bot_user: Callable[[], str | None],
        drained: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.client = client
        self._bot_user = bot_user
        self._drained = drained  # "has everything queued for this channel been sent?" (the outbox knows)

    async def create_channel(self, name: str, *, topic: str, purpose: str, members: Sequence[str]) -> str:
        """Create a channel under ``name`` (or ``name-2``… when taken), invite members, set topic and purpose."""
        base = _channel_name(name)
        channel_id = None
        for attempt in range(1, 10):
            candidate = base if attempt == 1 else f"{base[:76]}-{attempt}"
            try:
                response = await self.client.conversations_create(name=candidate)
            except SlackApiError as err:
                if err.response.get("error") == "name_taken":
                    continue
                raise _slack_error(err) from err
            channel_id = str(response["channel"]["id"])
            break
        if channel_id is None:
            raise ChatDeliveryError("name_taken", permanent=True)
        invite = sorted({m for m in members if m and m != self._bot_user()})
        if invite:
            try:
                await self.client.conversations_invite(channel=channel_id, users=",".join(invite))
            except SlackApiError as err:
                logger.warning("Could not invite %s to %s: %s", invite, channel_id, err.response.get("error"))
        try:
            await self.client.conversations_setTopic(channel=channel_id, topic=topic[:250])
            await self.client.conversations_setPurpose(channel=channel_id, purpose=purpose[:250])
        except SlackApiError as err:
            logger.warning("Could not set the topic or purpose of %s: %s", channel_id, err.response.get("error"))
        return channel_id

    async def set_topic(self, channel: str, topic: str) -> None:
        """conversations.setTopic."""
        try:
            await self.client.conversations_setTopic(channel=channel, topic=topic[:250])
        except SlackApiError as err:
            raise _slack_error(err) from err

    async def archive(self, channel: str) -> None:
        """conversations.archive, after the channel's queued messages (e.g. the final summary) have gone out."""
        if not await self._drained(channel):
            logger.warning("Archiving %s with messages still queued for it", channel)
        try:
            await self.client.conversations_archive(channel=channel)
        except SlackApiError as err:
            if err.response.get("error") != "already_archived":
                raise _slack_error(err) from err


def _channel_name(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")
    return (slug or "incident")[:80]


class SlackAdapter:
    """Owns the Bolt app: translates requests to neutral events and replies back."""

    platform = "slack"

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str | None,
        app_token: str | None,
        api_url: str,
        dispatch: Dispatch,
        tasks: TaskSupervisor,
    ) -> None:
        self.client = AsyncWebClient(token=bot_token, base_url=api_url if api_url.endswith("/") else api_url + "/")
        # Verification stays on in every mode; Socket Mode requests carry no signature and Bolt skips the check for
        # them. Without a signing secret the app is never mounted over HTTP (see bot.app).
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret or secrets.token_hex(32),
            raise_error_for_unhandled_request=False,
        )
        self._dispatch = dispatch
        self._tasks = tasks
        self._app_token = app_token
        self._socket: Any = None
        self.bot_user: str | None = None
        self.app.command("/soar")(self._on_command)
        self.app.action(BUTTON_ACTIONS)(self._on_button)
        self.app.action("approval_deny")(self._on_deny)
        self.app.view("approval_deny_reason")(self._on_deny_reason)
        self.app.event("message")(self._on_message)
        self.app.event("reaction_added")(self._on_reaction)
        self.app.event("pin_added")(self._on_pin)

    # --- transport --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Learn the bot's user id; connect over Socket Mode when an app token is configured."""
        try:
            identity = await self.client.auth_test()
            self.bot_user = identity.get("user_id")
        except SlackApiError as err:
            logger.warning("Slack auth.test failed: %s", err.response.get("error"))
        if self._app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            await self._socket.connect_async()
            logger.info("Connected to Slack over Socket Mode")

    async def stop(self) -> None:
        """Close the Socket Mode connection and the Web API session."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        session = getattr(self.client, "session", None)
        if session is not None:
            await session.close()

    async def usergroup_members(self, groups: Sequence[str]) -> dict[str, list[str]]:
        """Members of each Slack user group (usergroups.users.list); a group that cannot be read is left out."""
        members: dict[str, list[str]] = {}
        for group in groups:
            try:
                response = await self.client.usergroups_users_list(usergroup=group)
            except SlackApiError as err:
                logger.warning("Cannot read Slack user group %s: %s", group, err.response.get("error"))
                continue
            members[group] = [str(u) for u in response.get("users") or []]
        return members

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /slack/events``: Bolt verifies the signature (401 otherwise) and routes the request."""
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    # --- listeners (ack first, work in a tracked task) --------------------------------------------------------

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        event = CommandInvoked("slack", command["user_id"], command.get("text", ""), command["channel_id"])
        self._tasks.spawn(self._answer(event, respond), name=f"slack-command-{command.get('trigger_id', '')}")

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        action = body["actions"][0]
        container = body.get("container") or {}
        message = None
        if container.get("channel_id") and container.get("message_ts"):
            message = MessageRef("slack", container["channel_id"], container["message_ts"])
        event = ButtonClicked(body["user"]["id"], neutral_action(action["action_id"]), action.get("value", ""), message)
        self._tasks.spawn(self._answer(event, respond), name=f"slack-click-{action.get('action_ts', '')}")

    async def _on_deny(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        action = body["actions"][0]
        summary = _message_title(body)
        # trigger_id lives for 3 s: open the modal before anything else.
        await client.views_open(trigger_id=body["trigger_id"], view=deny_modal(action.get("value", ""), summary))

    async def _on_deny_reason(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        approval_id, reason = reason_from_view(view)
        event = ButtonClicked(body["user"]["id"], "approval.deny", approval_id, reason=reason)
        self._tasks.spawn(self._answer(event, None), name=f"slack-deny-{approval_id}")

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        subtype = event.get("subtype")
        if subtype in (None, "thread_broadcast", "file_share"):
            message, kind, ts = event, "posted", event.get("ts", "")
        elif subtype == "message_changed":
            message, kind = event.get("message") or {}, "edited"
            ts = message.get("ts", "")
        elif subtype == "message_deleted":
            message, kind = event.get("previous_message") or {}, "deleted"
            ts = event.get("deleted_ts", "")
        else:
            return  # joins, topic changes, bot messages: not part of the record
        if message.get("bot_id") or message.get("user") in (None, self.bot_user):
            return
        posted = MessagePosted(
            platform="slack",
            channel=event.get("channel", ""),
            user=str(message.get("user")),
            text=str(message.get("text", "")),
            message_id=str(ts),
            event_id=str(body.get("event_id", "")),
            kind=kind,
            thread=message.get("thread_ts"),
            permalink=await self._permalink(event.get("channel", ""), str(ts)) if kind != "deleted" else None,
        )
        self._tasks.spawn(self._answer(posted, None), name=f"slack-event-{posted.event_id}")

    async def _on_reaction(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if item.get("type") != "message" or event.get("user") == self.bot_user:
            return
        reaction = ReactionAdded(
            "slack",
            item.get("channel", ""),
            event.get("user", ""),
            event.get("reaction", ""),
            item.get("ts", ""),
            str(body.get("event_id", "")),
        )
        self._tasks.spawn(self._answer(reaction, None), name=f"slack-event-{reaction.event_id}")

    async def _on_pin(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if event.get("user") == self.bot_user:
            return  # soarbot pins its own incident summary: that is not a responder's highlight
        message = item.get("message") or {}
        reaction = ReactionAdded(
            "slack",
            event.get("channel_id", item.get("channel", "")),
            event.get("user", ""),
            "pin",
            message.get("ts", ""),
            str(body.get("event_id", "")),
        )
        self._tasks.spawn(self._answer(reaction, None), name=f"slack-event-{reaction.event_id}")

    async def _answer(self, event: ChatEvent, respond: AsyncRespond | None) -> None:
        reply = await self._dispatch(event)
        if reply is None or respond is None:
            return
        text, blocks = render(reply.card) if reply.card is not None else ephemeral(reply.text)
        if reply.card is not None and reply.text:
            text = ephemeral(reply.text)[0]  # the fallback text is shown in notifications: escaped too
        await respond(
            text=text,
            blocks=blocks,
            response_type="in_channel" if reply.public else "ephemeral",
            replace_original=False,
        )

    async def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError:
            return None
        return response.get("permalink")


def _message_title(body: dict[str, Any]) -> str:
    for block in (body.get("message") or {}).get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            return str(text["text"])[:500]
    return "this request"
