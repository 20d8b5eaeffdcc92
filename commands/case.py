"""``/soar case <id> [show | assign @user | note <text> | close <reason> | export]``."""

from __future__ import annotations

import orjson

from bot.core.errors import UserInputError
from bot.core.models import Case, CaseStatus, TimelineEvent
from bot.core.ports import Button, Card, Reply
from commands.base import (
    Args,
    CommandContext,
    CommandSpec,
    Permission,
    Runtime,
    allowed,
    case_id_arg,
    no_more,
    redact,
    shorten,
    user_arg,
)
from commands.incident import DECLARE, OPEN_ACTION

SHOW = CommandSpec("case show", "case <id> [show]", "Show a case and its latest events.", Permission.ANY_ROLE)
EXPORT = CommandSpec(
    "case export", "case <id> export", "Export a case with its verified timeline.", Permission.ANY_ROLE
)
ASSIGN = CommandSpec("case assign", "case <id> assign @user", "Assign a case to someone.", Permission.RESPONDER)
NOTE = CommandSpec("case note", "case <id> note <text>", "Add a note to a case's timeline.", Permission.RESPONDER)
CLOSE = CommandSpec("case close", "case <id> close <reason>", "Close a case, saying why.", Permission.RESPONDER)
SPECS = (SHOW, ASSIGN, NOTE, CLOSE, EXPORT)
_BY_ACTION = {spec.name.split()[1]: spec for spec in SPECS}
RECENT_EVENTS = 8
EXPORT_LIMIT = 3500  # characters of JSON shown in chat; the CLI exports any size


async def run(rt: Runtime, ctx: CommandContext, args: Args) -> Reply:
    """Route ``case <id> <action> …``."""
    case_id = case_id_arg(args.next("a case id", "case 42 show"))
    action = (args.next_or_none() or "show").lower()
    spec = _BY_ACTION.get(action)
    if spec is None:
        raise UserInputError(
            f"Unknown case action `{shorten(action)}`: use show, assign @user, note <text>, close <reason> or export."
        )
    await rt.authorize(ctx, spec, case_id=case_id)
    case = await rt.case(case_id)
    if spec is SHOW:
        no_more(args, f"case {case_id} show")
        return await _show(rt, ctx, case)
    if spec is EXPORT:
        no_more(args, f"case {case_id} export")
        return await _export(rt, case)
    if spec is ASSIGN:
        user = user_arg(
            args.next("the user to assign", f"case {case_id} assign @alice"), f"case {case_id} assign @alice"
        )
        no_more(args, f"case {case_id} assign @alice")
        changed = await rt.services.cases.update(case_id, actor=ctx.user, assignee=user)
        if not changed:
            return Reply(f"Case {case_id} is already assigned to {user}.")
        return Reply(f"Case {case_id} is now assigned to {user}.")
    if spec is NOTE:
        text, _ = redact(args.rest())
        if not text:
            raise UserInputError(f"Write the note after `note`: `case {case_id} note called the host owner`.")
        await rt.services.cases.add_note(case_id, ctx.user, text)
        return Reply(f"Note added to case {case_id}.")
    return await _close(rt, ctx, case, args)


async def _show(rt: Runtime, ctx: CommandContext, case: Case) -> Reply:
    events = await rt.services.cases.timeline(case.id)
    incident = await rt.incidents.get(case.id)
    card = case_view(case, events[-RECENT_EVENTS:], incident_channel=incident.channel if incident else None)
    if incident is None and case.status is not CaseStatus.CLOSED and allowed(DECLARE.permission, ctx.roles):
        card = Card(
            title=card.title,
            text=card.text,
            fields=card.fields,
            buttons=(Button("Open incident channel", OPEN_ACTION, str(case.id)),),
            footer=card.footer,
            severity=card.severity,
        )
    return Reply(f"Case {case.id}: {case.title}", card=card)


def case_view(case: Case, events: list[TimelineEvent], *, incident_channel: str | None) -> Card:
    """A case with its latest timeline events."""
    fields = [
        ("Status", str(case.status)),
        ("Severity", str(case.severity)),
        ("Assignee", case.assignee or "nobody"),
        ("Source / rule", f"{case.source} / {case.rule}"),
        ("Alerts", str(case.alert_count)),
        ("Last seen", f"{case.last_seen:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    if case.tags:
        fields.append(("Tags", ", ".join(case.tags)))
    if incident_channel:
        fields.append(("Incident channel", incident_channel))
    lines = [f"{e.at[:19].replace('T', ' ')} {e.type} by {e.actor}" for e in events]
    return Card(
        title=f"Case #{case.id}: {case.title}",
        text=("Latest events:\n" + "\n".join(lines)) if lines else "No events yet.",
        fields=tuple(fields),
        footer=f"soarbot case {case.id}",
        severity=str(case.severity),
    )


async def _export(rt: Runtime, case: Case) -> Reply:
    exported = await rt.services.cases.export(case.id)
    broken = await rt.services.cases.verify(case.id)
    chain = "intact" if broken is None else f"BROKEN at entry {broken.seq} ({broken.reason})"
    header = (
        f"Case {case.id}: {len(exported['alerts'])} alert(s), {len(exported['timeline'])} timeline event(s); "
        f"hash chain {chain}."
    )
    body = orjson.dumps(exported, option=orjson.OPT_INDENT_2).decode()
    if len(body) > EXPORT_LIMIT:
        size = len(body) // 1024 + 1
        return Reply(f"{header}\nThe export is {size} KB, too large for chat: run `soarbot case export {case.id}`.")
    return Reply(f"{header}\n{body}")


async def _close(rt: Runtime, ctx: CommandContext, case: Case, args: Args) -> Reply:
    reason, _ = redact(args.rest())
    if not reason:
        raise UserInputError(f"Say why the case is closed: `case {case.id} close false positive`.")
    if case.status is CaseStatus.CLOSED:
        return Reply(f"Case {case.id} is already closed.")
    await rt.services.cases.update(case.id, actor=ctx.user, status=CaseStatus.CLOSED, reason=reason)
    incident = await rt.incidents.get(case.id)
    if incident is not None and incident.active:
        return Reply(
            f"Case {case.id} is closed. Its incident channel {incident.channel} is still open; "
            "`incident resolve` there archives it."
        )
    return Reply(f"Case {case.id} is closed.")
