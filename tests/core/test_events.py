"""Typed case events: stored keys stay as they were, and stored rows read back as payloads."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core import events as ev
from bot.core.models import (
    ActionStatus,
    ApprovalStatus,
    CaseStatus,
    Decision,
    Observable,
    ObservableKind,
    RunStatus,
    Severity,
    StepStatus,
    TimelineEvent,
)
from bot.core.ports import ActionOutcome, ActionResult

# Each payload next to the exact ``data`` the call sites wrote before events were typed (key order included:
# exports show it). If one of these changes, stored timelines and their hash chains no longer match.
HISTORICAL: list[tuple[ev.EventPayload, dict[str, Any]]] = [
    (
        ev.CaseOpened(1, "t", Severity.HIGH, "splunk", "r", "fp"),
        {"case_id": 1, "title": "t", "severity": "high", "source": "splunk", "rule": "r", "fingerprint": "fp"},
    ),
    (
        ev.CaseOpened(2, "t", Severity.HIGH, "splunk", "r", "fp", reason="rose", split_from=1),
        {
            "case_id": 2,
            "title": "t",
            "severity": "high",
            "source": "splunk",
            "rule": "r",
            "fingerprint": "fp",
            "reason": "rose",
            "split_from": 1,
        },
    ),
    (
        ev.CaseOpened(3, "t", Severity.LOW, "chat", "incident", "manual:3", opened_by="U1"),
        {
            "case_id": 3,
            "title": "t",
            "severity": "low",
            "source": "chat",
            "rule": "incident",
            "fingerprint": "manual:3",
            "opened_by": "U1",
        },
    ),
    (ev.CaseSplit(2, "rose"), {"new_case_id": 2, "reason": "rose"}),
    (
        ev.AlertAdded(
            5,
            2,
            "splunk",
            "splunk",
            "x1",
            "t",
            Severity.LOW,
            "2026-01-01T00:00:00.000000Z",
            None,
            (Observable(ObservableKind.IP, "1.2.3.4", "src"),),
        ),
        {
            "alert_id": 5,
            "alert_count": 2,
            "source": "splunk",
            "format": "splunk",
            "external_id": "x1",
            "title": "t",
            "severity": "low",
            "time": "2026-01-01T00:00:00.000000Z",
            "link": None,
            "observables": [{"kind": "ip", "value": "1.2.3.4", "role": "src", "internal": False}],
        },
    ),
    (ev.AlertResolved(5, "x1", "t"), {"alert_id": 5, "external_id": "x1", "title": "t"}),
    (
        ev.StatusChanged(CaseStatus.NEW, CaseStatus.TRIAGE, None),
        {"from": "new", "to": "triage", "reason": None},
    ),
    (ev.SeverityChanged(Severity.LOW, Severity.HIGH, "x"), {"from": "low", "to": "high", "reason": "x"}),
    (ev.Assigned(None, "U2"), {"from": None, "to": "U2"}),
    (ev.Tagged(("a", "b")), {"tags": ["a", "b"]}),
    (ev.NoteAdded("hi"), {"text": "hi"}),
    (
        ev.UnauthorizedAttempt(user="U", command="close", channel="C"),
        {"user": "U", "command": "close", "channel": "C"},
    ),
    (
        ev.UnauthorizedAttempt(user="U", approval_id=4, decision="approve"),
        {"approval_id": 4, "user": "U", "decision": "approve"},
    ),
    (
        ev.UnauthorizedAttempt(user="U", action_id=7, decision="undo"),
        {"action_id": 7, "user": "U", "decision": "undo"},
    ),
    (ev.IndicatorsEnriched(({"level": "benign"},)), {"indicators": [{"level": "benign"}]}),
    (ev.TechniquesIdentified(({"id": "T1110"},)), {"techniques": [{"id": "T1110"}]}),
    (
        ev.IncidentDeclared("t", channel="C9", channel_name="inc-1-t", severity=Severity.HIGH, members=("U1",)),
        {"title": "t", "channel": "C9", "channel_name": "inc-1-t", "severity": "high", "members": ["U1"]},
    ),
    (ev.IncidentDeclared("t"), {"title": "t"}),
    (
        ev.IncidentDeclared("t", channel="C9", channel_name="inc", severity=Severity.LOW, members=(), platform="slack"),
        {"title": "t", "channel": "C9", "channel_name": "inc", "severity": "low", "members": [], "platform": "slack"},
    ),
    (ev.IncidentStatusPosted("ok", "C9"), {"text": "ok", "channel": "C9"}),
    (
        ev.IncidentRoleAssigned("commander", "U2", None, "C9"),
        {"role": "commander", "user": "U2", "previous": None, "channel": "C9"},
    ),
    (ev.IncidentResolved("C9"), {"channel": "C9"}),
    (ev.IncidentChannelArchived("C9"), {"channel": "C9"}),
    (
        ev.ChatMessagePosted("slack", "C9", "U1", "1.1", None, None, "hi"),
        {
            "platform": "slack",
            "channel": "C9",
            "author": "U1",
            "ts": "1.1",
            "thread_ts": None,
            "permalink": None,
            "text": "hi",
        },
    ),
    (
        ev.ChatMessageEdited("slack", "C9", "U1", "1.1", "1.0", "https://x", "[redacted]", redacted=True),
        {
            "platform": "slack",
            "channel": "C9",
            "author": "U1",
            "ts": "1.1",
            "thread_ts": "1.0",
            "permalink": "https://x",
            "text": "[redacted]",
            "redacted": True,
        },
    ),
    (
        ev.Highlight("slack", "C9", "U1", "1.1", "pin"),
        {"platform": "slack", "channel": "C9", "author": "U1", "message_ts": "1.1", "via": "pin"},
    ),
    (
        ev.ChatDeliveryFailed("slack", "C9", "post", "boom", "title"),
        {"platform": "slack", "channel": "C9", "op": "post", "error": "boom", "title": "title"},
    ),
    (ev.PlaybookStarted(1, "pb", 2), {"run_id": 1, "playbook": "pb", "version": 2}),
    (
        ev.PlaybookFinished(1, "pb", RunStatus.FAILED, "bad", None),
        {"run_id": 1, "playbook": "pb", "status": "failed", "error": "bad", "note": None},
    ),
    (
        ev.StepFinished(1, "enrich", StepStatus.SUCCEEDED, None),
        {"run_id": 1, "step": "enrich", "status": "succeeded", "error": None},
    ),
    (ev.Notified("case", "t", "x"), {"to": "case", "title": "t", "text": "x"}),
    (
        ev.TicketCreated.from_result(ActionResult("jira", "ticket.create", "t", ActionOutcome.DONE, "", "SEC-1")),
        ActionResult("jira", "ticket.create", "t", ActionOutcome.DONE, "", "SEC-1").to_dict(),
    ),
    (
        ev.ActionAttempted("firewall.block_ip", "1.2.3.4", "sim", "run:1:block"),
        {"action": "firewall.block_ip", "target": "1.2.3.4", "connector": "sim", "key": "run:1:block"},
    ),
    (
        ev.ActionFinished(3, "firewall.block_ip", "1.2.3.4", "sim", ActionStatus.DONE, {"outcome": "done"}, None),
        {
            "action_id": 3,
            "action": "firewall.block_ip",
            "target": "1.2.3.4",
            "connector": "sim",
            "status": "done",
            "result": {"outcome": "done"},
            "revert_at": None,
        },
    ),
    (
        ev.ActionReverted(3, "firewall.block_ip", "1.2.3.4", "U1", {"outcome": "done"}),
        {"action_id": 3, "action": "firewall.block_ip", "target": "1.2.3.4", "by": "U1", "result": {"outcome": "done"}},
    ),
    (ev.ActionRevertFailed(3, "boom", "later"), {"action_id": 3, "error": "boom", "next_try": "later"}),
    (
        ev.ActionFailed(3, "edr.contain_host", "h1", "sim", ActionStatus.FAILED, {"error": "x"}, None, False),
        {
            "action_id": 3,
            "action": "edr.contain_host",
            "target": "h1",
            "connector": "sim",
            "status": "failed",
            "result": {"error": "x"},
            "revert_at": None,
            "reversible": False,
        },
    ),
    (
        ev.ApprovalRequested(4, "a", "t", "r", 1, False, ("responder",), (), "2026", "U1"),
        {
            "approval_id": 4,
            "action": "a",
            "target": "t",
            "reason": "r",
            "required": 1,
            "critical": False,
            "roles": ["responder"],
            "users": [],
            "expires_at": "2026",
            "requester": "U1",
        },
    ),
    (ev.ApprovalReminder(4, 0), {"approval_id": 4, "level": 0}),
    (
        ev.ApprovalRequested(4, "a", "t", "r", 1, True, (), ("U9",), "2026", "U1", message="Block t?"),
        {
            "approval_id": 4,
            "action": "a",
            "target": "t",
            "reason": "r",
            "message": "Block t?",
            "required": 1,
            "critical": True,
            "roles": [],
            "users": ["U9"],
            "expires_at": "2026",
            "requester": "U1",
        },
    ),
    (
        ev.ApprovalEscalated(4, 1, ("lead",), (), "Block?", "2026"),
        {"approval_id": 4, "level": 1, "roles": ["lead"], "users": [], "message": "Block?", "expires_at": "2026"},
    ),
    (
        ev.ApprovalReminder(4, 0, "Block?", "2026"),
        {"approval_id": 4, "level": 0, "message": "Block?", "expires_at": "2026"},
    ),
    (
        ev.VoteRecorded(4, "U2", Decision.APPROVE, None),
        {"approval_id": 4, "user": "U2", "vote": "approve", "reason": None},
    ),
    (
        ev.ApprovalDecided(4, ApprovalStatus.APPROVED, "U2", None, ("U2",), "a", "t"),
        {
            "approval_id": 4,
            "status": "approved",
            "by": "U2",
            "reason": None,
            "approvers": ["U2"],
            "action": "a",
            "target": "t",
        },
    ),
    (
        ev.ApprovalExpired(4, Decision.DENY, "a", "t"),
        {"approval_id": 4, "outcome": "deny", "action": "a", "target": "t"},
    ),
]


def test_every_event_type_has_exactly_one_payload() -> None:
    assert set(ev.PAYLOADS) == set(ev.CaseEventType)
    assert all(cls.type is type_ for type_, cls in ev.PAYLOADS.items())


@pytest.mark.parametrize(("payload", "data"), HISTORICAL, ids=lambda p: getattr(p, "type", ""))
def test_payload_writes_the_historical_keys_and_reads_back(payload: ev.EventPayload, data: dict[str, Any]) -> None:
    assert list(payload.to_data().items()) == list(data.items())
    assert ev.decode(str(payload.type), data) == payload


def test_every_event_type_is_covered_by_a_historical_example() -> None:
    covered = {p.type for p, _ in HISTORICAL}
    # chat_message_deleted shares its shape with chat_message_edited
    assert set(ev.CaseEventType) - covered == {ev.CaseEventType.CHAT_MESSAGE_DELETED}


def test_old_rows_decode_tolerantly() -> None:
    # extra keys are ignored; a missing optional key takes its default
    payload = ev.decode("status_changed", {"from": "new", "to": "triage", "by_then": 1})
    assert payload == ev.StatusChanged(CaseStatus.NEW, CaseStatus.TRIAGE, None)
    # a reminder written before the event corridor had no message or expiry
    assert ev.decode("approval_reminder", {"approval_id": 4, "level": 0}) == ev.ApprovalReminder(4, 0)


def test_unknown_or_unreadable_rows_decode_as_unknown_events() -> None:
    assert ev.decode("something_new", {"a": 1}) == ev.UnknownEvent("something_new", {"a": 1})
    assert isinstance(ev.decode("note_added", {}), ev.UnknownEvent)  # required key missing
    assert isinstance(ev.decode("status_changed", {"from": "limbo", "to": "new"}), ev.UnknownEvent)


def test_timeline_event_exposes_its_payload() -> None:
    event = TimelineEvent(1, 1, "note_added", "2026-01-01T00:00:00.000000Z", "U1", {"text": "hi"})
    assert event.payload == ev.NoteAdded("hi")
