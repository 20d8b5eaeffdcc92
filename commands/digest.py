"""``/soar digest [--share]``: open cases by severity, pending approvals and the last 24 hours' actions.

In an incident channel the digest covers that incident's case; anywhere else it covers every open case.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.core.ports import Reply
from bot.presenters import DIGEST_LINES, digest_card
from commands.base import Args, CommandContext, CommandSpec, Permission, Runtime, no_more

SPEC = CommandSpec(
    "digest",
    "digest [--share]",
    "Summarise open cases, pending approvals and the last 24 hours' actions (for this incident's case in an "
    "incident channel).",
    Permission.ANY_ROLE,
)
SPECS = (SPEC,)
WINDOW = timedelta(hours=24)


async def run(rt: Runtime, ctx: CommandContext, args: Args) -> Reply:
    """Build the digest for this channel; privately, or posted to the channel with ``--share``."""
    await rt.authorize(ctx, SPEC)
    options = args.options({"--share": False})
    no_more(args, "digest --share")
    incident = await rt.incidents.for_channel(ctx.channel)
    case_id = incident.case_id if incident is not None else None
    digest = await rt.overview.digest(since=rt.services.clock() - WINDOW, case_id=case_id, top=DIGEST_LINES)
    card = digest_card(digest, case_id=case_id)
    if options.get("--share"):
        if rt.services.chat is None:
            return Reply("No chat platform is connected to share with, so only you see this.", card=card)
        await rt.services.chat.post(ctx.channel, replace(card, footer=f"{card.footer} · shared by {ctx.user}"))
        return Reply("Digest posted in this channel.")
    return Reply(card.text.splitlines()[0], card=card)
