"""``soarbot playbook test``: run one playbook on a sample alert with no side effects.

Everything happens in a throwaway database; responders are the simulated ones (they record, never call out);
intelligence is offline only, optionally overridden per indicator (``--verdict 203.0.113.5=malicious``) to
exercise the gates. Pending approvals are answered with ``answer`` by as many distinct approvers as needed.
The cards are what a chat surface would show: the run's events go through the same feed, presenters and outbox
as in ``soarbot run``, delivered to the neutral in-memory surface. This is wiring, so it lives beside the app.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.cases import CaseService
from bot.chat.memory import MemoryChat, Sent
from bot.chat.surface import ChatSurface, open_surface
from bot.core.models import Alert, Decision, Observable, ObservableKind
from bot.core.ports import IntelLookup, Responders, Verdict, VerdictLevel
from bot.enrichment import EnrichmentService
from bot.feed import EventFeed
from bot.incidents import IncidentService
from bot.store import approvals as approvals_store
from bot.store import runs as runs_store
from bot.store.approvals import ApprovalRow
from bot.store.db import Database
from playbooks.engine.approvals import Access
from playbooks.engine.loader import LoadedPlaybook
from playbooks.engine.models import Approval, Step
from playbooks.engine.runner import Engine, alert_context, mismatches

REQUESTER = "dry-run"
APPROVERS = tuple(f"dry-run-approver-{n}" for n in range(1, 11))


@dataclass(slots=True)
class ForcedVerdicts:
    """An IntelLookup that answers what the tester said, and nothing else (local, authoritative)."""

    verdicts: Mapping[str, VerdictLevel]
    name: str = "forced"
    kinds: frozenset[ObservableKind] = frozenset(ObservableKind)
    external: bool = False
    credential_id: str = "dry-run"

    async def check(self) -> str:
        """Nothing to reach."""
        return "verdicts given on the command line"

    async def lookup(self, observable: Observable) -> Verdict:
        """The forced verdict for this value, or unknown."""
        level = self.verdicts.get(observable.value, VerdictLevel.UNKNOWN)
        score = {VerdictLevel.MALICIOUS: 100, VerdictLevel.SUSPICIOUS: 50}.get(level, 0)
        return Verdict(
            self.name, level, score, summary="given with --verdict", authoritative=level is not VerdictLevel.UNKNOWN
        )


@dataclass(slots=True)
class DryRun:
    """What one playbook did (or would have done) for one alert."""

    alert: str
    matched: bool
    reasons: list[str] = field(default_factory=list)
    status: str | None = None
    error: str | None = None
    steps: list[tuple[str, str, Any]] = field(default_factory=list)
    approvals: list[ApprovalRow] = field(default_factory=list)
    cards: list[Sent] = field(default_factory=list)
    timeline: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "alert": self.alert,
            "matched": self.matched,
            "reasons": self.reasons,
            "status": self.status,
            "error": self.error,
            "steps": [{"step": k, "status": s, "result": r} for k, s, r in self.steps],
            "approvals": [
                {
                    "id": a.id,
                    "action": a.action,
                    "target": a.target,
                    "message": a.message,
                    "required": a.required,
                    "critical": a.critical,
                    "status": a.status,
                    "outcome": a.outcome,
                }
                for a in self.approvals
            ],
            "cards": [
                {
                    "to": c.channel + (" (thread)" if c.thread else ""),
                    "title": c.card.title,
                    "text": c.card.text,
                    "buttons": [b.label for b in c.card.buttons],
                }
                for c in self.cards
            ],
            "actions": [data for kind, data in self.timeline if kind in ("action_finished", "action_failed")],
        }


async def dry_run(
    loaded: LoadedPlaybook,
    alerts: Sequence[Alert],
    *,
    lookups: Sequence[IntelLookup],
    responders: Responders,
    answer: str = "approve",
    verdicts: Mapping[str, VerdictLevel] | None = None,
) -> list[DryRun]:
    """Run ``loaded`` on each alert in a throwaway store; report steps, cards, approvals and actions."""
    reports = []
    intel = [*lookups, ForcedVerdicts(verdicts)] if verdicts else list(lookups)
    with tempfile.TemporaryDirectory(prefix="soarbot-dry-run-") as folder:
        db = Database(Path(folder) / "dry-run.db", synchronous="normal")
        await db.open()
        try:
            cases = CaseService(db)
            chat = MemoryChat()
            feed = EventFeed(db)
            incidents = IncidentService(db, cases)
            surface = open_surface(
                chat, db=db, feed=feed, cases=cases, incidents=incidents, per_second=1000, edit_gap=0
            )
            roles = sorted({r for s in loaded.playbook.all_steps() for r in _roles(s)} | {"responder"})
            engine = Engine(
                db=db,
                cases=cases,
                enrichment=EnrichmentService(intel, db),
                responders=responders,
                playbooks=[loaded],
                incidents=incidents,
                access=Access({role: list(APPROVERS) for role in roles}),
                tick_every=3600,
            )
            await feed.start()
            for alert in alerts:
                reports.append(await _one(engine, cases, db, (chat, feed, surface), loaded, alert, answer))
            await engine.aclose()
            await feed.aclose()
        finally:
            await db.close()
    return reports


def _roles(step: Step) -> list[str]:
    # Step kinds come from a registry, so read the kind's args: an approval step, or any args with approval.
    args = step.args
    policy = args if isinstance(args, Approval) else getattr(args, "approval", None)
    if not isinstance(policy, Approval):
        return []
    return [*policy.roles, *(r for e in policy.escalate for r in e.roles)]


async def _one(
    engine: Engine,
    cases: CaseService,
    db: Database,
    shown: tuple[MemoryChat, EventFeed, ChatSurface],
    loaded: LoadedPlaybook,
    alert: Alert,
    answer: str,
) -> DryRun:
    [outcome] = await cases.ingest([alert])
    case = await cases.get(outcome.case_id) if outcome.case_id is not None else None
    reasons = mismatches(loaded.playbook, alert, outcome, alert_context(alert, case, outcome.alert_id))
    report = DryRun(alert=alert.title, matched=not reasons, reasons=reasons)
    if reasons:
        return report
    chat, feed, surface = shown
    first_card = len(chat.posted)
    [run_id] = await engine.trigger(alert, outcome, requester=REQUESTER)
    for _ in range(100):  # answer every request the run makes, until it stops asking
        waiting = await approvals_store.pending(db.reader)
        if not waiting:
            break
        for request in waiting:
            for approver in APPROVERS[: request.required if answer == "approve" else 1]:
                await engine.vote(request.id, approver, Decision(answer), reason="dry run")
        await engine.idle()
    run = await runs_store.get_run(db.reader, run_id)
    assert run is not None
    report.status, report.error = run.status, run.error
    stored = await runs_store.steps(db.reader, run_id)
    order = {step.id: i for i, step in enumerate(loaded.playbook.all_steps())}

    def position(key: str) -> tuple[int, int]:
        step_id, _, item = key.partition("[")
        return order.get(step_id, len(order)), int(item.rstrip("]") or -1) if item else -1

    report.steps = sorted(
        ((key, row.status, row.result) for key, row in stored.items() if "#" not in key), key=lambda s: position(s[0])
    )
    report.approvals = await approvals_store.for_run(db.reader, run_id)
    await feed.settled()
    for _ in range(100):  # deliver what the surface queued (a few passes: thread roots go before replies)
        await surface.outbox.deliver_due()
        if not await surface.outbox.pending():
            break
    report.cards = chat.posted[first_card:]
    if outcome.case_id is not None:
        report.timeline = [(e.type, dict(e.data)) for e in await cases.timeline(outcome.case_id)]
    return report
