"""Platform-neutral chat commands (``/soar ...``), button clicks and the conversation record.

A chat adapter turns a platform payload into a :data:`bot.core.ports.ChatEvent` and awaits
:meth:`CommandRouter.dispatch`; the answer is a neutral :class:`bot.core.ports.Reply` (private unless ``public``)
or None. ``dispatch`` is the one error boundary for chat: a mistake or a refusal becomes a plain sentence, a
source outage a short notice, anything else is logged with an error id that the user is shown.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.cases import CaseService
from bot.core.errors import ConnectorError, PermissionDenied, StoreUnavailable, UserInputError
from bot.core.models import Observable, user_key, utcnow
from bot.core.ports import (
    ButtonClicked,
    ChatChannels,
    ChatEvent,
    ChatOut,
    CommandInvoked,
    MessagePosted,
    ReactionAdded,
    Reply,
)
from bot.enrichment import EnrichmentService
from bot.incidents import IncidentService, Overview
from commands import approvals, case, digest, enrich, help, incident, record
from commands.base import Args, CommandContext, Permission, Runtime, refusal, roles_of, shorten
from playbooks.engine.approvals import Access
from playbooks.engine.runner import Engine

if TYPE_CHECKING:
    # Only the type: the composition root hands the one UnitOfWork over; commands never open or query it.
    from bot.store.tx import UnitOfWork

__all__ = ["CommandRouter", "Services"]

logger = logging.getLogger(__name__)


async def no_case_thread(platform: str, channel: str, thread: str) -> int | None:
    """The default ``case_for_thread``: no thread belongs to a case."""
    return None


@dataclass(kw_only=True, slots=True)
class Services:
    """Everything the commands need, built by the composition root (``bot.app``).

    ``incident_responders`` are invited to every incident channel; ``bot_user()`` is the bot's own chat user
    id once known (its messages are not recorded); ``case_for_thread(platform, channel, thread)`` names the case
    whose card thread that is (the outbox knows); ``incidents`` is the incident service the engine uses too
    (built from ``channels`` and the responders when not given); ``chat`` answers ``--share`` in the caller's
    channel.
    """

    cases: CaseService
    enrichment: EnrichmentService
    engine: Engine
    access: Access
    chat: ChatOut | None = None
    channels: ChatChannels | None = None
    db: UnitOfWork
    classify: Callable[[str], Observable | None]
    incident_responders: list[str] = field(default_factory=list)
    archive_on_resolve: bool = True
    bot_user: Callable[[], str | None] = lambda: None
    case_for_thread: Callable[[str, str, str], Awaitable[int | None]] = no_case_thread
    incidents: IncidentService | None = None
    clock: Callable[[], datetime] = utcnow


_COMMANDS = {
    "enrich": enrich.run,
    "case": case.run,
    "incident": incident.run,
    "approvals": approvals.run,
    "digest": digest.run,
    "help": help.run,
}


class CommandRouter:
    """Routes chat events: ``/soar`` commands, button clicks, and messages and reactions for the case record."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.incidents = services.incidents or IncidentService(
            services.db,
            services.cases,
            channels=services.channels,
            responders=services.incident_responders,
            archive_on_resolve=services.archive_on_resolve,
            clock=services.clock,
        )
        self._rt = Runtime(services, self.incidents, Overview(services.db))

    def context(self, platform: str, user: str, channel: str) -> CommandContext:
        """Who is acting (as their user key: a Slack id bare, ``platform:id`` elsewhere), with the roles they hold."""
        key = user_key(platform, user)
        return CommandContext(key, roles_of(key, self.services.access), channel, platform)

    async def dispatch(self, event: ChatEvent) -> Reply | None:
        """Handle one chat event; the immediate private answer, or None when there is nothing to say."""
        try:
            return await self._route(event)
        except (UserInputError, PermissionDenied) as err:
            return _answer(event, str(err))
        except ConnectorError:
            logger.warning("A source failed while handling %s", type(event).__name__, exc_info=True)
            return _answer(event, "A connected service is unavailable right now; try again in a few minutes.")
        except StoreUnavailable:
            logger.warning("The store could not take %s", type(event).__name__)
            return _answer(event, "The case store is busy right now; try again in a moment.")
        except Exception:
            error_id = secrets.token_hex(4)
            logger.exception("Handling %s failed (error %s)", type(event).__name__, error_id)
            return _answer(event, f"Something went wrong on our side (error {error_id}); quote this id to the team.")

    async def _route(self, event: ChatEvent) -> Reply | None:
        match event:
            case CommandInvoked():
                return await self._command(event)
            case ButtonClicked():
                return await self._click(event)
            case MessagePosted():
                await record.on_message(self._rt, event)
                return None
            case ReactionAdded():
                await record.on_reaction(self._rt, event)
                return None

    async def _command(self, event: CommandInvoked) -> Reply:
        ctx = self.context(event.platform, event.user, event.channel)
        args = Args(event.text)
        name = (args.next_or_none() or "help").lower()
        handler = _COMMANDS.get(name)
        if not ctx.roles:
            # Someone without any role learns nothing, not even the syntax. The handler still runs, so that an
            # attempt on a case is recorded there and refused in its words; a mistake it finds first is a refusal
            # too, and no answer of a handler ever reaches this caller.
            if handler is not None:
                with contextlib.suppress(UserInputError):
                    await handler(self._rt, ctx, args)
            raise PermissionDenied(refusal(shorten(name), Permission.ANY_ROLE, ctx.roles))
        if handler is None:
            raise UserInputError(f"Unknown command `{shorten(name)}`. Try `/soar help` for what you can run.")
        return await handler(self._rt, ctx, args)

    async def _click(self, event: ButtonClicked) -> Reply:
        # From here on a user is their key: the same id on two platforms is two people.
        event = replace(event, user=user_key(event.platform, event.user))
        if event.action in approvals.ENGINE_ACTIONS:
            return await approvals.clicked(self._rt, event)
        if event.action == incident.OPEN_ACTION:
            platform = event.message.platform if event.message is not None else ""
            channel = event.message.conversation if event.message is not None else ""
            ctx = CommandContext(event.user, roles_of(event.user, self.services.access), channel, platform)
            return await incident.open_clicked(self._rt, ctx, event)
        return Reply("That button is not handled here any more.")


def _answer(event: ChatEvent, text: str) -> Reply | None:
    """Only commands and clicks have someone waiting for an answer."""
    if isinstance(event, CommandInvoked | ButtonClicked):
        return Reply(text)
    return None
