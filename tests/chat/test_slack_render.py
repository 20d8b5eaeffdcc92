"""Block Kit rendering: escaping of untrusted text, buttons, block ids, every Block Kit limit, the deny modal."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.chat.slack.render import (
    action_id,
    deny_modal,
    ephemeral,
    escape,
    neutral_action,
    reason_from_view,
    render,
)
from bot.core.models import ApprovalStatus, Decision
from bot.core.ports import Button, ButtonAction, ButtonStyle, Card
from bot.presenters import approval_card
from bot.store.approvals import ApprovalRow

APPROVE, DENY, UNDO = ButtonAction.APPROVE, ButtonAction.DENY, ButtonAction.UNDO

NASTY = "<!channel> <@U123> <http://evil.example|click> <#C999> <!here> <!subteam^S1> &lt;!everyone&gt;"
RAW_PAYLOADS = ("<!channel>", "<@U123>", "<http://evil.example|click>", "<#C999>", "<!here>", "<!subteam^S1>")


# --- helpers ----------------------------------------------------------------------------------------------


def units(text: str) -> int:
    """UTF-16 length, the stricter way Slack may count."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def text_objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every text object ({"type": "mrkdwn"|"plain_text", "text": ...}) in a JSON-like value."""
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and "text" in value:
            yield value
        for item in value.values():
            yield from text_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from text_objects(item)


def assert_safe_text(text: str) -> None:
    """No raw mrkdwn control characters; every & starts one of the three entities."""
    assert "<" not in text and ">" not in text, text[:200]
    assert re.search(r"&(?!amp;|lt;|gt;)", text) is None, text[:200]


def check_text_object(obj: dict[str, Any], limit: int, *, kind: str | None = None) -> None:
    assert set(obj) <= {"type", "text", "verbatim", "emoji"}
    assert obj["type"] in ("mrkdwn", "plain_text")
    if kind is not None:
        assert obj["type"] == kind
    text = obj["text"]
    assert isinstance(text, str)
    assert text.strip(), "empty text object"
    assert units(text) <= limit, (units(text), limit)
    if obj["type"] == "mrkdwn":
        assert "emoji" not in obj
        assert obj.get("verbatim") is True  # untrusted text: no auto-linking or auto-mentions
    else:
        assert "verbatim" not in obj
    assert_safe_text(text)


def validate_message(fallback: str, blocks: list[dict[str, Any]]) -> None:
    """Fail unless the message satisfies every Block Kit limit of reference §6 plus soarbot's own caps."""
    json.dumps(blocks, ensure_ascii=False).encode("utf-8")  # serialisable, no lone surrogates
    assert isinstance(fallback, str) and fallback.strip()
    assert units(fallback) <= 3_000
    assert_safe_text(fallback)
    assert 1 <= len(blocks) <= 50
    assert sum(units(s) for s in strings(blocks)) <= 12_000  # bolt-js #2509
    ids = [block["block_id"] for block in blocks]
    assert len(set(ids)) == len(ids), "block ids must be unique"
    for block in blocks:
        block_id = block["block_id"]
        assert isinstance(block_id, str) and 1 <= units(block_id) <= 255
        kind = block["type"]
        if kind == "section":
            assert set(block) <= {"type", "block_id", "text", "fields"}
            assert "text" in block or "fields" in block
            if "text" in block:
                check_text_object(block["text"], 3_000)
            if "fields" in block:
                assert 1 <= len(block["fields"]) <= 10
                for field in block["fields"]:
                    check_text_object(field, 2_000)
        elif kind == "header":
            check_text_object(block["text"], 150, kind="plain_text")
        elif kind == "context":
            assert set(block) == {"type", "block_id", "elements"}
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                check_text_object(element, 3_000)
        elif kind == "actions":
            assert set(block) == {"type", "block_id", "elements"}
            elements = block["elements"]
            assert 1 <= len(elements) <= 25
            action_ids = [element["action_id"] for element in elements]
            assert len(set(action_ids)) == len(action_ids), "action_id must be unique within its block"
            for element in elements:
                assert element["type"] == "button"
                assert set(element) <= {"type", "action_id", "text", "value", "style"}
                check_text_object(element["text"], 75, kind="plain_text")
                assert 1 <= units(element["action_id"]) <= 255
                if "value" in element:
                    assert isinstance(element["value"], str) and 1 <= units(element["value"]) <= 2_000
                if "style" in element:
                    assert element["style"] in ("primary", "danger")
        else:
            pytest.fail(f"unexpected block type {kind!r}")
    assert sum(1 for b in blocks if b["type"] == "actions" for _ in b["elements"]) <= 25


def row(**overrides: Any) -> ApprovalRow:
    values: dict[str, Any] = {
        "id": 7,
        "run_id": 1,
        "step_key": "block",
        "case_id": 3,
        "action": "firewall.block_ip",
        "target": "203.0.113.7",
        "reason": "case 3",
        "message": "Block 203.0.113.7?",
        "requester": "playbook",
        "policy": {},
        "required": 1,
        "critical": False,
        "status": ApprovalStatus.PENDING,
        "outcome": None,
        "decided_by": None,
        "decided_at": None,
        "decision_reason": None,
        "expires_at": datetime(2030, 1, 1, tzinfo=UTC),
        "remind_at": None,
        "escalation_level": 0,
        "created_at": datetime(2029, 12, 31, 20, tzinfo=UTC),
    }
    values.update(overrides)
    return ApprovalRow(**values)


def blocks_of(blocks: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [block for block in blocks if block["type"] == kind]


# --- escaping ---------------------------------------------------------------------------------------------


def test_escape_turns_control_characters_into_entities() -> None:
    assert escape("<!channel> & <@U123>") == "&lt;!channel&gt; &amp; &lt;@U123&gt;"
    assert escape("<http://evil.example|click me>") == "&lt;http://evil.example|click me&gt;"
    assert escape("&lt;!here&gt;") == "&amp;lt;!here&amp;gt;"  # pre-escaped input is shown literally, not decoded


def test_escape_leaves_normal_text_alone_and_drops_invisible_tricks() -> None:
    normal = "Block *203.0.113.7* on _edge-01_ — 8/90 engines, naïve 東京 😀\n\tindented `code`"
    assert escape(normal) == normal
    assert escape("invoice\u202egpj.exe") == "invoicegpj.exe"  # right-to-left override
    assert escape("a\x00b\x1bc\r\nd\re") == "abc\nd\ne"


def test_injected_mentions_and_links_never_appear_unescaped() -> None:
    card = Card(
        title=f"Alert {NASTY}",
        text=f"Beaconing seen. {NASTY}\n> quoted {NASTY}",
        fields=((f"Host {NASTY}", f"web-01 {NASTY}"), ("User", NASTY)),
        buttons=(Button(f"Go {NASTY}", "case.open", "42"),),
        footer=f"From {NASTY}",
        severity="critical",
    )
    fallback, blocks = render(card)
    for text in [fallback, *strings(blocks)]:
        for payload in RAW_PAYLOADS:
            assert payload not in text
        assert_safe_text(text)
    section_text = "\n".join(b["text"]["text"] for b in blocks_of(blocks, "section") if "text" in b)
    assert "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil.example|click&gt;" in section_text  # shown, not dropped
    assert "&amp;lt;!everyone&amp;gt;" in section_text
    validate_message(fallback, blocks)


def test_ephemeral_reply_is_escaped() -> None:
    fallback, blocks = ephemeral(f"No such case: {NASTY}")
    assert fallback.startswith("No such case: &lt;!channel&gt;")
    for text in [fallback, *strings(blocks)]:
        for payload in RAW_PAYLOADS:
            assert payload not in text
    validate_message(fallback, blocks)


def test_ephemeral_long_reply_is_split_and_capped() -> None:
    fallback, blocks = ephemeral("line of help text\n" * 5_000)
    validate_message(fallback, blocks)
    assert len(blocks) > 1
    assert blocks[-1]["text"]["text"].endswith("… (truncated)")


# --- buttons and action ids -------------------------------------------------------------------------------


def test_approval_card_renders_approve_and_deny_buttons() -> None:
    fallback, blocks = render(approval_card(row(), []))
    validate_message(fallback, blocks)
    (actions,) = blocks_of(blocks, "actions")
    approve, deny = actions["elements"]
    assert approve == {
        "type": "button",
        "action_id": "approval_approve",
        "text": {"type": "plain_text", "text": "Approve", "emoji": True},
        "value": "7",
        "style": "primary",
    }
    assert deny["action_id"] == "approval_deny"
    assert deny["style"] == "danger"
    assert deny["value"] == "7"
    assert deny["text"]["text"] == "Deny"
    assert [neutral_action(e["action_id"]) for e in actions["elements"]] == [APPROVE, DENY]
    assert fallback == "Block 203.0.113.7?"


def test_default_style_is_omitted_and_empty_value_left_out() -> None:
    _, blocks = render(Card("Isolated web-01", buttons=(Button("Undo", UNDO, "5"), Button("Ack", "case.ack", ""))))
    (actions,) = blocks_of(blocks, "actions")
    undo, ack = actions["elements"]
    assert "style" not in undo and undo["action_id"] == "action_undo" and undo["value"] == "5"
    assert "value" not in ack


@pytest.mark.parametrize(
    "neutral", [APPROVE, DENY, UNDO, "edr.isolate_host", "identity.disable_user", "a._b", "x__y..z", "", "plain"]
)
def test_action_id_and_neutral_action_are_inverse(neutral: str) -> None:
    slack = action_id(neutral)
    assert neutral_action(slack) == neutral
    assert action_id(neutral_action(slack)) == slack
    assert "." not in slack or "_" in neutral  # dots only where the neutral name had underscores


def test_action_id_maps_dots_to_underscores() -> None:
    assert action_id("approval.approve") == "approval_approve"
    assert action_id("approval.deny") == "approval_deny"
    assert neutral_action("approval_approve") == "approval.approve"
    assert action_id("edr.isolate_host") != action_id("edr_isolate_host")  # lossless: no two names collide
    assert neutral_action(action_id("edr.isolate_host")) == "edr.isolate_host"


def test_buttons_sharing_an_action_go_to_separate_rows() -> None:
    buttons = tuple(Button(f"Isolate {host}", "edr.isolate_host", host) for host in ("a", "b", "c"))
    fallback, blocks = render(Card("Hosts", buttons=(*buttons, Button("Close", "case.close", "1"))))
    validate_message(fallback, blocks)
    rows = blocks_of(blocks, "actions")
    assert [[e["value"] for e in r["elements"]] for r in rows] == [["a", "1"], ["b"], ["c"]]


# --- block ids --------------------------------------------------------------------------------------------


def test_block_ids_are_stable_for_the_same_card() -> None:
    card = approval_card(row(), [])
    assert render(card) == render(card)


def test_decided_card_gets_new_action_and_context_block_ids() -> None:
    _, pending = render(approval_card(row(), []))
    decided_card = approval_card(
        row(
            status=ApprovalStatus.APPROVED,
            outcome=Decision.APPROVE,
            decided_by="U123",
            decided_at=datetime(2030, 1, 1, 1, tzinfo=UTC),
        ),
        ["U123"],
    )
    fallback, decided = render(decided_card)
    validate_message(fallback, decided)
    assert not blocks_of(decided, "actions")
    (context,) = blocks_of(decided, "context")
    assert context["elements"][0]["text"].startswith("Approved by U123 at ")

    def ids(blocks: list[dict[str, Any]]) -> set[str]:
        return {b["block_id"] for b in blocks if b["type"] in ("actions", "context")}

    assert ids(pending) and ids(decided)
    assert ids(pending).isdisjoint(ids(decided))
    assert {b["block_id"] for b in pending}.isdisjoint({b["block_id"] for b in decided})


def test_block_ids_change_when_only_the_buttons_change() -> None:
    base = Card("Isolated web-01", text="done", buttons=(Button("Undo", UNDO, "5"),))
    _, before = render(base)
    _, after = render(Card("Isolated web-01", text="done", buttons=(Button("Undo", UNDO, "6"),)))
    _, without = render(Card("Isolated web-01", text="done"))
    assert {b["block_id"] for b in before}.isdisjoint({b["block_id"] for b in after})
    assert {b["block_id"] for b in before}.isdisjoint({b["block_id"] for b in without})


# --- layout -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "emoji"),
    [("critical", "🔴"), ("high", "🟠"), ("medium", "🟡"), ("low", "🔵"), ("info", "⚪"), ("HIGH", "🟠")],
)
def test_severity_is_an_emoji_prefix(severity: str, emoji: str) -> None:
    fallback, blocks = render(Card("Beaconing", severity=severity))
    assert blocks[0]["text"]["text"] == f"{emoji} *Beaconing*"
    assert fallback.startswith(f"{emoji} Beaconing")


@pytest.mark.parametrize("severity", [None, "", "bogus"])
def test_no_or_unknown_severity_has_no_prefix(severity: str | None) -> None:
    _, blocks = render(Card("Beaconing", severity=severity))
    assert blocks[0]["text"]["text"] == "*Beaconing*"


def test_text_fields_and_footer_layout() -> None:
    card = Card("T", text="body", fields=(("Action", "firewall.block_ip"), ("Empty", "")), footer="Request #7")
    fallback, blocks = render(card)
    validate_message(fallback, blocks)
    assert [b["type"] for b in blocks] == ["section", "section", "section", "context"]
    assert blocks[1]["text"]["text"] == "body"
    assert [f["text"] for f in blocks[2]["fields"]] == ["*Action*\nfirewall.block_ip", "*Empty*\n-"]
    assert blocks[3]["elements"][0]["text"] == "Request #7"
    assert fallback == "T\nbody"


def test_long_text_is_split_at_lines_into_sections() -> None:
    lines = [f"line {i:04d} " + "x" * 40 for i in range(150)]  # ~7,500 characters
    fallback, blocks = render(Card("T", text="\n".join(lines)))
    validate_message(fallback, blocks)
    sections = [b["text"]["text"] for b in blocks[1:]]
    assert len(sections) == 3
    assert "\n".join(sections).split("\n") == lines  # nothing lost, no line broken
    assert units(fallback) <= 3_000 and fallback.endswith("… (truncated)")


def test_huge_text_is_truncated_first_and_fields_kept() -> None:
    fields = (("Host", "web-01"), ("User", "alice"))
    fallback, blocks = render(Card("T", text="A" * 50_000, fields=fields, footer="f"))
    validate_message(fallback, blocks)
    text_sections = [b for b in blocks if "text" in b][1:]
    assert 1 < len(text_sections) <= 4
    assert text_sections[-1]["text"]["text"].endswith("… (truncated)")
    (field_section,) = [b for b in blocks if "fields" in b]
    assert [f["text"] for f in field_section["fields"]] == ["*Host*\nweb-01", "*User*\nalice"]


def test_many_fields_fill_sections_of_ten_and_say_how_many_are_hidden() -> None:
    fields = tuple((f"k{i}", f"v{i}") for i in range(200))
    fallback, blocks = render(Card("T", fields=fields))
    validate_message(fallback, blocks)
    field_sections = [b for b in blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 10]
    assert field_sections[-1]["fields"][-1]["text"] == "*More*\n171 more fields not shown"


def test_title_labels_and_buttons_are_capped() -> None:
    buttons = tuple(Button("L" * 100, f"act.n{i}", str(i), ButtonStyle.PRIMARY) for i in range(80))
    fallback, blocks = render(Card("T" * 500, buttons=buttons))
    validate_message(fallback, blocks)
    assert units(blocks[0]["text"]["text"]) <= 150 + 2  # the bold markers
    assert blocks[0]["text"]["text"].endswith("…*")
    (actions,) = blocks_of(blocks, "actions")
    assert len(actions["elements"]) == 25
    assert all(units(e["text"]["text"]) == 75 and e["text"]["text"].endswith("…") for e in actions["elements"])


def test_buttons_with_values_or_ids_too_long_are_left_out_not_cut() -> None:
    buttons = (
        Button("Too big", "x.big", "v" * 2_001),
        Button("Just fits", "x.fits", "v" * 2_000),
        Button("Long id", "x." + "i" * 300, "1"),
    )
    fallback, blocks = render(Card("T", buttons=buttons))
    validate_message(fallback, blocks)
    (actions,) = blocks_of(blocks, "actions")
    assert [(e["action_id"], len(e["value"])) for e in actions["elements"]] == [("x_fits", 2_000)]


# --- every limit over nasty cards -------------------------------------------------------------------------

ALPHABET = [
    "a",
    "Z",
    " ",
    "\n",
    "\t",
    "<",
    ">",
    "&",
    "*",
    "_",
    "~",
    "`",
    "|",
    "!",
    "@",
    "#",
    ";",
    "é",
    "東",
    "😀",
    "🔴",
]
ALPHABET += [
    "\x00",
    "\x1b",
    "\r",
    "\u202e",
    "\u2067",
    "\ud800",
    "&amp;",
    "<!channel>",
    "<@U1>",
    "<http://e|x>",
    "\u200b",
]
LENGTHS = [0, 1, 2, 24, 74, 75, 76, 149, 150, 151, 1_999, 2_000, 2_001, 2_999, 3_000, 3_001, 12_000, 50_000]


def nasty_string(rng: random.Random, length: int | None = None) -> str:
    length = rng.choice(LENGTHS) if length is None else length
    if rng.random() < 0.3:  # one repeated token: worst case for entities and astral characters
        token = rng.choice(ALPHABET)
        return (token * (length // max(1, len(token)) + 1))[:length]
    return "".join(rng.choices(ALPHABET, k=length))


def nasty_card(rng: random.Random) -> Card:
    actions = ["approval.approve", "approval.deny", "action.undo", "edr.isolate_host", "x" * 300, ""]
    buttons = tuple(
        Button(
            nasty_string(rng, rng.choice([0, 1, 75, 76, 100, 500])),
            rng.choice(actions),
            nasty_string(rng, rng.choice([0, 1, 36, 2_000, 2_001, 10_000])),
            rng.choice(list(ButtonStyle)),
        )
        for _ in range(rng.choice([0, 1, 2, 25, 26, 80]))
    )
    fields = tuple(
        (nasty_string(rng, rng.choice([0, 1, 200, 2_000])), nasty_string(rng))
        for _ in range(rng.choice([0, 1, 10, 11, 200]))
    )
    return Card(
        title=nasty_string(rng, rng.choice([0, 1, 150, 151, 500, 5_000])),
        text=nasty_string(rng),
        fields=fields,
        buttons=buttons,
        footer=nasty_string(rng),
        severity=rng.choice([None, "critical", "high", "medium", "low", "info", "bogus"]),
    )


HAND_WRITTEN = [
    Card(""),
    Card("   ", text="   \n\t ", footer="  "),
    Card("T", fields=tuple((f"field {i}", "v" * 5_000) for i in range(200))),
    Card("T", text="x" * 50_000, footer="y" * 50_000),
    Card("😀" * 500, text="😀" * 20_000, fields=(("😀" * 300, "😀" * 3_000),) * 12),
    Card("&" * 500, text="&" * 20_000, fields=(("<" * 300, ">" * 3_000),) * 40, footer="&" * 4_000),
    Card("T", buttons=tuple(Button("L" * 100, "same.action", "v" * 2_000) for _ in range(80))),
    Card("T", buttons=tuple(Button("L" * 100, f"a.b{i}", "v" * 2_000, ButtonStyle.DANGER) for i in range(80))),
    Card(
        "T" * 500,
        text="t" * 50_000,
        fields=tuple(("k" * 2_000, "v" * 2_000) for _ in range(200)),
        buttons=tuple(Button("b" * 100, f"n.{i % 3}", "9" * 1_999) for i in range(80)),
        footer="f" * 10_000,
        severity="critical",
    ),
]


@pytest.mark.parametrize("card", HAND_WRITTEN, ids=lambda card: f"title{len(card.title)}-text{len(card.text)}")
def test_hand_written_nasty_cards_satisfy_every_limit(card: Card) -> None:
    validate_message(*render(card))


@pytest.mark.parametrize("seed", range(60))
def test_generated_nasty_cards_satisfy_every_limit(seed: int) -> None:
    card = nasty_card(random.Random(seed))
    fallback, blocks = render(card)
    validate_message(fallback, blocks)
    assert (fallback, blocks) == render(card)  # deterministic, block ids included


def test_validator_rejects_broken_messages() -> None:
    _, good = render(Card("T", text="x", buttons=(Button("Go", "a.b", "1"),)))
    broken = [
        [{**good[0], "text": {"type": "mrkdwn", "text": "<!channel>", "verbatim": True}}],
        [{**good[0], "text": {"type": "mrkdwn", "text": "x" * 3_001, "verbatim": True}}],
        [{**good[0], "text": {"type": "mrkdwn", "text": "x"}}],
        [good[0], {**good[0]}],
        [{**good[-1], "elements": good[-1]["elements"] * 2}],
        [
            {"type": "section", "block_id": f"b{i}", "text": {"type": "mrkdwn", "text": "x", "verbatim": True}}
            for i in range(51)
        ],
    ]
    for blocks in broken:
        with pytest.raises(AssertionError):
            validate_message("fallback", blocks)
    with pytest.raises(AssertionError):
        validate_message("x" * 3_001, good)


# --- deny-with-reason modal -------------------------------------------------------------------------------


def test_deny_modal_shape() -> None:
    view = deny_modal("7", f"Block 203.0.113.7? {NASTY}")
    assert view["type"] == "modal"
    assert view["callback_id"] == "approval_deny_reason"
    assert view["private_metadata"] == "7"
    assert view["title"] == {"type": "plain_text", "text": "Deny request", "emoji": True}
    assert view["submit"]["text"] == "Deny"
    assert view["close"]["text"] == "Cancel"
    for key in ("title", "submit", "close"):
        assert view[key]["type"] == "plain_text" and len(view[key]["text"]) <= 24
    summary, reason = view["blocks"]
    assert summary["type"] == "section"
    assert summary["text"]["text"].startswith("Block 203.0.113.7? &lt;!channel&gt;")
    assert reason == {
        "type": "input",
        "block_id": "reason",
        "optional": False,
        "label": {"type": "plain_text", "text": "Why is this denied?", "emoji": True},
        "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True, "max_length": 2_000},
    }
    for text in strings(view):
        for payload in RAW_PAYLOADS:
            assert payload not in text
    assert len(view["blocks"]) <= 100


def test_deny_modal_caps_the_summary_and_refuses_bad_ids() -> None:
    view = deny_modal("7", "<" * 10_000)
    check_text_object(view["blocks"][0]["text"], 3_000)
    assert deny_modal("9", "")["blocks"][0]["text"]["text"].strip()
    with pytest.raises(ValueError, match="approval id"):
        deny_modal("", "x")
    with pytest.raises(ValueError, match="approval id"):
        deny_modal("1" * 3_001, "x")
    assert deny_modal("1" * 3_000, "x")["private_metadata"] == "1" * 3_000


def submitted(view: dict[str, Any], value: str | None) -> dict[str, Any]:
    """What Slack sends back in view_submission for ``view`` with ``value`` typed (reference §3.3 shape)."""
    return {
        **view,
        "id": "V111",
        "hash": "1596530361.3wRYuk3R",
        "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": value}}}},
    }


def test_reason_from_view_round_trip() -> None:
    view = deny_modal("APR-9f2c", "Isolate web-01?")
    assert reason_from_view(submitted(view, "  false positive: scanner <@U1>\n")) == (
        "APR-9f2c",
        "false positive: scanner <@U1>",
    )
    assert reason_from_view(submitted(view, None)) == ("APR-9f2c", "")


@pytest.mark.parametrize(
    "view",
    [
        {},
        {"private_metadata": "7", "state": {"values": {}}},
        {"private_metadata": "", "state": {"values": {"reason": {"reason": {"value": "x"}}}}},
        {"private_metadata": "7", "callback_id": "other", "state": {"values": {"reason": {"reason": {"value": "x"}}}}},
        {"private_metadata": "7", "state": {"values": {"reason": {"reason": {"value": 5}}}}},
        {"private_metadata": "7", "state": None},
    ],
)
def test_reason_from_view_rejects_other_views(view: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        reason_from_view(view)
