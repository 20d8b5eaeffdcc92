"""Render neutral cards, replies and the deny-reason modal as Slack Block Kit (plain dicts, no I/O).

Every string that reaches Slack from a ``Card`` is untrusted: it is mrkdwn-escaped (``&``, ``<``, ``>``), stripped
of control and bidi-override characters, and cut to Block Kit's limits (reference/slack-and-discord.md §6). Lengths
are counted in UTF-16 code units, the stricter of the ways Slack may count them. The whole message keeps its block
text under ~12,000 characters (bolt-js #2509: ``msg_blocks_too_long`` at ~13k) by cutting the longest text first.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.ports import Button, ButtonStyle, Card

# Block Kit limits (reference/slack-and-discord.md §6) and soarbot's own caps.
MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3_000
FIELD_TEXT_MAX = 2_000
FIELDS_PER_SECTION = 10
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
ACTION_ID_MAX = 255
BUTTON_VALUE_MAX = 2_000
BLOCK_ID_MAX = 255
TITLE_MAX = 150  # a header block's limit, kept for the bold title section too
MODAL_TEXT_MAX = 24
PRIVATE_METADATA_MAX = 3_000
FALLBACK_MAX = 3_000
MESSAGE_BUDGET = 12_000  # total characters of all strings in a message's blocks (bolt-js #2509)
MAX_TEXT_SECTIONS = 4
MAX_FIELDS = 30
FIELD_LABEL_MAX = 150
BUTTON_BUDGET = 4_000  # labels, values and action ids of all buttons together; later buttons are dropped

TRUNCATED = "… (truncated)"
ELLIPSIS = "…"

DENY_CALLBACK_ID = "approval_deny_reason"
REASON_BLOCK_ID = "reason"
REASON_ACTION_ID = "reason"
REASON_MAX = 2_000

SEVERITY_EMOJI: Mapping[str, str] = {
    "critical": "\N{LARGE RED CIRCLE}",
    "high": "\N{LARGE ORANGE CIRCLE}",
    "medium": "\N{LARGE YELLOW CIRCLE}",
    "low": "\N{LARGE BLUE CIRCLE}",
    "info": "\N{MEDIUM WHITE CIRCLE}",
}

_STYLES: Mapping[ButtonStyle, str] = {ButtonStyle.PRIMARY: "primary", ButtonStyle.DANGER: "danger"}

# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates (Trojan Source) and lone
# surrogates (they cannot be encoded as JSON text).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")

Block = dict[str, Any]


# --- text -------------------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape untrusted text for Slack mrkdwn so it can never mention, link or format-inject.

    ``&``, ``<`` and ``>`` become entities, which defuses ``<!channel>``, ``<!here>``, ``<@U…>``, ``<#C…>`` and
    ``<http://evil|click me>``; control and bidi-override characters are dropped and line ends normalised.
    Everything else (``*bold*``, emoji, non-Latin text) is left alone.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _units(text: str) -> int:
    """Length in UTF-16 code units (astral characters such as most emoji count twice)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _head(text: str, units: int) -> str:
    """The longest prefix of ``text`` within ``units`` UTF-16 units, never ending inside an entity."""
    if units <= 0:
        return ""
    head = text.encode("utf-16-le", "surrogatepass")[: 2 * units].decode("utf-16-le", "ignore")
    amp = head.rfind("&", max(0, len(head) - 4))  # escape() only makes &amp; &lt; &gt;: at most 5 long
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head


def _clip(text: str, limit: int, marker: str = TRUNCATED) -> str:
    """Cut escaped ``text`` to ``limit`` UTF-16 units, ending with ``marker`` when anything was cut."""
    if _units(text) <= limit:
        return text
    if _units(marker) >= limit:
        return _head(ELLIPSIS, limit)
    return _head(text, limit - _units(marker)).rstrip() + marker


def _one_line(text: str) -> str:
    """Collapse all whitespace runs to single spaces (titles, labels)."""
    return _WHITESPACE.sub(" ", text).strip()


def _split(text: str, size: int, parts: int) -> list[str]:
    """Split escaped ``text`` into at most ``parts`` non-blank chunks of ≤ ``size`` units, breaking at lines."""
    chunks: list[str] = []
    rest = text.strip()
    while rest and len(chunks) < parts - 1 and _units(rest) > size:
        window = _head(rest, size)
        cut = window.rfind("\n")
        if cut <= len(window) // 2:
            cut = window.rfind(" ")
        if cut <= len(window) // 2:
            cut = len(window)
        if cut == 0:
            break
        chunk, rest = rest[:cut].strip(), rest[cut:].strip()
        if chunk:
            chunks.append(chunk)
    if rest:
        chunks.append(_clip(rest, size))
    return chunks


def _mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object that Slack will not auto-link or auto-mention (``verbatim``)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(text: str) -> dict[str, Any]:
    """A plain_text object."""
    return {"type": "plain_text", "text": text, "emoji": True}


# --- action ids -------------------------------------------------------------------------------------------

_SWAP = str.maketrans("._", "_.")


def action_id(neutral: str) -> str:
    """Turn a neutral action (``approval.approve``) into a Slack action_id (``approval_approve``).

    Dots and underscores swap places, so the mapping is its own inverse and lossless for keys like
    ``edr.isolate_host`` (→ ``edr_isolate.host``).
    """
    return neutral.translate(_SWAP)


def neutral_action(slack_action_id: str) -> str:
    """Turn a Slack action_id back into the neutral action it was made from."""
    return slack_action_id.translate(_SWAP)


# --- cards ------------------------------------------------------------------------------------------------


def _severity_prefix(severity: str | None) -> str:
    """The emoji for a severity and a space, or nothing for no or an unknown severity."""
    emoji = SEVERITY_EMOJI.get((severity or "").strip().lower())
    return f"{emoji} " if emoji else ""


def _buttons(buttons: Sequence[Button]) -> list[dict[str, Any]]:
    """Slack button elements for the buttons that fit: valid ids and values, ≤ 25, within the button budget."""
    elements: list[dict[str, Any]] = []
    spent = 0
    for button in buttons:
        if len(elements) == ACTIONS_ELEMENTS_MAX:
            break
        slack_id = action_id(button.action)
        if (
            not slack_id
            or _units(slack_id) > ACTION_ID_MAX
            or _units(button.value) > BUTTON_VALUE_MAX
            or _SURROGATE.search(slack_id + button.value)
        ):
            continue  # a cut or cleaned id or value would route the click to the wrong thing: leave the button out
        label = _clip(escape(_one_line(button.label)), BUTTON_TEXT_MAX, ELLIPSIS) or ELLIPSIS
        cost = _units(label) + _units(slack_id) + _units(button.value)
        if spent + cost > BUTTON_BUDGET:
            break
        spent += cost
        element: dict[str, Any] = {"type": "button", "action_id": slack_id, "text": _plain(label)}
        if button.value:
            element["value"] = button.value
        if style := _STYLES.get(button.style):
            element["style"] = style
        elements.append(element)
    return elements


def _action_rows(elements: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group buttons into rows in which every action_id is unique (Slack requires it within a block)."""
    rows: list[list[dict[str, Any]]] = []
    for element in elements:
        row = next((r for r in rows if all(e["action_id"] != element["action_id"] for e in r)), None)
        if row is None:
            rows.append([element])
        else:
            row.append(element)
    return rows


def _with_ids(blocks: list[Block], salt: str) -> list[Block]:
    """Give each block an id that is unique in the message and changes with its content and the buttons."""
    for index, block in enumerate(blocks):
        content = json.dumps([index, block, salt], sort_keys=True)
        digest = hashlib.sha256(content.encode("ascii")).hexdigest()[:12]
        block["block_id"] = f"{block['type']}-{index}-{digest}"
    return blocks


def _total(value: Any) -> int:
    """Total UTF-16 length of every string in a JSON-like value."""
    if isinstance(value, str):
        return _units(value)
    if isinstance(value, Mapping):
        return sum(_total(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_total(v) for v in value)
    return 0


def _water_level(lengths: Sequence[int], target: int) -> int:
    """The largest cap L with ``sum(min(length, L)) <= target``: cutting the longest texts first."""
    low, high = 0, max(lengths, default=0)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(length, mid) for length in lengths) <= target:
            low = mid
        else:
            high = mid - 1
    return low


class _Parts:
    """A card's escaped, capped texts: the pieces the budget may cut."""

    def __init__(self, card: Card) -> None:
        self.title = _clip(escape(_one_line(card.title)), TITLE_MAX, ELLIPSIS)
        self.text = _clip(escape(card.text).strip(), MAX_TEXT_SECTIONS * SECTION_TEXT_MAX)
        shown = list(card.fields)
        if len(shown) > MAX_FIELDS:
            hidden = len(shown) - (MAX_FIELDS - 1)
            shown = [*shown[: MAX_FIELDS - 1], ("More", f"{hidden} more fields not shown")]
        self.labels = [_clip(escape(_one_line(label)), FIELD_LABEL_MAX, ELLIPSIS) for label, _ in shown]
        self.values = [
            _clip(escape(value).strip(), FIELD_TEXT_MAX - _units(_field_head(label)))
            for label, (_, value) in zip(self.labels, shown, strict=True)
        ]
        self.footer = _clip(escape(card.footer).strip(), SECTION_TEXT_MAX)

    def pieces(self) -> list[str]:
        """All cuttable texts in one list."""
        return [self.title, self.text, *self.labels, *self.values, self.footer]

    def cut_to(self, level: int) -> None:
        """Cut every text longer than ``level`` units to ``level``."""

        def cut(text: str) -> str:
            return _clip(text, level, ELLIPSIS if level < 2 * _units(TRUNCATED) else TRUNCATED)

        self.title = cut(self.title)
        self.text = cut(self.text)
        self.labels = [cut(label) for label in self.labels]
        self.values = [cut(value) for value in self.values]
        self.footer = cut(self.footer)


def _field_head(label: str) -> str:
    """The bold label line that starts a field's text."""
    return f"*{label}*\n" if label else ""


def _card_blocks(parts: _Parts, prefix: str, buttons: list[dict[str, Any]], salt: str) -> list[Block]:
    """Lay a card out as blocks: title, text sections, field sections, action rows, footer."""
    blocks: list[Block] = [{"type": "section", "text": _mrkdwn(f"{prefix}*{parts.title or '(untitled)'}*")}]
    chunks = _split(parts.text, SECTION_TEXT_MAX, MAX_TEXT_SECTIONS)
    blocks += [{"type": "section", "text": _mrkdwn(chunk)} for chunk in chunks]
    fields = []
    for label, value in zip(parts.labels, parts.values, strict=True):
        head = _field_head(label)
        fields.append(_mrkdwn(head + _clip(value or "-", FIELD_TEXT_MAX - _units(head))))
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
    blocks += [{"type": "actions", "elements": row} for row in _action_rows(buttons)]
    if parts.footer:
        blocks.append({"type": "context", "elements": [_mrkdwn(parts.footer)]})
    return _with_ids(blocks[:MAX_BLOCKS], salt)


def render(card: Card) -> tuple[str, list[dict[str, Any]]]:
    """Render a card as ``(fallback text, blocks)`` for ``chat.postMessage`` / ``chat.update``.

    All card text is escaped and cut to Block Kit's limits; buttons become one actions block (more only when
    two buttons share an action) whose block ids change whenever the card's buttons do.
    """
    prefix = _severity_prefix(card.severity)
    parts = _Parts(card)
    elements = _buttons(card.buttons)
    salt = json.dumps([[b.label, b.action, b.value, str(b.style)] for b in card.buttons])
    blocks = _card_blocks(parts, prefix, elements, salt)
    for attempt in range(10):
        excess = _total(blocks) - MESSAGE_BUDGET
        if excess <= 0:
            break
        pieces = [_units(piece) for piece in parts.pieces()]
        parts.cut_to(_water_level(pieces, max(0, sum(pieces) - excess - 100 * attempt)))
        blocks = _card_blocks(parts, prefix, elements, salt)
    if _total(blocks) > MESSAGE_BUDGET:  # pragma: no cover - capped inputs always converge; stay valid anyway
        blocks = _with_ids(
            [{"type": "section", "text": _mrkdwn(f"{prefix}*{_head(parts.title, 100) or '(untitled)'}*")}], salt
        )
    fallback_title = _clip(escape(_one_line(card.title)), TITLE_MAX, ELLIPSIS) or "(untitled)"
    fallback = prefix + fallback_title
    if text := escape(card.text).strip():
        fallback += "\n" + text
    return _clip(fallback, FALLBACK_MAX), blocks


def ephemeral(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Render a plain reply as ``(fallback text, blocks)``, escaped and cut to fit."""
    escaped = escape(text).strip() or "(no message)"
    body = _clip(escaped, MESSAGE_BUDGET - 1_000)
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn(chunk)} for chunk in _split(body, SECTION_TEXT_MAX, MAX_TEXT_SECTIONS)
    ]
    return _clip(escaped, FALLBACK_MAX), _with_ids(blocks, "")


# --- deny-with-reason modal -------------------------------------------------------------------------------


def deny_modal(approval_id: str, summary: str) -> dict[str, Any]:
    """Build the modal that asks why an approval request is denied; the approval id rides in private_metadata.

    Raises:
        ValueError: the approval id is empty or longer than ``private_metadata`` allows.

    """
    if not approval_id or _units(approval_id) > PRIVATE_METADATA_MAX:
        raise ValueError("approval id must be 1 to 3,000 characters")
    text = _clip(escape(summary).strip(), SECTION_TEXT_MAX) or "(no summary)"
    return {
        "type": "modal",
        "callback_id": DENY_CALLBACK_ID,
        "private_metadata": approval_id,
        "title": _plain("Deny request"),
        "submit": _plain("Deny"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "block_id": "summary", "text": _mrkdwn(text)},
            {
                "type": "input",
                "block_id": REASON_BLOCK_ID,
                "optional": False,
                "label": _plain("Why is this denied?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION_ID,
                    "multiline": True,
                    "max_length": REASON_MAX,
                },
            },
        ],
    }


def reason_from_view(view: Mapping[str, Any]) -> tuple[str, str]:
    """Read ``(approval id, reason)`` from a deny modal's ``view_submission`` view (reason stripped).

    Raises:
        ValueError: the view is not a deny-reason modal or lacks the approval id or the reason input.

    """
    callback = view.get("callback_id")
    if callback is not None and callback != DENY_CALLBACK_ID:
        raise ValueError(f"not a deny-reason view: {callback!r}")
    approval_id = view.get("private_metadata")
    try:
        state = view["state"]["values"][REASON_BLOCK_ID][REASON_ACTION_ID]
    except (KeyError, TypeError) as err:
        raise ValueError("deny-reason view has no reason input") from err
    reason = state.get("value") if isinstance(state, Mapping) else None
    if not isinstance(approval_id, str) or not approval_id:
        raise ValueError("deny-reason view has no approval id")
    if reason is not None and not isinstance(reason, str):
        raise ValueError("deny-reason value is not text")
    return approval_id, (reason or "").strip()
