"""The built-in step kinds: enrich, set, notify, approval, action, create_incident, ticket, close.

Each is an args model (in ``playbooks.engine.models``) and an async handler registered by ``builtin_steps()``;
the interpreter runs them all the same way. ``parallel`` is not here: it is structure, run by the interpreter.
"""

from __future__ import annotations

from typing import Any

from bot.core.errors import PlaybookError
from bot.core.events import IncidentDeclared, Notified, TicketCreated
from bot.core.models import ApprovalStatus, CaseStatus, Decision, Observable, format_time
from playbooks.engine.context import StepContext, StepFailed, Stop, Waiting
from playbooks.engine.models import (
    ActionStep,
    Approval,
    CloseStep,
    EnrichStep,
    IncidentStep,
    NotifyStep,
    SetStep,
    TicketStep,
)
from playbooks.engine.registry import ApprovalRule, StepKind, StepRegistry


async def enrich(args: EnrichStep, ctx: StepContext) -> dict[str, Any]:
    """Enrich the alert's indicators (or those ``indicators`` evaluates to)."""
    source = ctx.evaluate(args.indicators) if args.indicators else ctx.variables["observables"]
    observables = [Observable.from_dict(o) for o in source]
    reports = await ctx.services.enrichment.enrich(observables, refresh=args.refresh)
    indicators = [
        {
            **r.observable.to_dict(),
            "level": str(r.level),
            "score": r.score,
            "sources": [v.source for v in r.verdicts],
            "failures": [f.source for f in r.failures],
        }
        for r in reports
    ]
    return {"indicators": indicators}


def _enriched(result: Any, variables: dict[str, Any]) -> None:
    """Later steps see the enriched indicators as ``indicators``."""
    if isinstance(result, dict) and "indicators" in result:
        variables["indicators"] = result["indicators"]


async def set_fields(args: SetStep, ctx: StepContext) -> dict[str, Any]:
    """Change case fields."""
    changed = await ctx.services.cases.update(
        ctx.case_id,
        actor=ctx.actor,
        status=CaseStatus(args.status) if args.status else None,
        severity=args.severity,
        assignee=ctx.render(args.assignee) if args.assignee else None,
        tags=[ctx.render(t) for t in args.tags],
    )
    return {"changed": changed}


async def notify(args: NotifyStep, ctx: StepContext) -> dict[str, Any]:
    """Record a ``notified`` event; chat renders it from the timeline (to ``to``: a channel or the case thread)."""
    title = ctx.render(args.title or "{{ case.title }}")
    text = ctx.render(args.text)
    if ctx.run.case_id is not None:
        await ctx.services.cases.record(ctx.run.case_id, Notified(to=args.to, title=title, text=text), ctx.actor)
    return {"notified": args.to}


async def approval(args: Approval, ctx: StepContext) -> dict[str, Any]:
    """Wait for a decision; a deny (or an expiry that denies) stops the run without failing it."""
    run = ctx.run
    message = ctx.render(args.message or f"Continue playbook {run.playbook}?")
    row = await ctx.approvals.ensure(
        run, ctx.key, args, action="continue playbook", target=run.playbook, reason=message, message=message
    )
    if row.status is ApprovalStatus.PENDING:
        raise Waiting
    result = {
        "approved": row.outcome is Decision.APPROVE,
        "status": row.status,
        "by": row.decided_by,
        "at": None if row.decided_at is None else format_time(row.decided_at),  # the stored text, as before
        "reason": row.decision_reason,
    }
    if row.outcome is not Decision.APPROVE:
        raise Stop(f"stopped at {ctx.step_id}: {row.status} by {row.decided_by}", result=result)
    return result


async def action(args: ActionStep, ctx: StepContext) -> dict[str, Any]:
    """Ask for approval when the action or the step wants it, then perform the action exactly once."""
    spec = ctx.actions.registry.get(args.action)
    if spec is None:  # the loader checks keys; this is a playbook loaded against another registry
        raise PlaybookError(f"action {args.action!r} is not registered")
    target = ctx.render(args.target).strip()
    reason = ctx.render(args.reason)
    if not target:
        return {"outcome": "skipped", "error": "empty target"}
    policy = args.approval
    if policy is None and spec.approval is ApprovalRule.REQUIRED:
        policy = Approval()
    approved_by = None
    if policy is not None:
        message = ctx.render(policy.message or f"{args.action} {target}?")
        row = await ctx.approvals.ensure(
            ctx.run, ctx.key, policy, action=args.action, target=target, reason=reason, message=message
        )
        if row.status is ApprovalStatus.PENDING:
            raise Waiting
        if row.outcome is not Decision.APPROVE:
            outcome = "expired" if row.status is ApprovalStatus.EXPIRED else "denied"
            return {"outcome": outcome, "target": target, "by": row.decided_by, "reason": row.decision_reason}
        approved_by = row.decided_by
    result = await ctx.actions.perform(ctx.run, ctx.key, spec, target, reason, ttl=args.ttl, policy=policy)
    result["approved_by"] = approved_by
    if result["outcome"] == "failed":
        raise StepFailed(str(result.get("error", "action failed")), result=result)
    return result


async def create_incident(args: IncidentStep, ctx: StepContext) -> dict[str, Any]:
    """Declare an incident (opening its channel when a chat platform can)."""
    case_id = ctx.case_id
    title = ctx.render(args.title)
    incidents = ctx.services.incidents
    if incidents is not None:
        existing = await incidents.get(case_id)
        if existing is not None and existing.channel:
            return {
                "declared": False,
                "channel": existing.channel,
                "title": existing.title,
                "reason": "an incident was already declared for this case",
            }
        incident = await incidents.declare(title=title, actor=ctx.actor, case_id=case_id, severity=args.severity)
        return {"declared": True, "channel": incident.channel, "title": incident.title}
    # No chat platform that can open channels: record the declaration; the channel can follow from chat.
    cases = ctx.services.cases
    await cases.update(
        case_id, actor=ctx.actor, severity=args.severity, status=CaseStatus.TRIAGE, reason="incident declared"
    )
    await cases.record(case_id, IncidentDeclared(title=title), ctx.actor)
    return {"declared": True, "title": title}


async def ticket(args: TicketStep, ctx: StepContext) -> dict[str, Any]:
    """Open a ticket (once per run and step: the idempotency key says so)."""
    ticketing = ctx.services.responders.ticketing
    if ticketing is None:
        raise PlaybookError("no ticketing connector is configured")
    case = ctx.variables.get("case") or {}
    result = await ticketing.create_ticket(
        title=ctx.render(args.title)[:255],
        description=ctx.render(args.description),
        severity=str(case.get("severity", "medium")),
        labels=tuple(args.labels),
        idempotency_key=f"run:{ctx.run.id}:{ctx.step_id}",
    )
    if ctx.run.case_id is not None:
        await ctx.services.cases.record(ctx.run.case_id, TicketCreated.from_result(result), ctx.actor)
    return result.to_dict()


async def close(args: CloseStep, ctx: StepContext) -> dict[str, Any]:
    """Close the case."""
    reason = ctx.render(args.reason)
    await ctx.services.cases.update(ctx.case_id, actor=ctx.actor, status=CaseStatus.CLOSED, reason=reason)
    return {"closed": True, "reason": reason}


def builtin_steps() -> StepRegistry:
    """The shipped step kinds, in the order error messages list them."""
    registry = StepRegistry()
    registry.register(
        StepKind("enrich", EnrichStep, enrich, expressions=frozenset({"indicators"}), on_result=_enriched)
    )
    registry.register(StepKind("set", SetStep, set_fields))
    registry.register(StepKind("notify", NotifyStep, notify))
    registry.register(StepKind("approval", Approval, approval, gated=True))
    registry.register(StepKind("action", ActionStep, action, gated=True))
    registry.register(StepKind("create_incident", IncidentStep, create_incident))
    registry.register(StepKind("ticket", TicketStep, ticket))
    registry.register(StepKind("close", CloseStep, close))
    return registry
