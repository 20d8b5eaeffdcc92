"""/soar incident declare|status|role|resolve and the "Open incident channel" button."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.chat.memory import MemoryChannel, MemoryChat, Sent
from bot.core.errors import ConnectorUnavailable
from bot.core.models import CaseStatus, Severity
from bot.core.ports import ButtonClicked
from bot.incidents import Incident, channel_name
from tests.commands.conftest import ALERTS, ON_CALL, Soar, make_router


async def declare(soar: Soar, text: str, user: str = "R1") -> tuple[Incident, MemoryChannel]:
    reply = await soar.run(user, f"incident declare {text}")
    assert reply.text.startswith("Incident declared for case"), reply.text
    channel_id = reply.text.split("Channel ")[1].split()[0]
    incident = await soar.router.incidents.for_channel(channel_id)
    assert incident is not None
    platform = soar.router.services.channels
    assert isinstance(platform, MemoryChat)
    return incident, platform.channels[channel_id]


async def summary_now(soar: Soar, incident: Incident) -> Sent:
    assert incident.channel is not None
    [summary] = (await soar.shown()).in_channel(incident.channel)
    return summary


async def test_declare_opens_a_case_and_a_channel_with_a_pinned_summary(soar: Soar) -> None:
    incident, channel = await declare(soar, "SSH brute force on bastion --severity critical")
    case = await soar.env.cases.get(incident.case_id)
    assert (case.title, case.severity, case.status) == (
        "SSH brute force on bastion",
        Severity.CRITICAL,
        CaseStatus.TRIAGE,
    )
    assert (case.source, case.rule) == ("chat", "incident")

    assert channel.name == f"inc-{case.id}-ssh-brute-force-on-bastion"
    assert channel.members == ["R1", *ON_CALL]
    assert channel.topic == f"Case #{case.id} · critical · declared by R1"
    assert channel.purpose == f"Incident for case #{case.id}: SSH brute force on bastion"

    chat = await soar.shown()
    [summary] = chat.in_channel(channel.id)
    assert chat.pins == [(channel.id, summary.id)]
    assert summary.card.title == "Incident: SSH brute force on bastion"
    assert ("Severity", "critical") in summary.card.fields
    assert ("Incident", "active") in summary.card.fields
    [announcement] = chat.titled("Incident declared")
    assert announcement.channel == ALERTS and announcement.thread is None
    assert channel.id in announcement.card.text

    events = await soar.timeline(case.id)
    assert [e.type for e in events] == ["case_opened", "status_changed", "incident_declared"]
    assert events[0].actor == "R1" and events[0].data["opened_by"] == "R1"
    declared = events[-1]
    assert declared.actor == "R1"
    assert declared.data == {
        "title": "SSH brute force on bastion",
        "channel": channel.id,
        "channel_name": channel.name,
        "severity": "critical",
        "members": ["R1", *ON_CALL],
        "platform": "memory",
    }
    await soar.verified(case.id)


async def test_declare_for_an_existing_case_uses_its_title_and_never_joins_alerts_into_it(soar: Soar) -> None:
    case_id = await soar.case()
    incident, channel = await declare(soar, f"--case {case_id} --severity high")
    assert incident.case_id == case_id
    assert incident.title == "SSH brute force on web-01"
    assert channel.name == f"inc-{case_id}-ssh-brute-force-on-web-01"
    case = await soar.env.cases.get(case_id)
    assert (case.severity, case.status) == (Severity.HIGH, CaseStatus.TRIAGE)
    types = await soar.types(case_id)
    assert types[-3:] == ["status_changed", "severity_changed", "incident_declared"]
    await soar.verified(case_id)


async def test_a_case_has_one_incident(soar: Soar) -> None:
    case_id = await soar.case()
    await declare(soar, f"--case {case_id}")
    again = await soar.run("L1", f"incident declare again --case {case_id}")
    assert f"Case {case_id} already has an incident (active)" in again.text
    assert len(soar.chat.channels) == 1


async def test_concurrent_declarations_create_one_channel(soar: Soar) -> None:
    case_id = await soar.case()
    replies = await asyncio.gather(*(soar.run("R1", f"incident declare --case {case_id}") for _ in range(5)))
    assert sum(r.text.startswith("Incident declared") for r in replies) == 1
    assert len(soar.chat.channels) == 1
    assert (await soar.types(case_id)).count("incident_declared") == 1


async def test_a_taken_name_gets_a_free_one_from_the_platform(soar: Soar) -> None:
    await soar.chat.create_channel("inc-1-outage", topic="", purpose="", members=[])
    incident, channel = await declare(soar, "Outage")
    assert incident.case_id == 1
    assert channel.name == "inc-1-outage-2"
    assert incident.channel == channel.id


def test_channel_names_are_slugs_of_at_most_80_characters() -> None:
    assert channel_name(42, "SSH brute force") == "inc-42-ssh-brute-force"
    assert channel_name(7, "  Ça   va?! <script> DROP_table ") == "inc-7-ca-va-script-drop_table"
    assert channel_name(7, "🔥🔥") == "inc-7"
    long = channel_name(123, "word " * 40)
    assert len(long) <= 80 and long.startswith("inc-123-word-word") and not long.endswith("-")
    assert set(long) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")


async def test_status_updates_the_timeline_the_pinned_summary_and_the_topic(soar: Soar) -> None:
    incident, channel = await declare(soar, "Outage")
    await soar.shown()  # the summary is out, so the status must reach it as an edit
    reply = await soar.run("R2", "incident status  host isolated,\ncollecting logs", channel=channel.id)
    assert reply.text == f"Status of the incident for case {incident.case_id} updated."
    [event] = [e for e in await soar.timeline(incident.case_id) if e.type == "incident_status"]
    assert event.actor == "R2"
    assert event.data == {"text": "host isolated,\ncollecting logs", "channel": channel.id}
    summary = await summary_now(soar, incident)
    assert len(summary.versions) >= 2  # posted, then updated in place
    assert summary.card.text == "host isolated,\ncollecting logs"
    assert channel.topic == f"Case #{incident.case_id} · high · host isolated, collecting logs"
    await soar.verified(incident.case_id)


async def test_status_elsewhere_needs_a_case(soar: Soar) -> None:
    incident, _ = await declare(soar, "Outage")
    reply = await soar.run("R1", "incident status all quiet")
    assert "Run `incident status` in an incident channel, or add `--case ID`" in reply.text
    by_case = await soar.run("R1", f"incident status --case {incident.case_id} all quiet")
    assert by_case.text.startswith("Status of the incident")
    assert (await summary_now(soar, incident)).card.text == "all quiet"


async def test_status_needs_text_and_an_incident(soar: Soar) -> None:
    incident, channel = await declare(soar, "Outage")
    assert "Write the update after `status`" in (await soar.run("R1", "incident status", channel=channel.id)).text
    case_id = await soar.case("other")
    no_incident = await soar.run("R1", f"incident status --case {case_id} hello")
    assert f"Case {case_id} has no incident" in no_incident.text
    assert "incident_status" not in await soar.types(incident.case_id)


async def test_role_assignment_shows_on_the_summary(soar: Soar) -> None:
    incident, channel = await declare(soar, "Outage")
    reply = await soar.run("R1", "incident role Commander <@U900|carol>", channel=channel.id)
    assert reply.text == f"U900 is now commander of the incident for case {incident.case_id}."
    handover = await soar.run("R1", "incident role commander <@U901>", channel=channel.id)
    assert handover.text.endswith("(was U900).")
    assert ("Commander", "U901") in (await summary_now(soar, incident)).card.fields
    roles = [e.data for e in await soar.timeline(incident.case_id) if e.type == "incident_role_assigned"]
    assert [(r["role"], r["user"], r["previous"]) for r in roles] == [
        ("commander", "U900", None),
        ("commander", "U901", "U900"),
    ]
    stored = await soar.router.incidents.get(incident.case_id)
    assert stored is not None and stored.roles == {"commander": "U901"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("incident role", "Missing the role"),
        ("incident role commander", "Missing the user"),
        ("incident role commander carol", "not a user mention"),
        ("incident role <@U1> commander", "is not a role name"),
        ("incident role commander <@U1> extra", "Unexpected `extra`"),
    ],
)
async def test_role_mistakes(soar: Soar, text: str, expected: str) -> None:
    incident, channel = await declare(soar, "Outage")
    reply = await soar.run("R1", text, channel=channel.id)
    assert expected in reply.text
    assert "incident_role_assigned" not in await soar.types(incident.case_id)


async def test_resolve_closes_the_case_and_archives_the_channel(soar: Soar) -> None:
    incident, channel = await declare(soar, "Outage")
    reply = await soar.run("L1", "incident resolve", channel=channel.id)
    assert reply.text == f"Incident resolved and case {incident.case_id} closed. Channel {channel.id} archived."
    assert channel.archived
    case = await soar.env.cases.get(incident.case_id)
    assert case.status is CaseStatus.CLOSED
    events = await soar.timeline(incident.case_id)
    assert [e.type for e in events][-3:] == ["incident_resolved", "status_changed", "incident_channel_archived"]
    assert events[-2].data == {"from": "triage", "to": "closed", "reason": "incident resolved"}
    summary = (await summary_now(soar, incident)).card
    assert ("Incident", "resolved") in summary.fields
    assert ("Case", f"#{case.id} (closed)") in summary.fields

    again = await soar.run("L1", "incident resolve", channel=channel.id)
    assert "is resolved; there is nothing to resolve" in again.text
    late = await soar.run("L1", "incident status back again", channel=channel.id)
    assert "is resolved" in late.text
    await soar.verified(incident.case_id)


async def test_resolve_keeps_the_channel_when_configured(soar: Soar) -> None:
    soar.router = make_router(soar.env, archive_on_resolve=False)
    incident, channel = await declare(soar, "Outage")
    reply = await soar.run("R1", "incident resolve", channel=channel.id)
    assert reply.text == f"Incident resolved and case {incident.case_id} closed."
    assert not channel.archived
    assert "incident_channel_archived" not in await soar.types(incident.case_id)


async def test_the_case_card_button_opens_the_incident_channel(soar: Soar) -> None:
    case_id = await soar.case()
    reply = await soar.router.dispatch(ButtonClicked("R1", "incident.open", str(case_id)))
    assert reply is not None and reply.text.startswith("Incident channel C")
    [channel] = soar.chat.channels.values()
    assert channel.name == f"inc-{case_id}-ssh-brute-force-on-web-01"
    repeat = await soar.router.dispatch(ButtonClicked("R2", "incident.open", str(case_id)))
    assert repeat is not None and "already has an incident" in repeat.text
    bad = await soar.router.dispatch(ButtonClicked("R2", "incident.open", "nope"))
    assert bad is not None and "Case ids are numbers" in bad.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("incident", "Missing an incident action"),
        ("incident explode", "Unknown incident action `explode`"),
        ("incident declare", "Give the incident a title"),
        ("incident declare --severity", "`--severity` needs a value"),
        ("incident declare Outage --severity apocalyptic", "Unknown severity `apocalyptic`"),
        ("incident declare Outage --case x1", "Case ids are numbers"),
        ("incident declare Outage --case 77", "There is no case 77."),
    ],
)
async def test_declare_mistakes(soar: Soar, text: str, expected: str) -> None:
    reply = await soar.run("R1", text)
    assert expected in reply.text
    assert soar.chat.channels == {}
    assert await soar.env.cases.list_cases() == []


async def test_a_closed_case_gets_no_incident(soar: Soar) -> None:
    case_id = await soar.case()
    await soar.run("R1", f"case {case_id} close duplicate")
    reply = await soar.run("R1", f"incident declare --case {case_id}")
    assert f"Case {case_id} is closed" in reply.text
    assert soar.chat.channels == {}


async def test_without_channel_support_declaring_is_explained(soar: Soar) -> None:
    soar.router = make_router(soar.env, channels=None)
    reply = await soar.run("R1", "incident declare Outage")
    assert "need a chat platform that can create channels" in reply.text
    assert await soar.env.cases.list_cases() == []


class FlakyChannels(MemoryChat):
    """Fails the first channel creation, like a platform outage."""

    failures: int = 1

    async def create_channel(self, name: str, *, topic: str, purpose: str, members: Sequence[str]) -> str:
        if self.failures:
            self.failures -= 1
            raise ConnectorUnavailable("chat: HTTP 503")
        return await MemoryChat.create_channel(self, name, topic=topic, purpose=purpose, members=members)


async def test_a_failed_channel_creation_can_be_retried(soar: Soar) -> None:
    flaky = FlakyChannels()
    soar.router = make_router(soar.env, channels=flaky)
    failed = await soar.run("R1", "incident declare Outage --severity critical")
    [case] = await soar.env.cases.list_cases()
    assert failed.text == (
        f"The chat platform could not create the incident channel for case {case.id} right now; nothing else "
        f"changed. Try again with `incident declare --case {case.id}`."
    )
    assert flaky.channels == {}
    assert await soar.router.incidents.get(case.id) is None  # the claim was given back

    retried = await soar.run("R1", f"incident declare --case {case.id}")
    assert retried.text.startswith(f"Incident declared for case {case.id}: Outage.")
    assert len(flaky.channels) == 1
    assert len(await soar.env.cases.list_cases()) == 1
    assert (await soar.types(case.id)).count("incident_declared") == 1
    await soar.verified(case.id)


class BrokenPlatform(MemoryChat):
    """Creates channels, but every later channel call fails."""

    async def set_topic(self, channel: str, topic: str) -> None:
        raise RuntimeError("platform down")

    async def archive(self, channel: str) -> None:
        raise RuntimeError("platform down")


async def test_platform_failures_after_the_fact_do_not_undo_the_record(soar: Soar) -> None:
    broken = BrokenPlatform()
    soar.router = make_router(soar.env, channels=broken)
    incident, channel = await declare(soar, "Outage")
    assert broken.pins == []
    assert (await soar.run("R1", "incident status contained", channel=channel.id)).text.startswith("Status of")
    resolved = await soar.run("R1", "incident resolve", channel=channel.id)
    assert resolved.text == f"Incident resolved and case {incident.case_id} closed."
    assert not channel.archived
    types = await soar.types(incident.case_id)
    assert [t for t in types if t.startswith("incident_") or t == "status_changed"][-4:] == [
        "incident_declared",
        "incident_status",
        "incident_resolved",
        "status_changed",
    ]
    await soar.verified(incident.case_id)
