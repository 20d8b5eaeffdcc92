"""``/soar approvals [ID]``: the pending approval requests, with Approve/Deny; clicks go to the engine."""

from __future__ import annotations

from bot.core.errors import NotFound
from bot.core.ports import ButtonAction, ButtonClicked, Reply
from bot.presenters import approval_card
from commands.base import Args, CommandContext, CommandSpec, Permission, Runtime, no_more, number_arg
from playbooks.engine.approvals import may_decide

SPEC = CommandSpec(
    "approvals",
    "approvals [ID]",
    "List pending approval requests, with Approve and Deny buttons.",
    Permission.ANY_ROLE,
)
SPECS = (SPEC,)
ENGINE_ACTIONS = frozenset({ButtonAction.APPROVE, ButtonAction.DENY, ButtonAction.UNDO})
EXAMPLE = "approvals 7"


async def run(rt: Runtime, ctx: CommandContext, args: Args) -> Reply:
    """List pending requests (the first one you may decide as a card), or show request ``ID``."""
    await rt.authorize(ctx, SPEC)
    word = args.next_or_none()
    no_more(args, EXAMPLE)
    if word is not None:
        approval_id = number_arg(word, "Approval request ids", EXAMPLE)
        found = await rt.overview.approval(approval_id)
        if found is None:
            raise NotFound(f"There is no approval request #{approval_id}.")
        row, approvers = found
        return Reply(f"Approval request #{row.id} is {row.status}.", card=approval_card(row, approvers))
    pending = await rt.overview.pending_approvals()
    if not pending:
        return Reply("No approval requests are waiting.")
    access = rt.services.access
    lines = []
    for row, approvers in pending:
        mine = " (you can decide)" if may_decide(ctx.user, row, access) else ""
        case = f"case {row.case_id}" if row.case_id is not None else "no case"
        lines.append(
            f"#{row.id} {row.action} {row.target} ({case}): {len(approvers)} of {row.required} approvals, "
            f"expires {row.expires_at}{mine}"
        )
    shown = next(((r, a) for r, a in pending if may_decide(ctx.user, r, access)), pending[0])
    text = f"{len(pending)} approval request(s) waiting:\n" + "\n".join(lines)
    if len(pending) > 1:
        text += f"\nShowing #{shown[0].id}; `approvals <id>` shows another."
    return Reply(text, card=approval_card(*shown))


async def clicked(rt: Runtime, event: ButtonClicked) -> Reply:
    """Approve, Deny and Undo: the engine authorizes and decides (compare-and-set); its answer is private."""
    answer = await rt.services.engine.click(event)
    return Reply(answer.text)
