"""A chat surface: one platform's subscriber of the event feed, turning case events into outbox rows.

The core emits nothing but committed case events (``bot.feed``). For each configured platform, a
:class:`ChatSurface` reads them from its own cursor, asks the read models for the current state, has
``bot.presenters`` build the neutral cards, and writes them into that platform's outbox in the same transaction
that moves its cursor. So a card is queued exactly once per platform, even across a crash, and a platform that is
down only delays its own rows.

What each event shows:

- any change to a case (opened, alert added, enriched, status, severity, assignee, tags, incident): the case's
  one card in the alerts channel, posted once and updated in place;
- ``approval_requested`` / ``vote_recorded`` / ``approval_decided`` / ``approval_expired``: the approval card in
  the case card's thread, posted once and updated on every vote and decision;
- ``action_finished`` (done) and ``action_reverted``: the action result (with Undo where it can be undone);
- ``playbook_finished`` (failed), ``approval_reminder`` / ``approval_escalated``, ``notified``: a message each;
- ``incident_declared``: the incident channel's pinned summary (on the platform that opened the channel) and an
  announcement in the alerts channel; later incident and case changes update the summary.

Cards are rendered from the state at the time they are presented, not from the event alone: a replayed or late
event shows the current truth, and an unchanged card costs no platform call (the outbox drops equal versions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from bot.cases import CaseService
from bot.chat.outbox import EDIT_GAP, Outbox, card_to_dict, case_card_key
from bot.core.errors import NotFound
from bot.core.events import (
    ActionFinished,
    ActionReverted,
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalExpired,
    ApprovalReminder,
    ApprovalRequested,
    CaseEventType,
    IncidentDeclared,
    Notified,
    PlaybookFinished,
    VoteRecorded,
)
from bot.core.models import ActionStatus, RunStatus, format_time, utcnow
from bot.core.ports import ActionResult, Card, ChatTransport
from bot.feed import EventFeed
from bot.incidents import IncidentService, Overview
from bot.presenters import (
    action_card,
    approval_card,
    case_card,
    failure_card,
    incident_announcement,
    notice_card,
    reminder_card,
    summary_card,
)
from bot.store import outbox as store
from bot.store.feed import FeedEvent
from bot.store.tx import Tx, UnitOfWork

DEFAULT_PLATFORM = "slack"  # a bare channel in a playbook's `notify.to` means Slack, as it did before

# Events that change what the case card shows; the rest (votes, chat messages, deliveries) leave it as it is.
_E = CaseEventType
CARD_EVENTS = frozenset(
    {
        _E.CASE_OPENED,
        _E.ALERT_ADDED,
        _E.ALERT_RESOLVED,
        _E.CASE_SPLIT,
        _E.INDICATORS_ENRICHED,
        _E.TECHNIQUES_IDENTIFIED,
        _E.STATUS_CHANGED,
        _E.SEVERITY_CHANGED,
        _E.ASSIGNED,
        _E.TAGGED,
        _E.NOTE_ADDED,
        _E.INCIDENT_DECLARED,
        _E.INCIDENT_RESOLVED,
    }
)
# Events that change what an incident's pinned summary shows.
SUMMARY_EVENTS = frozenset(
    {_E.INCIDENT_STATUS, _E.INCIDENT_ROLE_ASSIGNED, _E.INCIDENT_RESOLVED, _E.STATUS_CHANGED, _E.SEVERITY_CHANGED}
)


def approval_key(approval_id: int) -> str:
    """The outbox key of an approval's one card."""
    return f"approval:{approval_id}"


def summary_key(case_id: int) -> str:
    """The outbox key of an incident's pinned summary."""
    return f"incident:{case_id}:summary"


@dataclass(frozen=True, slots=True)
class _Show:
    """One card to queue: posted under ``key`` once (``update`` = updated in place ever after)."""

    key: str
    card: Card
    channel: str
    case_id: int | None
    in_thread: bool = False
    pin: bool = False
    update_only: bool = False  # change the message if this platform has it; never post it here


@dataclass(slots=True)
class _Plan:
    cases: dict[int, None] = field(default_factory=dict)  # ordered sets
    approvals: dict[int, int] = field(default_factory=dict)  # approval id → its case
    summaries: dict[int, None] = field(default_factory=dict)
    posts: list[_Show] = field(default_factory=list)


class ChatSurface:
    """The feed subscriber of one chat platform (its cursor is ``chat:<platform>``)."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        alerts_channel: str,
        cases: CaseService,
        incidents: IncidentService,
        overview: Overview,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.outbox = outbox
        self.platform = outbox.platform
        self.name = f"chat:{self.platform}"
        self._alerts = alerts_channel
        self._cases = cases
        self._incidents = incidents
        self._overview = overview
        self._clock = clock

    async def handle(self, events: Sequence[FeedEvent]) -> Callable[[Tx], None] | None:
        """Present a batch of events as this platform's outbox rows (idempotent: every row has a key)."""
        plan = _Plan()
        for item in events:
            await self._plan(plan, item)
        # Every thread needs its root: a reply's case card is rendered with it, so a surface that joined after the
        # case was opened (its cursor started at the head) posts the real card, never a placeholder.
        for show in plan.posts:
            if show.in_thread and show.case_id is not None:
                plan.cases.setdefault(show.case_id, None)
        for approval_case in plan.approvals.values():
            plan.cases.setdefault(approval_case, None)
        shows = await self._render(plan)
        if not shows:
            return None
        now = format_time(self._clock())
        platform = self.platform

        def job(conn: Tx) -> None:
            for show in shows:
                if show.update_only:
                    found = store.find_tx(conn, platform, show.key)
                    if found is not None:
                        store.enqueue_update_tx(conn, found, card_to_dict(show.card), now)
                    continue
                parent = None
                if show.in_thread and show.case_id is not None:
                    # The thread's root is the case card, rendered in this same batch (see _plan): found or posted.
                    parent = store.find_tx(conn, platform, case_card_key(show.case_id))
                store.show_tx(
                    conn,
                    platform=platform,
                    channel=show.channel,
                    dedup_key=show.key,
                    payload=card_to_dict(show.card),
                    now=now,
                    case_id=show.case_id,
                    parent=parent,
                    pin=show.pin,
                )

        return job

    def committed(self) -> None:
        """The rows are committed: let the sender look now."""
        self.outbox.wake()

    # --- what each event shows ----------------------------------------------------------------------------

    async def _plan(self, plan: _Plan, item: FeedEvent) -> None:
        event = item.event
        case_id = event.case_id
        key = f"event:{case_id}:{event.seq}"  # a one-off message per event: a replay finds it queued already
        if event.type in CARD_EVENTS:
            plan.cases[case_id] = None
        if event.type in SUMMARY_EVENTS:
            plan.summaries[case_id] = None
        thread = partial(_Show, key, channel=self._alerts, case_id=case_id, in_thread=True)
        match event.payload:
            case ApprovalRequested() | VoteRecorded() | ApprovalDecided() | ApprovalExpired() as approval:
                plan.approvals[approval.approval_id] = case_id
            case ApprovalReminder() | ApprovalEscalated() as reminder:
                found = await self._overview.approval(reminder.approval_id)
                if found is not None:
                    escalated = [*reminder.roles, *reminder.users] if isinstance(reminder, ApprovalEscalated) else []
                    plan.posts.append(thread(reminder_card(found[0], escalated_to=escalated)))
            case ActionFinished(status=ActionStatus.DONE) as done:
                undo_id = done.action_id if done.reversible else None
                result = ActionResult.from_dict(done.result)
                plan.posts.append(thread(action_card(result, action_id=undo_id, case_id=case_id)))
            case ActionReverted() as reverted:
                result = ActionResult.from_dict(reverted.result)
                plan.posts.append(thread(action_card(result, action_id=None, case_id=case_id)))
            case PlaybookFinished(status=RunStatus.FAILED) as failed:
                plan.posts.append(thread(failure_card(f"Playbook {failed.playbook} failed", failed.error or "")))
            case Notified() as notice:
                self._notice(plan, key, case_id, notice)
            case IncidentDeclared() as declared:
                await self._declared(plan, key, case_id, declared, actor=event.actor)
            case _:
                pass

    def _notice(self, plan: _Plan, key: str, case_id: int, notice: Notified) -> None:
        card = notice_card(notice.title, notice.text)
        if notice.to in ("alerts", "case"):
            plan.posts.append(_Show(key, card, self._alerts, case_id, in_thread=notice.to == "case"))
            return
        platform, _, channel = notice.to.rpartition(":")
        if (platform or DEFAULT_PLATFORM) == self.platform and channel:
            plan.posts.append(_Show(key, card, channel, case_id))

    async def _declared(self, plan: _Plan, key: str, case_id: int, declared: IncidentDeclared, *, actor: str) -> None:
        try:
            case = await self._cases.get(case_id)
        except NotFound:
            return
        if declared.channel and (declared.platform or DEFAULT_PLATFORM) == self.platform:
            incident = await self._incidents.get(case_id)
            if incident is not None:
                card = summary_card(incident, case)
                plan.posts.append(_Show(summary_key(case_id), card, declared.channel, case_id, pin=True))
        title = declared.title or case.title
        card = incident_announcement(title, case, actor, declared.channel or "-")
        plan.posts.append(_Show(key, card, self._alerts, case_id))

    # --- rendering from the current state -----------------------------------------------------------------

    async def _render(self, plan: _Plan) -> list[_Show]:
        # Case cards first: they are the threads' roots.
        shows: list[_Show] = []
        for case_id in plan.cases:
            try:
                view = await self._cases.card_view(case_id)
            except NotFound:
                continue
            card = case_card(
                view.case,
                link=view.link,
                observables=view.observables,
                verdicts=view.verdicts,
                techniques=view.techniques,
            )
            shows.append(_Show(case_card_key(case_id), card, self._alerts, case_id))
        for approval_id in plan.approvals:
            found = await self._overview.approval(approval_id)
            if found is None:
                continue
            row, approvers = found
            card = approval_card(row, approvers)
            shows.append(_Show(approval_key(row.id), card, self._alerts, row.case_id, in_thread=True))
        shows += plan.posts
        declared = {s.case_id for s in plan.posts if s.key.startswith("incident:")}
        for case_id in plan.summaries:
            if case_id in declared:
                continue
            incident = await self._incidents.get(case_id)
            if incident is None or incident.channel is None:
                continue
            card = summary_card(incident, await self._cases.get(case_id))
            # Only an update: the summary exists on the platform that opened the channel, and nowhere else.
            shows.append(_Show(summary_key(case_id), card, incident.channel, case_id, update_only=True))
        return shows


def open_surface(
    transport: ChatTransport,
    *,
    db: UnitOfWork,
    feed: EventFeed,
    cases: CaseService,
    incidents: IncidentService,
    per_second: float = 1.0,
    edit_gap: float = EDIT_GAP,
    clock: Callable[[], datetime] = utcnow,
) -> ChatSurface:
    """A platform's outbox and presenter, subscribed to ``feed`` (start the feed, then run ``surface.outbox``)."""
    name = f"chat:{transport.platform}"
    outbox = Outbox(
        db,
        transport,
        per_second=per_second,
        clock=clock,
        settled=partial(feed.settled, names=[name]),
        edit_gap=edit_gap,
    )
    surface = ChatSurface(
        outbox,
        alerts_channel=transport.alerts_channel,
        cases=cases,
        incidents=incidents,
        overview=Overview(db),
        clock=clock,
    )
    feed.subscribe(surface)
    return surface
