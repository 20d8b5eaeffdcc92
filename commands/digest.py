"""``/soar digest [--share]``: open cases by severity, pending approvals and the last 24 hours' actions.

In an incident channel the digest covers that incident's case; anywhere else it covers every open case.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

from bot.core.models import Severity
from bot.core.ports import Card, Reply
from bot.incidents import Digest
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
MAX_LINES = 10


async def run(rt: Runtime, ctx: CommandContext, args: Args) -> Reply:
    """Build the digest for this channel; privately, or posted to the channel with ``--share``."""
    await rt.authorize(ctx, SPEC)
    options = args.options({"--share": False})
    no_more(args, "digest --share")
    incident = await rt.incidents.for_channel(ctx.channel)
    case_id = incident.case_id if incident is not None else None
    digest = await rt.overview.digest(since=rt.services.clock() - WINDOW, case_id=case_id, top=MAX_LINES)
    card = digest_card(digest, case_id=case_id)
    if options.get("--share"):
        if rt.services.chat is None:
            return Reply("No chat platform is connected to share with, so only you see this.", card=card)
        await rt.services.chat.post(ctx.channel, replace(card, footer=f"{card.footer} · shared by {ctx.user}"))
        return Reply("Digest posted in this channel.")
    return Reply(card.text.splitlines()[0], card=card)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def digest_card(digest: Digest, *, case_id: int | None) -> Card:
    """The digest as a card: counts first, then a few lines of each list."""
    open_total = sum(digest.counts.values())
    by_severity = ", ".join(
        f"{digest.counts[s]} {s}" for s in sorted(digest.counts, key=lambda s: s.rank, reverse=True)
    )
    outcomes = Counter(a.status for a in digest.actions)
    headline = (
        f"{_plural(open_total, 'open case')}, {_plural(len(digest.pending), 'pending approval')}, "
        f"{_plural(len(digest.actions), 'action')} in the last 24 hours."
    )
    sections = [headline]
    ranked = digest.open_cases  # most severe first
    if ranked:
        sections.append(
            "Open cases:\n"
            + "\n".join(
                f"• #{c.id} [{c.severity}] {c.title} ({c.status}, {c.assignee or 'unassigned'})"
                for c in ranked[:MAX_LINES]
            )
        )
    if digest.pending:
        sections.append(
            "Waiting for approval:\n"
            + "\n".join(
                f"• #{r.id} {r.action} {r.target} (case {r.case_id}, expires {r.expires_at})"
                for r in digest.pending[:MAX_LINES]
            )
        )
    if digest.actions:
        sections.append(
            "Actions in the last 24 hours:\n"
            + "\n".join(f"• {a.action} {a.target}: {a.status} (case {a.case_id})" for a in digest.actions[-MAX_LINES:])
        )
    worst = max(digest.counts, key=lambda s: s.rank, default=None)
    return Card(
        title=f"Digest for case #{case_id}" if case_id is not None else "Digest: all open cases",
        text="\n\n".join(sections),
        fields=(
            ("Open cases", f"{open_total}" + (f" ({by_severity})" if by_severity else "")),
            ("Pending approvals", str(len(digest.pending))),
            (
                "Actions (24 h)",
                f"{len(digest.actions)}"
                + (f" ({', '.join(f'{n} {s}' for s, n in sorted(outcomes.items()))})" if outcomes else ""),
            ),
        ),
        footer=f"Since {digest.since}",
        severity=str(worst) if worst is not None and worst.rank >= Severity.HIGH.rank else None,
    )
