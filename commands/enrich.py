"""``/soar enrich <indicators…> [--share] [--refresh]``: look indicators up in every intel source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.core.errors import UserInputError
from bot.core.models import Observable
from bot.core.ports import Card, Reply, VerdictLevel
from bot.enrichment import IndicatorReport
from commands.base import Args, CommandContext, CommandSpec, Permission, Runtime, shorten, unwrap_link

SPEC = CommandSpec(
    "enrich",
    "enrich <indicators…> [--share] [--refresh]",
    "Look indicators up in every intel source (only you see it unless --share).",
    Permission.ANY_ROLE,
)
SPECS = (SPEC,)
EXAMPLE = "enrich 203.0.113.7 evil.example"
MAX_INDICATORS = 20
_CARD_SEVERITY = {VerdictLevel.MALICIOUS: "high", VerdictLevel.SUSPICIOUS: "medium"}


async def run(rt: Runtime, ctx: CommandContext, args: Args) -> Reply:
    """Enrich the indicators named in ``args``; privately, or posted to the channel with ``--share``."""
    await rt.authorize(ctx, SPEC)
    options = args.options({"--share": False, "--refresh": False})
    values = [unwrap_link(word) for word in args.words()]
    if not values:
        raise UserInputError(f"Name at least one indicator: `{EXAMPLE}`.")
    if len(values) > MAX_INDICATORS:
        raise UserInputError(f"At most {MAX_INDICATORS} indicators at a time; you gave {len(values)}.")
    observables: list[Observable] = []
    unknown: list[str] = []
    for value in values:
        found = rt.services.classify(value)
        if found is None:
            unknown.append(f"`{shorten(value, 40)}`")
        elif found not in observables:
            observables.append(found)
    if unknown:
        raise UserInputError(
            f"Not an indicator I know: {', '.join(unknown)}. Write an IP, domain, URL, email, hash or CVE; "
            "users and hosts as user:NAME or host:NAME."
        )
    reports = await rt.services.enrichment.enrich(observables, refresh=bool(options.get("--refresh")))
    card = report_card(reports, sources=rt.services.enrichment.sources)
    if options.get("--share"):
        chat = rt.services.chat
        if chat is None:
            return Reply("No chat platform is connected to share with, so only you see this.", card=card)
        await chat.post(ctx.channel, replace(card, footer=f"{card.footer} · shared by {ctx.user}"))
        return Reply(f"Shared the enrichment of {len(reports)} indicator(s) in this channel.")
    return Reply(summary(reports), card=card)


def summary(reports: Sequence[IndicatorReport]) -> str:
    """One line: how many indicators, and the worst verdicts."""
    bad = [r for r in reports if r.level in (VerdictLevel.MALICIOUS, VerdictLevel.SUSPICIOUS)]
    if not bad:
        return f"Enriched {len(reports)} indicator(s): nothing malicious or suspicious."
    worst = ", ".join(f"{r.observable.value} {r.level}" for r in bad[:5])
    return f"Enriched {len(reports)} indicator(s): {worst}."


def report_card(reports: Sequence[IndicatorReport], *, sources: Sequence[str]) -> Card:
    """One card for a set of indicator reports: each verdict with its evidence, failures and skipped sources."""
    lines = []
    for report in reports:
        observable = report.observable
        line = f"• {observable.kind} {observable.value}: {report.level}"
        if report.score:
            line += f" ({report.score})"
        if observable.internal:
            line += " (internal)"
        evidence = [f"{v.source} {v.level}: {v.summary}" for v in report.verdicts if v.summary][:4]
        evidence += [f"{f.source} failed: {f.reason}" for f in report.failures]
        evidence += [f"{s.source} skipped: {s.reason}" for s in report.skipped]
        if evidence:
            line += "\n    " + "\n    ".join(evidence)
        lines.append(line)
    worst = max((r.level for r in reports), key=lambda level: level.rank, default=VerdictLevel.UNKNOWN)
    return Card(
        title=f"Enrichment of {len(reports)} indicator(s)",
        text="\n".join(lines),
        footer="Sources: " + (", ".join(sources) or "none configured"),
        severity=_CARD_SEVERITY.get(worst),
    )
