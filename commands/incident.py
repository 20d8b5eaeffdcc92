"""``/soar incident declare|status|role|resolve``: incident channels for cases, and the "Open incident" button."""

from __future__ import annotations

import re

from bot.core.errors import UserInputError
from bot.core.ports import ButtonClicked, Reply
from commands.base import (
    Args,
    CommandContext,
    CommandSpec,
    Permission,
    Runtime,
    case_id_arg,
    no_more,
    redact,
    severity_arg,
    shorten,
    user_arg,
)

OPEN_ACTION = "incident.open"
DECLARE = CommandSpec(
    "incident declare",
    "incident declare <title> [--case ID] [--severity S]",
    "Open an incident channel (for a case, or for a new case with that title).",
    Permission.RESPONDER,
)
STATUS = CommandSpec(
    "incident status",
    "incident status <text>",
    "Post a status update to the incident (run it in the incident channel).",
    Permission.RESPONDER,
)
ROLE = CommandSpec(
    "incident role",
    "incident role <role> @user",
    "Give an incident role (commander, comms, scribe, …) to someone.",
    Permission.RESPONDER,
)
RESOLVE = CommandSpec(
    "incident resolve",
    "incident resolve",
    "Resolve the incident: close its case and archive the channel.",
    Permission.RESPONDER,
)
SPECS = (DECLARE, STATUS, ROLE, RESOLVE)
_BY_ACTION = {spec.name.split()[1]: spec for spec in SPECS}
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")


async def run(rt: Runtime, ctx: CommandContext, args: Args) -> Reply:
    """Route ``incident <action> …``."""
    action = args.next("an incident action", "incident declare SSH brute force --severity high").lower()
    spec = _BY_ACTION.get(action)
    if spec is None:
        raise UserInputError(f"Unknown incident action `{shorten(action)}`: use declare, status, role or resolve.")
    if spec is DECLARE:
        return await _declare(rt, ctx, args)
    options = args.options({"--case": True})
    given = options.get("--case")
    case_id = case_id_arg(given) if isinstance(given, str) else None
    if case_id is None:
        incident = await rt.incidents.for_channel(ctx.channel)
        case_id = incident.case_id if incident is not None else None
    await rt.authorize(ctx, spec, case_id=case_id)
    if case_id is None:
        raise UserInputError(f"Run `{spec.name}` in an incident channel, or add `--case ID`.")
    if spec is STATUS:
        text, _ = redact(args.rest())
        if not text:
            raise UserInputError("Write the update after `status`: `incident status host isolated, collecting logs`.")
        await rt.incidents.post_status(case_id, text, ctx.user)
        return Reply(f"Status of the incident for case {case_id} updated.")
    if spec is ROLE:
        example = "incident role commander @alice"
        role = args.next("the role", example).lower()
        if not _ROLE_NAME.match(role):
            raise UserInputError(f"`{shorten(role)}` is not a role name (a word such as commander, comms or scribe).")
        user = user_arg(args.next("the user", example), example)
        no_more(args, example)
        incident, previous = await rt.incidents.assign_role(case_id, role, user, ctx.user)
        was = f" (was {previous})" if previous and previous != user else ""
        return Reply(f"{user} is now {role} of the incident for case {case_id}{was}.")
    no_more(args, "incident resolve")
    incident, archived = await rt.incidents.resolve(case_id, ctx.user)
    after = f" Channel {incident.channel} archived." if archived else ""
    return Reply(f"Incident resolved and case {case_id} closed.{after}")


async def _declare(rt: Runtime, ctx: CommandContext, args: Args) -> Reply:
    options = args.options({"--case": True, "--severity": True})
    given_case, given_severity = options.get("--case"), options.get("--severity")
    case_id = case_id_arg(given_case) if isinstance(given_case, str) else None
    severity = severity_arg(given_severity) if isinstance(given_severity, str) else None
    await rt.authorize(ctx, DECLARE, case_id=case_id)
    title, _ = redact(args.rest())
    incident = await rt.incidents.declare(title=title, actor=ctx.user, case_id=case_id, severity=severity)
    return Reply(
        f"Incident declared for case {incident.case_id}: {incident.title}. "
        f"Channel {incident.channel} is open, with the summary pinned."
    )


async def open_clicked(rt: Runtime, ctx: CommandContext, event: ButtonClicked) -> Reply:
    """The "Open incident channel" button of a case card: declare an incident for that case."""
    case_id = case_id_arg(event.value)
    await rt.authorize(ctx, DECLARE, case_id=case_id)
    incident = await rt.incidents.declare(title="", actor=ctx.user, case_id=case_id)
    return Reply(f"Incident channel {incident.channel} is open for case {case_id}.")
