"""/soar digest: open cases by severity, pending approvals and the last 24 hours' actions, for this channel."""

from __future__ import annotations

from datetime import timedelta

from bot.core.models import Severity
from bot.core.ports import ButtonAction as cards
from bot.core.ports import ButtonClicked
from tests.commands.conftest import Soar
from tests.playbooks.conftest import BAD_IP


async def test_digest_counts_open_cases_approvals_and_actions(soar: Soar) -> None:
    await soar.case("c1", severity=Severity.CRITICAL, rule="Ransomware note")
    await soar.case("c2", severity=Severity.LOW, rule="Port scan")
    closed = await soar.case("c3", severity=Severity.HIGH, rule="Old thing")
    await soar.run("R1", f"case {closed} close done")
    malicious = await soar.malicious_case()  # high, waiting for approval

    reply = await soar.run("V1", "digest")
    assert reply.text == "3 open cases, 1 pending approval, 0 actions in the last 24 hours."
    assert reply.card is not None and not reply.public
    fields = dict(reply.card.fields)
    assert fields["Open cases"] == "3 (1 critical, 1 high, 1 low)"
    assert fields["Pending approvals"] == "1"
    assert fields["Actions (24 h)"] == "0"
    assert reply.card.severity == "critical"
    lines = reply.card.text.splitlines()
    opened = lines.index("Open cases:")
    assert lines[opened + 1].startswith("• #1 [critical] Ransomware note on web-01 (new, unassigned)")
    assert lines[opened + 2].startswith(f"• #{malicious} [high]")
    assert "Old thing" not in reply.card.text
    assert f"firewall.block_ip {BAD_IP} (case {malicious}" in reply.card.text

    [request] = await soar.pending()
    await soar.router.dispatch(ButtonClicked("R1", cards.APPROVE, str(request.id)))
    await soar.env.engine.idle()
    after = await soar.run("V1", "digest")
    assert after.text == "3 open cases, 0 pending approvals, 1 action in the last 24 hours."  # contained, not closed
    assert after.card is not None
    assert dict(after.card.fields)["Actions (24 h)"] == "1 (1 done)"
    assert f"• firewall.block_ip {BAD_IP}: done (case {malicious})" in after.card.text


async def test_actions_older_than_a_day_are_left_out(soar: Soar) -> None:
    await soar.malicious_case()
    [request] = await soar.pending()
    await soar.router.dispatch(ButtonClicked("R1", cards.APPROVE, str(request.id)))
    await soar.env.engine.idle()
    soar.env.clock.advance(timedelta(hours=25))
    reply = await soar.run("V1", "digest")
    assert "0 actions in the last 24 hours" in reply.text


async def test_in_an_incident_channel_the_digest_is_about_its_case(soar: Soar) -> None:
    await soar.case("c1", severity=Severity.CRITICAL, rule="Ransomware note")
    await soar.malicious_case()
    await soar.run("R1", "incident declare Outage --severity medium")
    [channel] = soar.chat.channels
    incident = await soar.router.incidents.for_channel(channel)
    assert incident is not None
    reply = await soar.run("V1", "digest", channel=channel)
    assert reply.card is not None
    assert reply.card.title == f"Digest for case #{incident.case_id}"
    assert reply.text == "1 open case, 0 pending approvals, 0 actions in the last 24 hours."
    assert "Ransomware" not in reply.card.text


async def test_share_posts_the_digest_in_the_channel(soar: Soar) -> None:
    await soar.case()
    reply = await soar.run("R1", "digest --share", channel="C-SOC")
    assert reply.text == "Digest posted in this channel."
    [sent] = (await soar.shown()).in_channel("C-SOC")
    assert sent.card.title == "Digest: all open cases"
    assert sent.card.footer.endswith("· shared by R1")


async def test_share_without_a_chat_platform_answers_privately(soar: Soar) -> None:
    soar.router.services.chat = None
    reply = await soar.run("R1", "digest --share")
    assert "only you see this" in reply.text
    assert reply.card is not None and (await soar.shown()).in_channel("C-SOC") == []


async def test_digest_takes_no_arguments(soar: Soar) -> None:
    assert "Unexpected `now`" in (await soar.run("V1", "digest now")).text
