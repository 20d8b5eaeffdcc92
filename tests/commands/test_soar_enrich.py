"""/soar enrich: private by default, --share posts a card through ChatOut; mistakes are explained."""

from __future__ import annotations

import pytest

from bot.core.errors import ConnectorUnavailable
from tests.commands.conftest import ALERTS, Soar
from tests.playbooks.conftest import BAD_IP


async def test_enrich_answers_privately_with_the_evidence(soar: Soar) -> None:
    reply = await soar.run("V1", f"enrich {BAD_IP} evil[.]example.com")
    assert not reply.public
    assert reply.card is not None
    assert f"ip {BAD_IP}: malicious (95)" in reply.card.text
    assert "intel malicious: known C2" in reply.card.text
    assert "domain evil.example.com: unknown" in reply.card.text
    assert reply.card.severity == "high"
    assert reply.text == f"Enriched 2 indicator(s): {BAD_IP} malicious."
    assert soar.env.intel.asked == [BAD_IP, "evil.example.com"]
    assert (await soar.shown()).posted == []


async def test_share_posts_the_card_in_the_channel(soar: Soar) -> None:
    reply = await soar.run("R1", f"enrich --share {BAD_IP}", channel="C-SOC")
    assert reply.text == "Shared the enrichment of 1 indicator(s) in this channel."
    [sent] = (await soar.shown()).in_channel("C-SOC")
    assert f"ip {BAD_IP}: malicious" in sent.card.text
    assert sent.card.footer == "Sources: intel · shared by R1"


async def test_links_the_platform_made_are_read_as_typed(soar: Soar) -> None:
    await soar.run("V1", "enrich <http://evil.example.com|evil.example.com> <mailto:bob@example.org|bob@example.org>")
    assert soar.env.intel.asked == ["evil.example.com", "bob@example.org"]


async def test_repeated_indicators_are_looked_up_once(soar: Soar) -> None:
    reply = await soar.run("V1", f"enrich {BAD_IP} {BAD_IP}")
    assert soar.env.intel.asked == [BAD_IP]
    assert reply.card is not None and reply.card.title == "Enrichment of 1 indicator(s)"


async def test_an_unknown_indicator_is_explained_and_nothing_is_looked_up(soar: Soar) -> None:
    reply = await soar.run("V1", f"enrich {BAD_IP} not!an!indicator")
    assert reply.text.startswith("Not an indicator I know: `not!an!indicator`.")
    assert "user:NAME or host:NAME" in reply.text
    assert soar.env.intel.asked == []


async def test_enrich_needs_something_to_enrich(soar: Soar) -> None:
    assert "Name at least one indicator" in (await soar.run("V1", "enrich")).text
    assert "Name at least one indicator" in (await soar.run("V1", "enrich --share")).text


async def test_enrich_has_a_limit(soar: Soar) -> None:
    many = " ".join(f"198.51.100.{n}" for n in range(1, 30))
    assert "At most 20 indicators" in (await soar.run("V1", f"enrich {many}")).text
    assert soar.env.intel.asked == []


async def test_a_failing_source_is_reported_not_raised(soar: Soar) -> None:
    soar.env.intel.fail = True
    reply = await soar.run("V1", "enrich 198.51.100.7")
    assert reply.card is not None
    assert "intel failed: unavailable" in reply.card.text


async def test_internal_indicators_never_leave(soar: Soar) -> None:
    reply = await soar.run("V1", "enrich 10.1.2.3")
    assert soar.env.intel.asked == []
    assert reply.card is not None and "(internal)" in reply.card.text
    assert "skipped: internal indicator" in reply.card.text


async def test_share_without_a_chat_platform_answers_privately(soar: Soar) -> None:
    soar.router.services.chat = None
    reply = await soar.run("V1", f"enrich --share {BAD_IP}", channel=ALERTS)
    assert reply.card is not None
    assert "only you see this" in reply.text


async def test_a_connector_error_outside_enrichment_is_a_short_notice(
    soar: Soar, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise ConnectorUnavailable("intel: HTTP 503 https://api.example/?key=SECRET")

    monkeypatch.setattr(soar.router.services.enrichment, "enrich", broken)
    reply = await soar.run("V1", "enrich 198.51.100.7")
    assert reply.text == "A connected service is unavailable right now; try again in a few minutes."
    assert "SECRET" not in reply.text
