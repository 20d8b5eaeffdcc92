"""The conversation as the case record: messages, edits, deletions and highlights become timeline events.

A message in an incident channel, or in a case's thread, is appended to that case's timeline with its author,
time stamp and permalink. An edit or a deletion is a new event; the original stays. A 📌 reaction or a pin
writes ``highlight``. Each platform delivery is written once (its id is marked seen in the same write), and the
bot's own messages are not recorded.
"""

from __future__ import annotations

import hashlib
import logging

from bot.core.events import ChatMessageDeleted, ChatMessageEdited, ChatMessagePosted, Highlight
from bot.core.models import user_key
from bot.core.ports import MessagePosted, ReactionAdded
from commands.base import Runtime, redact

logger = logging.getLogger(__name__)

MESSAGE_EVENTS: dict[str, type[ChatMessagePosted | ChatMessageEdited | ChatMessageDeleted]] = {
    "posted": ChatMessagePosted,
    "edited": ChatMessageEdited,
    "deleted": ChatMessageDeleted,
}
HIGHLIGHT_REACTIONS = frozenset({"pushpin", "pin", "round_pushpin", "📌"})


async def _case_for(rt: Runtime, platform: str, channel: str, thread: str | None) -> int | None:
    incident = await rt.incidents.for_channel(channel)
    if incident is not None:
        return incident.case_id
    if thread:
        return await rt.services.case_for_thread(platform, channel, thread)
    return None


def _own(rt: Runtime, user: str) -> bool:
    return not user or user == rt.services.bot_user()


async def on_message(rt: Runtime, event: MessagePosted) -> None:
    """Write a message (or its edit or deletion) to its case's timeline, once."""
    payload_type = MESSAGE_EVENTS.get(event.kind)
    if payload_type is None or _own(rt, event.user):
        return
    author = user_key(event.platform, event.user)
    case_id = await _case_for(rt, event.platform, event.channel, event.thread)
    if case_id is None:
        return
    text, redacted = redact(event.text)
    message = payload_type(
        platform=event.platform,
        channel=event.channel,
        author=author,
        ts=event.message_id,  # the record's keys predate other platforms; they hold the platform's ids
        thread_ts=event.thread,
        permalink=event.permalink,
        text=text,
        redacted=True if redacted else None,  # the key is written only when something was redacted
    )
    if event.event_id:
        delivery = f"{event.platform}:{event.event_id}"
    else:  # no delivery id: the message itself, so a second edit with new text is still recorded
        digest = hashlib.sha256(event.text.encode()).hexdigest()[:16]
        delivery = f"{event.platform}:{event.channel}:{event.message_id}:{event.kind}:{digest}"
    written = await rt.incidents.record_once(
        case_id, delivery=delivery, event=message, actor=user_key(event.platform, event.user)
    )
    if written is None:
        logger.debug("Delivery %s was already recorded", delivery)


async def on_reaction(rt: Runtime, event: ReactionAdded) -> None:
    """Write a 📌 reaction or a pin as a ``highlight`` of the message, once; other reactions are not recorded."""
    if event.reaction not in HIGHLIGHT_REACTIONS or _own(rt, event.user):
        return
    author = user_key(event.platform, event.user)
    case_id = await _case_for(rt, event.platform, event.channel, event.message_id)
    if case_id is None:
        return
    highlight = Highlight(
        platform=event.platform,
        channel=event.channel,
        author=author,
        message_ts=event.message_id,
        via="pin" if event.reaction == "pin" else "reaction",
    )
    delivery = (
        f"{event.platform}:{event.event_id}"
        if event.event_id
        else f"{event.platform}:{event.channel}:{event.message_id}:{event.user}:{event.reaction}"
    )
    await rt.incidents.record_once(
        case_id, delivery=delivery, event=highlight, actor=user_key(event.platform, event.user)
    )
