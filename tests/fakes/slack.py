"""A fake Slack Web API (plus response_url and a Socket Mode link) for offline tests, and signed inbound payloads.

Serve it with ``tests.fakes.server.serve(app(state))`` or, simpler, ``async with slack_server() as state`` and point
``AsyncWebClient(token=BOT_TOKEN, base_url=state.api_url)`` at it. It parses what slack_sdk sends (JSON bodies for
``chat.*``/``views.*``, query strings for ``conversations.*``, GET for reads; form bodies work too) and answers as
Slack does: HTTP 200 with ``{"ok": false, "error": ...}`` for every API error, HTTP 429 only for rate limits, with an
integer ``Retry-After``.

Modelled: auth (``not_authed`` / ``invalid_auth`` / ``not_allowed_token_type``), channels and membership, messages
with Block Kit validation (section/button/field limits, 50 blocks, 40,000-char text), a per-channel
``chat.postMessage`` rate limit, threads, pins, ephemerals, history paging, user groups, modals with 3-second
single-use trigger ids, response_url posts (5 uses) and a minimal Socket Mode WebSocket at ``/link``. Per-method
fault queues (``state.fail``) script 429s, ``ok: false`` errors and dropped connections.

Payload builders (``slash_command``, ``block_actions``, ``view_submission``, ``event_callback``) return what Slack
POSTs to the bot, signed as https://docs.slack.dev/authentication/verifying-requests-from-slack/ describes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from aiohttp import WSCloseCode, WSMsgType, web

from .server import serve

Json = dict[str, Any]

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0APP"
TEAM_ID = "T0"
TEAM_DOMAIN = "test"
HUMAN = "U0HUMAN"

TS_START = 1_700_000_000_000_100  # microseconds: the first ts handed out is "1700000000.000100"
TRIGGER_LIFETIME = 3.0
RESPONSE_URL_USES = 5

MAX_BLOCKS_MESSAGE = 50
MAX_BLOCKS_VIEW = 100
MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2_000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_HEADER_TEXT = 150
MAX_CHANNEL_NAME = 80
MAX_TOPIC = 250
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3_000

BLOCK_TYPES = frozenset(
    {"section", "actions", "context", "divider", "header", "image", "input", "rich_text", "file", "video", "markdown"}
)

# Methods the fake implements; every other name gets ``unknown_method`` as Slack answers it.
METHODS = (
    "api.test",
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.getPermalink",
    "conversations.create",
    "conversations.invite",
    "conversations.join",
    "conversations.setTopic",
    "conversations.setPurpose",
    "conversations.archive",
    "conversations.history",
    "conversations.info",
    "pins.add",
    "usergroups.users.list",
    "views.open",
    "views.update",
    "apps.connections.open",
)


class _ApiError(Exception):
    """An ``ok: false`` answer (HTTP 200) with optional extra fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# --------------------------------------------------------------------------------------------------------------------
# State


@dataclass
class Channel:
    """A conversation; the bot is a member when ``BOT_USER_ID`` is in ``members``."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    topic: str = ""
    purpose: str = ""
    members: set[str] = field(default_factory=set)
    archived: bool = False
    created: int = 1_700_000_000
    creator: str = HUMAN

    @property
    def is_member(self) -> bool:
        return BOT_USER_ID in self.members

    def to_api(self, *, num_members: bool = False) -> Json:
        """The channel as Slack's conversation object."""
        data: Json = {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": self.is_private,
            "is_im": self.is_im,
            "is_mpim": False,
            "is_private": self.is_private or self.is_im,
            "is_archived": self.archived,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "unlinked": 0,
            "is_member": self.is_member,
            "created": self.created,
            "creator": self.creator,
            "context_team_id": TEAM_ID,
            "updated": self.created * 1000,
            "topic": {"value": self.topic, "creator": self.creator if self.topic else "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": self.creator if self.purpose else "", "last_set": 0},
            "previous_names": [],
        }
        if num_members:
            data["num_members"] = len(self.members)
        return data


@dataclass
class Message:
    """A message in a channel, as it currently stands (after any ``chat.update``)."""

    channel: str
    ts: str
    text: str = ""
    blocks: list[Json] = field(default_factory=list)
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    bot_id: str | None = BOT_ID
    reply_broadcast: bool = False
    edits: int = 0
    edited_ts: str | None = None
    metadata: Json | None = None

    @property
    def from_bot(self) -> bool:
        return self.bot_id is not None

    def to_api(self) -> Json:
        """The message as Slack returns it from ``chat.postMessage`` / ``conversations.history``."""
        data: Json = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        if self.bot_id is not None:
            data.update({"bot_id": self.bot_id, "app_id": APP_ID, "team": TEAM_ID})
        if self.blocks:
            data["blocks"] = self.blocks
        if self.thread_ts is not None:
            data["thread_ts"] = self.thread_ts
        if self.edited_ts is not None:
            data["edited"] = {"user": self.user, "ts": self.edited_ts}
        if self.metadata is not None:
            data["metadata"] = self.metadata
        return data


@dataclass
class Ephemeral:
    """A ``chat.postEphemeral`` message: only ``user`` sees it, it is never stored in history."""

    channel: str
    user: str
    text: str
    blocks: list[Json]
    thread_ts: str | None
    message_ts: str


@dataclass
class View:
    """A modal opened with ``views.open`` (and possibly updated with ``views.update``)."""

    id: str
    user: str
    trigger_id: str
    view: Json
    hash: str
    updates: int = 0

    def to_api(self) -> Json:
        """The view object Slack returns."""
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "type": self.view.get("type", "modal"),
            "blocks": self.view.get("blocks", []),
            "private_metadata": self.view.get("private_metadata", ""),
            "callback_id": self.view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self.hash,
            "title": self.view.get("title"),
            "close": self.view.get("close"),
            "submit": self.view.get("submit"),
            "clear_on_close": bool(self.view.get("clear_on_close", False)),
            "notify_on_close": bool(self.view.get("notify_on_close", False)),
            "external_id": self.view.get("external_id", ""),
            "previous_view_id": None,
            "root_view_id": self.id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }


@dataclass
class Trigger:
    """A trigger id Slack issued with an interaction; valid 3 s, exchangeable once."""

    user: str
    issued: float
    used: bool = False


@dataclass
class Call:
    """One Web API call the fake received.

    ``args`` merges query string, form and JSON body (the token is never in it); ``query`` is the query string alone
    and ``body_kind`` says how the body came (``"json"``, ``"form"`` or ``"none"``), to assert the wire shape.
    """

    method: str
    args: Json
    headers: dict[str, str]
    http_method: str
    query: dict[str, str] = field(default_factory=dict)
    body_kind: str = "none"
    status: int = 200
    response: Json | None = None


@dataclass
class ResponsePost:
    """One POST to a ``response_url``."""

    id: str
    body: Json
    headers: dict[str, str]


@dataclass
class Fault:
    """A scripted answer for the next call of a method (see ``SlackState.fail``)."""

    status: int
    headers: dict[str, str]
    json: Json | None
    drop: bool
    landed: bool


@dataclass
class SlackState:
    """Everything the fake knows: workspace contents, a log of calls, counters and failure knobs.

    Seed with ``add_channel``, ``add_message``, ``add_usergroup``, ``fresh_trigger``; script failures with ``fail``;
    assert with ``calls``, ``posted``, ``last_blocks``, ``button_texts``, ``ephemerals``, ``responses``,
    ``rate_limited``.
    """

    bot_tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    app_tokens: set[str] = field(default_factory=lambda: {APP_TOKEN})
    channels: dict[str, Channel] = field(default_factory=dict)
    messages: dict[str, dict[str, Message]] = field(default_factory=lambda: defaultdict(dict))
    pins: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    ephemeral: list[Ephemeral] = field(default_factory=list)
    views: dict[str, View] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    usergroup_handles: dict[str, str] = field(default_factory=dict)
    log: list[Call] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    responses: list[ResponsePost] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    per_channel_rate: float | None = 1.0
    retry_after: int | None = None  # overrides the computed per-channel Retry-After when set
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    url: str = ""  # set by slack_server(); otherwise learnt from the first request
    socket_acks: list[Json] = field(default_factory=list)
    socket_received: list[Json] = field(default_factory=list)
    socket_connects: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(0), repr=False)
    _post_times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list), repr=False)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list, repr=False)

    # ---- ids

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def next_ts(self) -> str:
        """A new message ts, strictly greater than every earlier one ("1700000000.000100", "…000200", …)."""
        micros = TS_START + 100 * next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # ---- seeding

    def add_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        bot_member: bool = True,
        is_private: bool = False,
        topic: str = "",
        purpose: str = "",
        archived: bool = False,
    ) -> str:
        """Create a channel as if made by a person; returns its id (``C…``)."""
        if any(c.name == name for c in self.channels.values()):
            raise ValueError(f"channel name {name!r} is taken")
        members_set = set(members)
        if bot_member:
            members_set.add(BOT_USER_ID)
        channel = Channel(
            id=self._next_id("C"),
            name=name,
            is_private=is_private,
            topic=topic,
            purpose=purpose,
            members=members_set,
            archived=archived,
        )
        self.channels[channel.id] = channel
        return channel.id

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = HUMAN,
        blocks: list[Json] | None = None,
        thread_ts: str | None = None,
        from_bot: bool = False,
    ) -> str:
        """Store a message (by a person unless ``from_bot``) in a channel; returns its ts."""
        cid = self.resolve(channel).id
        ts = self.next_ts()
        self.messages[cid][ts] = Message(
            channel=cid,
            ts=ts,
            text=text,
            blocks=list(blocks or []),
            thread_ts=thread_ts,
            user=BOT_USER_ID if from_bot else user,
            bot_id=BOT_ID if from_bot else None,
        )
        return ts

    def add_usergroup(self, handle: str, users: Iterable[str] = (), *, id: str | None = None) -> str:
        """Create a user group (``S…``) with members; returns its id."""
        group_id = id or self._next_id("S")
        self.usergroups[group_id] = list(users)
        self.usergroup_handles[group_id] = handle
        return group_id

    def fresh_trigger(self, user: str = HUMAN, *, age: float = 0.0) -> str:
        """Register a trigger id issued ``age`` seconds ago (older than 3 s is already expired)."""
        trigger_id = f"{next(self._ids)}.{TEAM_ID}.{uuid.uuid4().hex}"
        self.triggers[trigger_id] = Trigger(user=user, issued=self.clock() - age)
        return trigger_id

    def fail(
        self,
        method: str,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        json: Json | None = None,
        *,
        error: str | None = None,
        drop: bool = False,
        landed: bool = False,
        times: int = 1,
    ) -> None:
        """Script the next ``times`` answers of ``method`` (``"response_url"`` for response_url posts).

        - ``fail(m)``: HTTP 429 ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After: 0``.
        - ``fail(m, error="channel_not_found")``: HTTP 200 ``{"ok": false, "error": ...}``.
        - ``fail(m, status=503, json=...)``: any status / body / headers.
        - ``fail(m, drop=True)``: the connection is cut before an answer; with ``landed=True`` the call takes effect
          first (a post that "may have landed").
        """
        if error is not None:
            code = 200 if status is None else status
            body: Json | None = {"ok": False, "error": error} if json is None else json
        else:
            code = 429 if status is None else status
            body = {"ok": False, "error": "ratelimited"} if json is None and code == 429 else json
        if headers is None:
            headers = {"Retry-After": "0"} if code == 429 else {}
        for _ in range(times):
            self.faults[method].append(Fault(code, dict(headers), body, drop, landed))

    # ---- lookups

    @property
    def api_url(self) -> str:
        """The ``base_url`` for ``AsyncWebClient`` (``http://127.0.0.1:<port>/api/``)."""
        return f"{self.url}/api/"

    def response_url(self, id: str = "1") -> str:
        """A response_url served by this fake; posts to it land in ``responses``."""
        return f"{self.url}/response/{id}"

    def resolve(self, ref: str) -> Channel:
        """The channel with this id, ``#name`` or name (``KeyError`` when none)."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == name and not channel.is_im:
                return channel
        raise KeyError(ref)

    def channel_named(self, name: str) -> Channel:
        """The channel with this name."""
        return self.resolve(name)

    def message(self, channel: str, ts: str) -> Message:
        """The current state of one message."""
        return self.messages[self.resolve(channel).id][ts]

    def calls(self, method: str | None = None) -> list[Call]:
        """Every call of ``method`` (all calls when None), in order."""
        return [c for c in self.log if method is None or c.method == method]

    def posted(self, channel: str | None = None) -> list[Message]:
        """The bot's messages in ``channel`` (every channel when None), oldest first, as they stand now."""
        if channel is None:
            found = [m for msgs in self.messages.values() for m in msgs.values() if m.from_bot]
            return sorted(found, key=lambda m: Decimal(m.ts))
        return [m for m in self.messages[self.resolve(channel).id].values() if m.from_bot]

    def last_blocks(self, channel: str) -> list[Json]:
        """The blocks of the bot's latest message in ``channel``."""
        posted = self.posted(channel)
        if not posted:
            raise AssertionError(f"the bot posted nothing in {channel}")
        return posted[-1].blocks

    @staticmethod
    def button_texts(message: Message | Mapping[str, Any] | list[Json]) -> list[str]:
        """The labels of every button in a message (actions elements and section accessories), in order."""
        if isinstance(message, Message):
            blocks: list[Any] = message.blocks
        elif isinstance(message, list):
            blocks = message
        else:
            blocks = list(message.get("blocks") or [])
        texts: list[str] = []
        for block in blocks:
            elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
            if isinstance(block.get("accessory"), dict):
                elements.append(block["accessory"])
            texts += [e["text"]["text"] for e in elements if e.get("type") == "button"]
        return texts

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages shown to ``user`` (everyone when None), in order."""
        return [e for e in self.ephemeral if user is None or e.user == user]

    def responses_to(self, id: str) -> list[Json]:
        """Bodies posted to one response_url id, in order."""
        return [r.body for r in self.responses if r.id == id]

    def opened_views(self, user: str | None = None) -> list[View]:
        """Views opened (for ``user``), in order."""
        return [v for v in self.views.values() if user is None or v.user == user]

    # ---- Socket Mode

    async def socket_connected(self, timeout: float = 3.0) -> None:
        """Wait until a Socket Mode client is connected to ``/link``."""
        async with asyncio.timeout(timeout):
            while not self._sockets:
                await asyncio.sleep(0.01)

    async def socket_push(self, envelope: Json, *, timeout: float = 3.0) -> str:
        """Send an envelope to the newest connected client; returns its ``envelope_id`` (added when missing)."""
        await self.socket_connected(timeout)
        envelope = {"envelope_id": str(uuid.uuid4()), **envelope}
        await self._sockets[-1].send_json(envelope)
        return str(envelope["envelope_id"])

    async def socket_ack(self, envelope_id: str, timeout: float = 3.0) -> Json:
        """Wait for the client's ack of ``envelope_id`` and return it."""
        async with asyncio.timeout(timeout):
            while True:
                for ack in self.socket_acks:
                    if ack.get("envelope_id") == envelope_id:
                        return ack
                await asyncio.sleep(0.01)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message; except for ``warning``, close the socket as Slack then does."""
        for ws in list(self._sockets):
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})
            if reason != "warning":
                await ws.close(code=WSCloseCode.GOING_AWAY)

    # ---- rate limit

    def _rate_wait(self, channel: str) -> int | None:
        rate = self.per_channel_rate
        if rate is None:
            return None
        window = max(1.0, 1.0 / rate)
        allowed = max(1, int(rate * window))
        now = self.clock()
        recent = [t for t in self._post_times[channel] if now - t < window]
        self._post_times[channel] = recent
        if len(recent) < allowed:
            return None
        if self.retry_after is not None:
            return self.retry_after
        return max(1, math.ceil(recent[0] + window - now))


# --------------------------------------------------------------------------------------------------------------------
# Validation


def _text_errors(obj: Any, ptr: str, *, limit: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return [f"failed to match all allowed schemas [json-pointer:{ptr}]"]
    allowed = {"plain_text"} if plain_only else {"plain_text", "mrkdwn"}
    if obj.get("type") not in allowed:
        return [f"must be a valid enum value [json-pointer:{ptr}/type]"]
    size = len(obj["text"])
    if size == 0:
        return [f"must be more than 0 characters [json-pointer:{ptr}/text]"]
    if size > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{ptr}/text]"]
    return []


def _element_errors(element: Any, ptr: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"failed to match all allowed schemas [json-pointer:{ptr}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ACTION_ID):
        errors.append(f"must be less than {MAX_ACTION_ID + 1} characters [json-pointer:{ptr}/action_id]")
    if element["type"] == "button":
        errors += _text_errors(element.get("text"), f"{ptr}/text", limit=MAX_BUTTON_TEXT, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            errors.append(f"must be less than {MAX_BUTTON_VALUE + 1} characters [json-pointer:{ptr}/value]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be a valid enum value [json-pointer:{ptr}/style]")
    return errors


def _block_errors(blocks: Any, *, ptr: str, max_blocks: int) -> list[str]:
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{ptr}]"]
    if len(blocks) > max_blocks:
        return [f"no more than {max_blocks} items allowed [json-pointer:{ptr}]"]
    errors: list[str] = []
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        here = f"{ptr}/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            errors.append(f"failed to match all allowed schemas [json-pointer:{here}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID:
                errors.append(f"must be less than {MAX_BLOCK_ID + 1} characters [json-pointer:{here}/block_id]")
            elif block_id in block_ids:
                errors.append(f"duplicate block_id [json-pointer:{here}/block_id]")
            else:
                block_ids.add(block_id)
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide either text or fields [json-pointer:{here}]")
            if "text" in block:
                errors += _text_errors(block["text"], f"{here}/text", limit=MAX_SECTION_TEXT)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not fields:
                    errors.append(f"must be a non-empty array [json-pointer:{here}/fields]")
                elif len(fields) > MAX_FIELDS:
                    errors.append(f"no more than {MAX_FIELDS} items allowed [json-pointer:{here}/fields]")
                else:
                    for j, item in enumerate(fields):
                        errors += _text_errors(item, f"{here}/fields/{j}", limit=MAX_FIELD_TEXT)
            if "accessory" in block:
                errors += _element_errors(block["accessory"], f"{here}/accessory")
        elif kind == "header":
            errors += _text_errors(block.get("text"), f"{here}/text", limit=MAX_HEADER_TEXT, plain_only=True)
        elif kind in ("actions", "context"):
            elements = block.get("elements")
            limit = MAX_ACTIONS_ELEMENTS if kind == "actions" else MAX_CONTEXT_ELEMENTS
            if not isinstance(elements, list) or not elements:
                errors.append(f"must be a non-empty array [json-pointer:{here}/elements]")
                continue
            if len(elements) > limit:
                errors.append(f"no more than {limit} items allowed [json-pointer:{here}/elements]")
                continue
            action_ids: set[str] = set()
            for j, element in enumerate(elements):
                at = f"{here}/elements/{j}"
                if kind == "context":
                    if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                        errors += _text_errors(element, at, limit=MAX_SECTION_TEXT)
                    elif not isinstance(element, dict) or element.get("type") != "image":
                        errors.append(f"failed to match all allowed schemas [json-pointer:{at}]")
                    continue
                errors += _element_errors(element, at)
                action_id = element.get("action_id") if isinstance(element, dict) else None
                if isinstance(action_id, str):
                    if action_id in action_ids:
                        errors.append(f"duplicate action_id [json-pointer:{at}/action_id]")
                    action_ids.add(action_id)
        elif kind == "input":
            errors += _text_errors(block.get("label"), f"{here}/label", limit=2000, plain_only=True)
            if "element" not in block:
                errors.append(f"missing required field: element [json-pointer:{here}]")
            else:
                errors += _element_errors(block["element"], f"{here}/element")
    return errors


def _parse_blocks(args: Json, key: str = "blocks") -> list[Json] | None:
    """The ``blocks`` argument (a list, or a JSON string in form bodies); None when absent."""
    raw = args.get(key)
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _ApiError("invalid_blocks_format") from None
    if not isinstance(raw, list):
        raise _ApiError("invalid_blocks_format")
    errors = _block_errors(raw, ptr="/blocks", max_blocks=MAX_BLOCKS_MESSAGE)
    if errors:
        raise _ApiError(
            "invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
        )
    return raw


def _message_content(args: Json, *, required: bool = True) -> tuple[str | None, list[Json] | None]:
    blocks = _parse_blocks(args)
    text = args.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)
    if required and not text and not blocks and not args.get("attachments") and not args.get("markdown_text"):
        raise _ApiError("no_text")
    if text is not None and len(text) > MAX_TEXT:
        raise _ApiError("msg_too_long")
    return text, blocks


def _view_errors(view: Any) -> list[str]:
    if not isinstance(view, dict):
        return ["failed to match all allowed schemas [json-pointer:/view]"]
    errors: list[str] = []
    if view.get("type") not in ("modal", "home"):
        errors.append("must be a valid enum value [json-pointer:/view/type]")
    if view.get("type") == "modal":
        errors += _text_errors(view.get("title"), "/view/title", limit=MAX_VIEW_TITLE, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                errors += _text_errors(view[key], f"/view/{key}", limit=MAX_VIEW_TITLE, plain_only=True)
        blocks = view.get("blocks")
        if (
            isinstance(blocks, list)
            and "submit" not in view
            and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        ):
            errors.append("submit is required when an input block is present [json-pointer:/view/submit]")
    errors += _block_errors(view.get("blocks"), ptr="/view/blocks", max_blocks=MAX_BLOCKS_VIEW)
    metadata = view.get("private_metadata", "")
    if not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA:
        errors.append(f"must be less than {MAX_PRIVATE_METADATA + 1} characters [json-pointer:/view/private_metadata]")
    callback_id = view.get("callback_id", "")
    if not isinstance(callback_id, str) or len(callback_id) > MAX_BLOCK_ID:
        errors.append(f"must be less than {MAX_BLOCK_ID + 1} characters [json-pointer:/view/callback_id]")
    return errors


def _parse_view(args: Json) -> Json:
    raw = args.get("view")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    errors = _view_errors(raw)
    if errors:
        messages = ["[ERROR] failed to match all allowed schemas [json-pointer:/view]"]
        raise _ApiError(
            "invalid_arguments", response_metadata={"messages": messages + [f"[ERROR] {e}" for e in errors]}
        )
    assert isinstance(raw, dict)
    return raw


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true")


def _ts_key(ts: Any) -> Decimal:
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        raise _ApiError("invalid_ts_latest") from None


def _check_channel_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _ApiError("invalid_name_required")
    if len(name) > MAX_CHANNEL_NAME:
        raise _ApiError("invalid_name_maxlength")
    if all(c in "-_" for c in name):
        raise _ApiError("invalid_name_punctuation")
    if any(not (c in "-_" or c.isdigit() or (c.isalpha() and c == c.lower())) for c in name):
        raise _ApiError("invalid_name_specials")
    return name


# --------------------------------------------------------------------------------------------------------------------
# The application


Handler = Callable[[Json], Json]


def app(state: SlackState | None = None, *, per_channel_rate: float | None = 1.0) -> web.Application:
    """The fake Slack: ``/api/<method>``, ``POST /response/<id>`` and the Socket Mode WebSocket ``/link``.

    ``per_channel_rate`` = ``chat.postMessage`` calls allowed per second per channel (None: unlimited); the
    next one gets HTTP 429 ``ratelimited`` with an integer ``Retry-After``.
    """
    st = state if state is not None else SlackState()
    st.per_channel_rate = per_channel_rate

    def channel_for(ref: Any, *, member: bool = True, writable: bool = False) -> Channel:
        if not isinstance(ref, str) or not ref:
            raise _ApiError("channel_not_found")
        try:
            channel = st.resolve(ref)
        except KeyError:
            raise _ApiError("channel_not_found") from None
        if channel.is_private and not channel.is_member:
            raise _ApiError("channel_not_found")  # private channels are invisible to non-members
        if writable and channel.archived:
            raise _ApiError("is_archived")
        if member and not channel.is_member:
            raise _ApiError("not_in_channel")
        return channel

    def dm_channel(user: str) -> Channel:
        for channel in st.channels.values():
            if channel.is_im and channel.members == {BOT_USER_ID, user}:
                return channel
        channel = Channel(id=st._next_id("D"), name=user, is_im=True, members={BOT_USER_ID, user})
        st.channels[channel.id] = channel
        return channel

    def auth_test(args: Json) -> Json:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_DOMAIN,
            "user": "soarbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def api_test(args: Json) -> Json:
        return {"ok": True, "args": {k: v for k, v in args.items() if k != "token"}}

    def post_message(args: Json) -> Json:
        ref = args.get("channel")
        if isinstance(ref, str) and ref[:1] in ("U", "W") and ref not in st.channels:
            channel = dm_channel(ref)
        else:
            channel = channel_for(ref, writable=True)
        wait = st._rate_wait(channel.id)
        if wait is not None:
            st.rate_limited += 1
            raise _RateLimited(wait)
        text, blocks = _message_content(args)
        thread_ts = args.get("thread_ts") or None
        message = Message(
            channel=channel.id,
            ts=st.next_ts(),
            text=text or "",
            blocks=blocks or [],
            thread_ts=str(thread_ts) if thread_ts else None,
            reply_broadcast=_flag(args.get("reply_broadcast", False)),
            metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
        )
        st.messages[channel.id][message.ts] = message
        st._post_times[channel.id].append(st.clock())
        return {"ok": True, "channel": channel.id, "ts": message.ts, "message": message.to_api()}

    def update(args: Json) -> Json:
        channel = channel_for(args.get("channel"), member=False, writable=True)
        message = st.messages[channel.id].get(str(args.get("ts", "")))
        if message is None:
            raise _ApiError("message_not_found")
        if not message.from_bot:
            raise _ApiError("cant_update_message")
        text, blocks = _message_content(args)
        if blocks is not None:
            message.blocks = blocks
        elif text is not None:
            message.blocks = []  # text without blocks replaces the blocks (Slack keeps them only if both omitted)
        if text is not None:
            message.text = text
        message.edits += 1
        message.edited_ts = st.next_ts()
        return {"ok": True, "channel": channel.id, "ts": message.ts, "text": message.text, "message": message.to_api()}

    def post_ephemeral(args: Json) -> Json:
        channel = channel_for(args.get("channel"), writable=True)
        user = args.get("user")
        if not isinstance(user, str) or not user:
            raise _ApiError("user_not_found")
        if user not in channel.members:
            raise _ApiError("user_not_in_channel")
        text, blocks = _message_content(args)
        message_ts = st.next_ts()
        thread_ts = args.get("thread_ts")
        st.ephemeral.append(
            Ephemeral(channel.id, user, text or "", blocks or [], str(thread_ts) if thread_ts else None, message_ts)
        )
        return {"ok": True, "message_ts": message_ts}

    def get_permalink(args: Json) -> Json:
        channel = channel_for(args.get("channel"), member=False)
        message = st.messages[channel.id].get(str(args.get("message_ts", "")))
        if message is None:
            raise _ApiError("message_not_found")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.thread_ts and message.thread_ts != message.ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"ok": True, "channel": channel.id, "permalink": link}

    def create(args: Json) -> Json:
        name = _check_channel_name(args.get("name"))
        if any(c.name == name for c in st.channels.values() if not c.is_im):
            raise _ApiError("name_taken")
        channel = Channel(
            id=st._next_id("C"),
            name=name,
            is_private=_flag(args.get("is_private", False)),
            members={BOT_USER_ID},
            created=int(time.time()),
            creator=BOT_USER_ID,
        )
        st.channels[channel.id] = channel
        return {"ok": True, "channel": channel.to_api()}

    def invite(args: Json) -> Json:
        channel = channel_for(args.get("channel"), writable=True)
        raw = args.get("users")
        users = [u.strip() for u in raw.split(",")] if isinstance(raw, str) else list(raw or [])
        users = [u for u in users if u]
        if not users:
            raise _ApiError("no_user")
        if len(users) > 1000:
            raise _ApiError("too_many_users")
        for user in users:
            if user == BOT_USER_ID:
                raise _ApiError("cant_invite_self")
            if user[:1] not in ("U", "W"):
                raise _ApiError("user_not_found")
            if user in channel.members:
                raise _ApiError("already_in_channel")
        channel.members.update(users)
        return {"ok": True, "channel": channel.to_api()}

    def join(args: Json) -> Json:
        channel = channel_for(args.get("channel"), member=False)
        if channel.is_private or channel.is_im:
            raise _ApiError("method_not_supported_for_channel_type")
        if channel.archived:
            raise _ApiError("is_archived")
        answer: Json = {"ok": True, "channel": channel.to_api()}
        if channel.is_member:
            answer.update({"warning": "already_in_channel", "response_metadata": {"warnings": ["already_in_channel"]}})
        channel.members.add(BOT_USER_ID)
        answer["channel"] = channel.to_api()
        return answer

    def set_text(kind: str) -> Handler:
        def handler(args: Json) -> Json:
            channel = channel_for(args.get("channel"), writable=True)
            value = args.get(kind)
            value = "" if value is None else str(value)
            if len(value) > MAX_TOPIC:
                raise _ApiError("too_long")
            setattr(channel, kind, value)
            return {"ok": True, "channel": channel.to_api()}

        return handler

    def archive(args: Json) -> Json:
        channel = channel_for(args.get("channel"))
        if channel.archived:
            raise _ApiError("already_archived")
        channel.archived = True
        return {"ok": True}

    def info(args: Json) -> Json:
        channel = channel_for(args.get("channel"), member=False)
        return {"ok": True, "channel": channel.to_api(num_members=_flag(args.get("include_num_members", False)))}

    def history(args: Json) -> Json:
        channel = channel_for(args.get("channel"))
        try:
            limit = int(args.get("limit") or 100)
        except ValueError:
            raise _ApiError("invalid_limit") from None
        limit = min(max(limit, 1), 999)
        inclusive = _flag(args.get("inclusive", False))
        oldest = _ts_key(args.get("oldest") or "0")
        latest = _ts_key(args["latest"]) if args.get("latest") else None
        top = [m for m in st.messages[channel.id].values() if m.thread_ts in (None, m.ts) or m.reply_broadcast]
        newest_first = sorted(top, key=lambda m: _ts_key(m.ts), reverse=True)

        def in_range(m: Message) -> bool:
            key = _ts_key(m.ts)
            above = key >= oldest if inclusive else key > oldest
            below = latest is None or (key <= latest if inclusive else key < latest)
            return above and below

        window = [m for m in newest_first if in_range(m)]
        start = 0
        cursor = args.get("cursor")
        if cursor:
            try:
                decoded = base64.b64decode(str(cursor), validate=True).decode()
            except ValueError:
                raise _ApiError("invalid_cursor") from None
            if not decoded.startswith("next_ts:"):
                raise _ApiError("invalid_cursor")
            marker = decoded.removeprefix("next_ts:")
            start = next((i for i, m in enumerate(window) if m.ts == marker), len(window))
        page = window[start : start + limit]
        more = start + limit < len(window)
        replies: Counter[str] = Counter(
            m.thread_ts for m in st.messages[channel.id].values() if m.thread_ts and m.thread_ts != m.ts
        )
        messages = []
        for m in page:
            item = m.to_api()
            if replies[m.ts]:
                item.update({"thread_ts": m.ts, "reply_count": replies[m.ts]})
            messages.append(item)
        answer: Json = {
            "ok": True,
            "messages": messages,
            "has_more": more,
            "pin_count": len(st.pins[channel.id]),
        }
        if more:
            next_cursor = base64.b64encode(f"next_ts:{window[start + limit].ts}".encode()).decode()
            answer["response_metadata"] = {"next_cursor": next_cursor}
        return answer

    def pins_add(args: Json) -> Json:
        channel = channel_for(args.get("channel"), writable=True)
        ts = str(args.get("timestamp", ""))
        if ts not in st.messages[channel.id]:
            raise _ApiError("message_not_found")
        if ts in st.pins[channel.id]:
            raise _ApiError("already_pinned")
        st.pins[channel.id].append(ts)
        return {"ok": True}

    def usergroup_users(args: Json) -> Json:
        group = args.get("usergroup")
        if group not in st.usergroups:
            raise _ApiError("no_such_subteam")
        return {"ok": True, "users": list(st.usergroups[str(group)])}

    def views_open(args: Json) -> Json:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger_id:
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing trigger_id"]})
        trigger = st.triggers.get(str(trigger_id))
        if trigger is None:
            raise _ApiError("expired_trigger_id")  # an id the test never issued behaves like a stale one
        if trigger.used:
            raise _ApiError("exchanged_trigger_id")
        if st.clock() - trigger.issued > TRIGGER_LIFETIME:
            raise _ApiError("expired_trigger_id")
        view = _parse_view(args)
        trigger.used = True
        opened = View(id=st._next_id("V"), user=trigger.user, trigger_id=str(trigger_id), view=view, hash=_view_hash())
        st.views[opened.id] = opened
        return {"ok": True, "view": opened.to_api()}

    def views_update(args: Json) -> Json:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] view_id or external_id"]})
        found = st.views.get(str(view_id)) if view_id else None
        if external_id:
            found = next((v for v in st.views.values() if v.view.get("external_id") == external_id), None)
        if found is None:
            raise _ApiError("not_found")
        if args.get("hash") and args["hash"] != found.hash:
            raise _ApiError("hash_conflict")
        found.view = _parse_view(args)
        found.hash = _view_hash()
        found.updates += 1
        return {"ok": True, "view": found.to_api()}

    def connections_open(args: Json) -> Json:
        return {"ok": True, "url": f"{st.url.replace('http://', 'ws://', 1)}/link?ticket={uuid.uuid4()}"}

    handlers: dict[str, Handler] = {
        "api.test": api_test,
        "auth.test": auth_test,
        "chat.postMessage": post_message,
        "chat.update": update,
        "chat.postEphemeral": post_ephemeral,
        "chat.getPermalink": get_permalink,
        "conversations.create": create,
        "conversations.invite": invite,
        "conversations.join": join,
        "conversations.setTopic": set_text("topic"),
        "conversations.setPurpose": set_text("purpose"),
        "conversations.archive": archive,
        "conversations.history": history,
        "conversations.info": info,
        "pins.add": pins_add,
        "usergroups.users.list": usergroup_users,
        "views.open": views_open,
        "views.update": views_update,
        "apps.connections.open": connections_open,
    }
    assert set(handlers) == set(METHODS)

    def learn_url(request: web.Request) -> None:
        if not st.url:
            st.url = f"{request.scheme}://{request.host}"

    async def api(request: web.Request) -> web.StreamResponse:
        learn_url(request)
        method = request.match_info["method"]
        headers = dict(request.headers)
        args: Json = dict(request.query)
        bad_json = False
        body_kind = "none"
        if request.method == "POST" and request.body_exists:
            body_kind = "json" if request.content_type == "application/json" else "form"
            if body_kind == "json":
                try:
                    body = await request.json()
                except ValueError:
                    bad_json = True
                else:
                    if isinstance(body, dict):
                        args.update(body)
                    else:
                        bad_json = True
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        token = _bearer(request.headers.get("Authorization")) or args.pop("token", None)
        args.pop("token", None)
        call = Call(method, args, headers, request.method, dict(request.query), body_kind)
        st.log.append(call)
        st.counts[method] += 1

        def answer(body: Json, status: int = 200, extra_headers: Mapping[str, str] | None = None) -> web.Response:
            call.status, call.response = status, body
            return web.json_response(body, status=status, headers=extra_headers)

        if method not in handlers:
            return answer({"ok": False, "error": "unknown_method", "req_method": method})
        fault = st.faults[method].pop(0) if st.faults[method] else None
        if fault is not None and not fault.landed:
            return await _fault_response(request, call, fault)
        if bad_json:
            return answer({"ok": False, "error": "invalid_json"})
        if method != "api.test":
            wanted, other = (
                (st.app_tokens, st.bot_tokens) if method == "apps.connections.open" else (st.bot_tokens, st.app_tokens)
            )
            if not token:
                return answer({"ok": False, "error": "not_authed"})
            if token in other:
                return answer({"ok": False, "error": "not_allowed_token_type"})
            if token not in wanted:
                return answer({"ok": False, "error": "invalid_auth"})
        try:
            body = handlers[method](args)
        except _RateLimited as limited:
            return answer({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(limited.retry_after)})
        except _ApiError as err:
            body = {"ok": False, "error": err.error, **err.extra}
        if fault is not None:
            return await _fault_response(request, call, fault)
        return answer(body)

    async def response_url(request: web.Request) -> web.StreamResponse:
        learn_url(request)
        response_id = request.match_info["id"]
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        call = Call(method="response_url", args=body, headers=dict(request.headers), http_method="POST")
        st.log.append(call)
        st.counts["response_url"] += 1
        if st.faults["response_url"]:
            return await _fault_response(request, call, st.faults["response_url"].pop(0))
        if len(st.responses_to(response_id)) >= RESPONSE_URL_USES:
            call.status = 404
            return web.Response(status=404, text="used_url")
        st.responses.append(ResponsePost(response_id, body, dict(request.headers)))
        return web.Response(text="ok")

    async def link(request: web.Request) -> web.StreamResponse:
        learn_url(request)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        st.socket_connects += 1
        st._sockets.append(ws)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(st._sockets),
                    "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                st.socket_received.append(data)
                if isinstance(data, dict) and "envelope_id" in data:
                    st.socket_acks.append(data)
        finally:
            st._sockets.remove(ws)
        return ws

    async def close_sockets(_: web.Application) -> None:
        for ws in list(st._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)

    application = web.Application()
    application.router.add_route("*", "/api/{method}", api)
    application.router.add_post("/response/{id}", response_url)
    application.router.add_get("/link", link)
    application.on_shutdown.append(close_sockets)
    return application


class _RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _view_hash() -> str:
    return f"{int(time.time())}.{uuid.uuid4().hex[:8]}"


async def _fault_response(request: web.Request, call: Call, fault: Fault) -> web.StreamResponse:
    if fault.drop:
        call.status = 0
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # the client sees the connection die without an answer
    call.status, call.response = fault.status, fault.json
    if fault.json is None:
        return web.Response(status=fault.status, headers=fault.headers)
    return web.json_response(fault.json, status=fault.status, headers=fault.headers)


@contextlib.asynccontextmanager
async def slack_server(
    state: SlackState | None = None, *, per_channel_rate: float | None = 1.0
) -> AsyncIterator[SlackState]:
    """Serve the fake on 127.0.0.1 for a test; yields the state with ``url`` / ``api_url`` set."""
    st = state if state is not None else SlackState()
    async with serve(app(st, per_channel_rate=per_channel_rate)) as fake:
        st.url = fake.url
        yield st


# --------------------------------------------------------------------------------------------------------------------
# Inbound payloads (what Slack POSTs to the bot)


class Signed(NamedTuple):
    """A signed inbound request: raw body bytes and headers (unpacks as ``body, headers``)."""

    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """The body as text (what ``AsyncBoltRequest(body=...)`` takes)."""
        return self.body.decode()


def sign(
    secret: str,
    body: bytes | str,
    ts: int | None = None,
    *,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """Headers Slack sends with ``body``: ``v0=`` + hex HMAC-SHA256(secret, ``v0:<ts>:<body>``)."""
    raw = body.encode() if isinstance(body, str) else body
    stamp = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), b"v0:" + str(stamp).encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": str(stamp),
        "x-slack-signature": f"v0={mac}",
    }


def _trigger() -> str:
    return f"{int(time.time())}.{TEAM_ID}.{uuid.uuid4().hex}"


def _payload_form(payload: Json) -> bytes:
    return ("payload=" + quote(json.dumps(payload, separators=(",", ":")), safe="")).encode()


def slash_command(
    secret: str,
    *,
    user: str,
    channel: str,
    text: str,
    command: str = "/soar",
    response_url: str = "https://hooks.slack.com/commands/T0/1/fake",
    trigger_id: str | None = None,
    channel_name: str = "incidents",
    user_name: str | None = None,
    timestamp: int | None = None,
) -> Signed:
    """A signed slash-command POST (form-encoded, fields in Slack's order)."""
    fields = {
        "token": "verification_token",
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": user_name or user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger(),
    }
    body = urlencode(fields).encode()
    return Signed(body, sign(secret, body, timestamp))


def block_actions(
    secret: str,
    *,
    user: str,
    action_id: str,
    value: str,
    channel: str,
    message_ts: str,
    trigger_id: str | None = None,
    block_id: str = "actions",
    button_text: str = "Button",
    message: Mapping[str, Any] | None = None,
    response_url: str = "https://hooks.slack.com/actions/T0/1/fake",
    timestamp: int | None = None,
) -> Signed:
    """A signed ``block_actions`` POST for a button click on a Block Kit message (``payload=<JSON>``).

    Pass ``message=state.message(channel, ts).to_api()`` to include the clicked message as Slack does.
    """
    payload: Json = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification_token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": trigger_id or _trigger(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "incidents"},
        "message": dict(message)
        if message is not None
        else {"type": "message", "ts": message_ts, "user": BOT_USER_ID, "bot_id": BOT_ID, "text": ""},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = _payload_form(payload)
    return Signed(body, sign(secret, body, timestamp))


def view_submission(
    secret: str,
    *,
    user: str,
    callback_id: str,
    private_metadata: str = "",
    values: Mapping[str, Mapping[str, Any]] | None = None,
    view_id: str = "V0VIEW",
    trigger_id: str | None = None,
    timestamp: int | None = None,
) -> Signed:
    """A signed ``view_submission`` POST; ``values`` maps block_id → action_id → text (or a full value dict)."""
    state_values = {
        block_id: {
            action_id: (v if isinstance(v, Mapping) else {"type": "plain_text_input", "value": v})
            for action_id, v in actions.items()
        }
        for block_id, actions in (values or {}).items()
    }
    payload: Json = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification_token",
        "trigger_id": trigger_id or _trigger(),
        "view": {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state_values},
            "hash": "1700000000.fakehash",
            "title": {"type": "plain_text", "text": "soarbot"},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    body = _payload_form(payload)
    return Signed(body, sign(secret, body, timestamp))


def event_callback(
    secret: str,
    event: Mapping[str, Any],
    *,
    event_id: str,
    event_time: int | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    timestamp: int | None = None,
) -> Signed:
    """A signed Events API ``event_callback`` (JSON); ``retry_num`` adds Slack's redelivery headers."""
    payload: Json = {
        "token": "verification_token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": dict(event),
        "type": "event_callback",
        "authorizations": [
            {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}
        ],
        "event_id": event_id,
        "event_time": int(time.time()) if event_time is None else event_time,
    }
    body = json.dumps(payload).encode()
    headers = sign(secret, body, timestamp, content_type="application/json")
    if retry_num is not None:
        headers.update({"x-slack-retry-num": str(retry_num), "x-slack-retry-reason": retry_reason})
    return Signed(body, headers)


def socket_envelope(
    kind: str, payload: Mapping[str, Any], *, envelope_id: str | None = None, retry_attempt: int | None = None
) -> Json:
    """A Socket Mode envelope (``events_api`` | ``interactive`` | ``slash_commands``) for ``state.socket_push``."""
    envelope: Json = {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "type": kind,
        "accepts_response_payload": kind != "events_api",
        "payload": dict(payload),
    }
    if kind == "events_api":
        envelope.update({"retry_attempt": retry_attempt or 0, "retry_reason": "timeout" if retry_attempt else ""})
    return envelope
