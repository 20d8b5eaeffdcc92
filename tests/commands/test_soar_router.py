"""The router's one error boundary, and the neutral parsing of arguments, mentions and links."""

from __future__ import annotations

import re

import pytest

from bot.core.errors import UserInputError
from commands.base import Args, parse_mention, redact, unwrap_link
from tests.commands.conftest import Soar


async def test_an_unexpected_error_shows_an_id_that_is_in_the_log(
    soar: Soar, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom with internals")

    monkeypatch.setattr(soar.router.services.enrichment, "enrich", broken)
    reply = await soar.run("V1", "enrich 198.51.100.7")
    match = re.fullmatch(
        r"Something went wrong on our side \(error ([0-9a-f]{8})\); quote this id to the team\.", reply.text
    )
    assert match is not None, reply.text
    assert "boom" not in reply.text
    assert f"Handling CommandInvoked failed (error {match.group(1)})" in caplog.text
    assert "RuntimeError: boom with internals" in caplog.text


async def test_an_unknown_command_points_to_help(soar: Soar) -> None:
    reply = await soar.run("V1", "frobnicate now")
    assert reply.text == "Unknown command `frobnicate`. Try `/soar help` for what you can run."


def test_options_come_out_wherever_they_stand_and_text_keeps_its_spacing() -> None:
    args = Args("Disk  full --severity HIGH on\tdb-01 --share")
    assert args.options({"--severity": True, "--share": False, "--case": True}) == {
        "--severity": "HIGH",
        "--share": True,
    }
    assert args.rest() == "Disk  full on\tdb-01"
    assert len(args) == 0


def test_a_missing_word_names_what_is_missing() -> None:
    with pytest.raises(UserInputError, match=r"Missing a case id: `case 42 show`\."):
        Args("  ").next("a case id", "case 42 show")


@pytest.mark.parametrize(
    ("word", "user"),
    [
        ("<@U123ABC|alice>", "U123ABC"),
        ("<@U123ABC>", "U123ABC"),
        ("<@W0000001>", "W0000001"),
        ("<@!123456789012345678>", "123456789012345678"),
        ("U123ABCDE", "U123ABCDE"),
        ("alice", None),
        ("@alice", None),
        ("<#C123|general>", None),
        ("<@U1|a", None),
    ],
)
def test_mentions(word: str, user: str | None) -> None:
    assert parse_mention(word) == user


@pytest.mark.parametrize(
    ("word", "typed"),
    [
        ("<http://evil.example|evil.example>", "evil.example"),
        ("<https://evil.example/x>", "https://evil.example/x"),
        ("<mailto:a@b.example>", "a@b.example"),
        ("<@U123>", "<@U123>"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_links(word: str, typed: str) -> None:
    assert unwrap_link(word) == typed


def test_redaction_keeps_ordinary_text() -> None:
    assert redact("blocked 203.0.113.7, token rotation planned") == (
        "blocked 203.0.113.7, token rotation planned",
        False,
    )
    text, changed = redact("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345 ghp_" + "a" * 36)
    assert changed and text == "Authorization: Bearer [redacted] [redacted]"
