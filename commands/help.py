"""``/soar help``: the commands the caller may run, and nothing else."""

from __future__ import annotations

from bot.core.ports import Reply
from commands import approvals, case, digest, enrich, incident
from commands.base import Args, CommandContext, CommandSpec, Permission, Runtime, allowed

SPEC = CommandSpec("help", "help", "Show the commands you may run.", Permission.ANY_ROLE)
SPECS = (SPEC,)
ALL_SPECS: tuple[CommandSpec, ...] = (
    *enrich.SPECS,
    *case.SPECS,
    *incident.SPECS,
    *approvals.SPECS,
    *digest.SPECS,
    SPEC,
)


async def run(rt: Runtime, ctx: CommandContext, args: Args) -> Reply:
    """List the commands ``ctx``'s roles allow."""
    await rt.authorize(ctx, SPEC)
    lines = [f"/soar {spec.usage}: {spec.summary}" for spec in ALL_SPECS if allowed(spec.permission, ctx.roles)]
    return Reply("Commands you can run:\n" + "\n".join(lines))
