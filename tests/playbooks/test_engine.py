"""The engine: approval gates, exactly-once actions, policy, expiry, escalation, failures, undo, restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bot.core.models import CaseStatus, format_time
from bot.core.ports import ButtonAction as cards
from bot.core.ports import ButtonClicked
from bot.store import runs as runs_store
from playbooks.engine.approvals import Guardrails
from tests.playbooks.conftest import BAD_IP, RESPONDERS, Env, build, malicious_ip_alert, only, playbook


async def approve(env: Env, approval_id: int, user: str = "U001") -> str:
    reply = await env.engine.click(ButtonClicked(user, cards.APPROVE, str(approval_id)))
    await env.engine.idle()
    return reply.text


async def undo_button(env: Env, case_id: int) -> ButtonClicked:
    """The Undo click chat offers on the one reversible action_finished event of the case."""
    [finished] = [e for e in await env.events(case_id, "action_finished") if e["reversible"]]
    return ButtonClicked("-", cards.UNDO, str(finished["action_id"]))


async def test_malicious_ip_asks_then_blocks_exactly_once(env: Env) -> None:
    outcome = await env.alert()
    case_id = outcome.case_id or 0
    [request] = await env.pending()
    assert (request.action, request.target, request.required) == ("firewall.block_ip", BAD_IP, 1)
    assert env.firewall.calls == []  # nothing happens before a decision
    # The approval card (with Approve/Deny) is rendered from this event.
    [asked] = await env.events(case_id, "approval_requested")
    assert (asked["approval_id"], asked["action"], asked["target"]) == (request.id, "firewall.block_ip", BAD_IP)
    assert await env.events(case_id, "approval_decided") == []

    assert "approved" in await approve(env, request.id)
    assert env.firewall.applied() == [BAD_IP]
    # The card's "Approved by U001" footer (and no more buttons) comes from the decision event.
    [decided] = await env.events(case_id, "approval_decided")
    assert (decided["approval_id"], decided["status"], decided["by"]) == (request.id, "approved", "U001")

    case = await env.cases.get(case_id)
    assert case.status is CaseStatus.CONTAINED
    types = await env.timeline_types(case_id)
    for expected in (
        "playbook_started",
        "approval_requested",
        "vote_recorded",
        "approval_decided",
        "action_attempted",
        "action_finished",
        "status_changed",
        "playbook_finished",
    ):
        assert expected in types, expected
    assert await env.cases.verify(case_id) is None

    # A repeat click, by anyone, changes nothing.
    again = await approve(env, request.id, "U002")
    assert "already approved by U001" in again
    assert env.firewall.applied() == [BAD_IP]


async def test_benign_ip_asks_nothing(env: Env) -> None:
    outcome = await env.alert(malicious_ip_alert(ip="198.51.100.10"))
    assert await env.pending() == []
    [run] = await runs_store.case_runs(env.db.reader, outcome.case_id or 0)
    assert run.status == "completed"


async def test_deny_blocks_nothing_and_says_who(env: Env) -> None:
    await env.alert()
    [request] = await env.pending()
    reply = await env.engine.click(ButtonClicked("U003", cards.DENY, str(request.id), reason="our own scanner"))
    await env.engine.idle()
    assert "denied" in reply.text
    assert env.firewall.calls == []
    [decided] = await env.events(request.case_id or 0, "approval_decided")
    assert (decided["approval_id"], decided["status"], decided["by"]) == (request.id, "denied", "U003")
    assert decided["reason"] == "our own scanner"


async def test_unauthorised_click_changes_nothing(env: Env) -> None:
    outcome = await env.alert()
    [request] = await env.pending()
    reply = await env.engine.click(ButtonClicked("UINTRUDER", cards.APPROVE, str(request.id)))
    assert "not allowed" in reply.text
    assert env.firewall.calls == []
    assert [r.id for r in await env.pending()] == [request.id]
    assert "unauthorized_attempt" in await env.timeline_types(outcome.case_id or 0)


async def test_fifty_concurrent_clicks_make_one_action(env: Env) -> None:
    await env.alert()
    [request] = await env.pending()
    replies = await asyncio.gather(
        *(env.engine.click(ButtonClicked(user, cards.APPROVE, str(request.id))) for user in RESPONDERS[:50])
    )
    await env.engine.idle()
    assert env.firewall.applied() == [BAD_IP]
    assert sum("approved." in r.text for r in replies) == 1
    assert sum("already approved" in r.text for r in replies) == 49


N_OF_M = """
name: two-person
trigger: {observables: [ip]}
steps:
  - id: block
    action:
      action: firewall.block_ip
      target: "{{ observables[1].value }}"
      approval:
        roles: [responder]
        min_approvals: 2
"""


async def test_n_of_m_needs_distinct_approvers(tmp_path: Path) -> None:
    env = await build(tmp_path, playbooks=playbook(N_OF_M))
    try:
        await env.alert()
        [request] = await env.pending()
        assert "1 of 2" in await approve(env, request.id, "U001")
        assert "already voted" in await approve(env, request.id, "U001")
        assert env.firewall.calls == []
        assert "approved" in await approve(env, request.id, "U002")
        assert env.firewall.applied() == [BAD_IP]
    finally:
        await env.aclose()


async def test_requester_cannot_approve_own_request(env: Env) -> None:
    alert = malicious_ip_alert()
    [outcome] = await env.cases.ingest([alert])
    await env.engine.trigger(alert, outcome, requester="U001")
    [request] = await env.pending()
    assert "someone else" in await approve(env, request.id, "U001")
    assert env.firewall.calls == []
    assert "approved" in await approve(env, request.id, "U002")
    assert env.firewall.applied() == [BAD_IP]


async def test_expiry_denies_once_even_across_a_restart(tmp_path: Path) -> None:
    env = await build(tmp_path)
    await env.alert()
    [request] = await env.pending()
    await env.aclose()

    env = await build(tmp_path, clock=env.clock)  # a restart
    try:
        env.clock.advance(timedelta(hours=4, seconds=1))
        await env.engine.tick()
        await env.engine.tick()
        await env.engine.idle()
        assert await env.pending() == []
        assert env.firewall.calls == []
        types = await env.timeline_types(request.case_id or 0)
        assert types.count("approval_expired") == 1
        assert "already expired" in await approve(env, request.id)
    finally:
        await env.aclose()


async def test_escalation_lets_the_lead_decide_later(env: Env) -> None:
    await env.alert()
    [request] = await env.pending()
    assert "not allowed" in await approve(env, request.id, "L001")
    env.clock.advance(timedelta(minutes=31))
    await env.engine.tick()  # a reminder, no escalation yet
    env.clock.advance(timedelta(minutes=30))
    await env.engine.tick()  # one hour: the lead is asked too
    types = await env.timeline_types(request.case_id or 0)
    assert "approval_reminder" in types and "approval_escalated" in types
    # Reminder cards are rendered from these events alone.
    [reminder] = await env.events(request.case_id or 0, "approval_reminder")
    [escalated] = await env.events(request.case_id or 0, "approval_escalated")
    for data in (reminder, escalated):
        assert (data["message"], data["expires_at"]) == (request.message, format_time(request.expires_at))
    assert escalated["roles"] == ["lead"]
    assert "approved" in await approve(env, request.id, "L001")
    assert env.firewall.applied() == [BAD_IP]


async def test_critical_asset_needs_more_approvals_and_is_flagged(tmp_path: Path) -> None:
    env = await build(tmp_path, guardrails=Guardrails(ips=["203.0.113.0/24"], min_approvals=2))
    try:
        await env.alert()
        [request] = await env.pending()
        assert request.critical and request.required == 2
        [asked] = await env.events(request.case_id or 0, "approval_requested")
        assert asked["approval_id"] == request.id and asked["critical"] is True and asked["required"] == 2
        await approve(env, request.id, "U001")
        assert env.firewall.calls == []
        await approve(env, request.id, "U002")
        assert env.firewall.applied() == [BAD_IP]
    finally:
        await env.aclose()


async def test_failing_connector_asks_a_human_and_never_repeats_silently(env: Env) -> None:
    env.firewall.fail_times = 1
    outcome = await env.alert()
    [request] = await env.pending()
    await approve(env, request.id)
    assert env.firewall.applied() == [BAD_IP]  # tried once, failed
    [resolve] = await env.pending()
    assert resolve.action == "retry firewall.block_ip" and "HTTP 503" in resolve.reason
    await asyncio.sleep(0.05)
    assert env.firewall.applied() == [BAD_IP]  # no automatic second try
    await approve(env, resolve.id, "U002")
    assert env.firewall.applied() == [BAD_IP, BAD_IP]  # retried once, because a person said so
    assert (await env.cases.get(outcome.case_id or 0)).status is CaseStatus.CONTAINED


async def test_interrupted_attempt_is_not_repeated_blind(tmp_path: Path) -> None:
    env = await build(tmp_path)
    env.firewall.delay = 30  # the vendor call hangs: we "crash" in the middle of it
    alert = malicious_ip_alert()
    [outcome] = await env.cases.ingest([alert], now=env.clock())
    await env.engine.trigger(alert, outcome)
    [request] = await env.pending()
    await env.engine.click(ButtonClicked("U001", cards.APPROVE, str(request.id)))
    await asyncio.sleep(0.2)
    assert env.firewall.applied() == [BAD_IP]
    await env.aclose()  # the crash: the attempt is recorded, its outcome is not

    env = await build(tmp_path, clock=env.clock)
    try:
        await asyncio.sleep(0.05)
        await env.engine.idle()  # the restart itself resumes the run (it was left "waiting")
        assert env.firewall.calls == []  # not repeated by itself
        [resolve] = await env.pending()
        assert "may or may not have done it" in resolve.reason
        await approve(env, resolve.id, "U002")
        assert env.firewall.applied() == [BAD_IP]
    finally:
        await env.aclose()


async def test_block_is_lifted_after_its_ttl_once(env: Env) -> None:
    await env.alert()
    [request] = await env.pending()
    await approve(env, request.id)
    env.clock.advance(timedelta(hours=24, seconds=1))
    await env.engine.tick()
    await env.engine.tick()
    assert env.firewall.calls == [("apply", BAD_IP), ("revert", BAD_IP)]
    assert "action_reverted" in await env.timeline_types(request.case_id or 0)


async def test_undo_button_reverts_once_for_responders_only(env: Env) -> None:
    await env.alert()
    [request] = await env.pending()
    await approve(env, request.id)
    undo = await undo_button(env, request.case_id or 0)
    denied = await env.engine.click(ButtonClicked("UINTRUDER", undo.action, undo.value))
    assert "not allowed" in denied.text
    done = await env.engine.click(ButtonClicked("U005", undo.action, undo.value))
    again = await env.engine.click(ButtonClicked("U006", undo.action, undo.value))
    assert done.text.startswith("Undone")
    assert "nothing to undo" in again.text
    assert env.firewall.calls == [("apply", BAD_IP), ("revert", BAD_IP)]


async def test_run_resumes_after_restart_while_waiting(tmp_path: Path) -> None:
    env = await build(tmp_path)
    await env.alert()
    [request] = await env.pending()
    await env.aclose()

    env = await build(tmp_path, clock=env.clock)
    try:
        assert "approved" in await approve(env, request.id)
        assert env.firewall.applied() == [BAD_IP]
        [run] = await runs_store.case_runs(env.db.reader, request.case_id or 0)
        assert run.status == "completed"
    finally:
        await env.aclose()


async def test_a_playbook_runs_once_per_case(env: Env) -> None:
    await env.alert(malicious_ip_alert("a-1"))
    await env.alert(malicious_ip_alert("a-2"))  # joins the same case: no second run
    assert len(await env.pending()) == 1


async def test_shipped_playbooks_all_load() -> None:
    names = {
        p.playbook.name
        for p in only("malicious-ip", "malware-on-endpoint", "suspicious-login", "phishing-report", "enrich-and-notify")
    }
    assert len(names) == 5


async def test_an_unanswered_retry_question_expires_to_deny_even_if_the_step_approves(tmp_path: Path) -> None:
    approve_on_timeout = N_OF_M.replace("min_approvals: 2", "on_timeout: approve")
    env = await build(tmp_path, playbooks=playbook(approve_on_timeout))
    try:
        env.firewall.fail_times = 5
        await env.alert()
        [request] = await env.pending()
        await approve(env, request.id)
        [resolve] = await env.pending()
        env.clock.advance(timedelta(hours=4, seconds=1))
        await env.engine.tick()
        await env.engine.idle()
        assert await env.pending() == []
        assert env.firewall.applied() == [BAD_IP]  # a timeout never retries containment
    finally:
        await env.aclose()


async def test_a_vote_after_expiry_is_refused_even_before_the_timer_runs(env: Env) -> None:
    await env.alert()
    [request] = await env.pending()
    env.clock.advance(timedelta(hours=5))  # no tick: the timer is late
    reply = await approve(env, request.id)
    assert "already expired" in reply
    assert env.firewall.calls == []


async def test_undo_and_ttl_together_revert_once(env: Env) -> None:
    await env.alert()
    [request] = await env.pending()
    await approve(env, request.id)
    undo = await undo_button(env, request.case_id or 0)
    env.clock.advance(timedelta(hours=25))
    await asyncio.gather(
        env.engine.click(ButtonClicked("U005", undo.action, undo.value)),
        env.engine.click(ButtonClicked("U006", undo.action, undo.value)),
        env.engine.tick(),
    )
    assert env.firewall.calls.count(("revert", BAD_IP)) == 1


async def test_a_failing_ttl_undo_backs_off(env: Env) -> None:
    from tests.fakes.responders import RecordingContainment

    await env.alert()
    [request] = await env.pending()
    await approve(env, request.id)
    firewall = env.firewall
    assert isinstance(firewall, RecordingContainment)

    async def broken_revert(target: str, *, reason: str, undo: object) -> object:
        from bot.core.errors import ConnectorAuthError

        firewall.calls.append(("revert", target))
        raise ConnectorAuthError("recorder: HTTP 403")

    firewall.revert = broken_revert  # type: ignore[method-assign]
    env.clock.advance(timedelta(hours=24, seconds=1))
    for _ in range(20):  # twenty ticks a second apart: one try, then a wait of 15 minutes
        await env.engine.tick()
        env.clock.advance(timedelta(seconds=1))
    assert firewall.calls.count(("revert", BAD_IP)) == 1
    env.clock.advance(timedelta(minutes=15))
    await env.engine.tick()
    assert firewall.calls.count(("revert", BAD_IP)) == 2


INCIDENT = """
name: declare-on-critical
trigger: {min_severity: high}
steps:
  - id: declare
    create_incident:
      title: "{{ alert.title }}"
      severity: critical
"""


async def test_create_incident_opens_a_channel_when_chat_can(tmp_path: Path) -> None:
    from bot.incidents import IncidentService

    env = await build(tmp_path, playbooks=playbook(INCIDENT))
    try:
        env.engine.incidents = IncidentService(env.db, env.cases, channels=env.chat)
        outcome = await env.alert()
        [channel] = env.chat.channels.values()
        assert "ssh-brute-force" in channel.name
        types = await env.timeline_types(outcome.case_id or 0)
        assert "incident_declared" in types
        case = await env.cases.get(outcome.case_id or 0)
        assert case.severity.value == "critical"
    finally:
        await env.aclose()


async def test_create_incident_without_chat_records_the_declaration(tmp_path: Path) -> None:
    env = await build(tmp_path, playbooks=playbook(INCIDENT))
    try:
        outcome = await env.alert()
        assert env.chat.channels == {}
        assert "incident_declared" in await env.timeline_types(outcome.case_id or 0)
    finally:
        await env.aclose()
