"""What every /soar command shares: the caller's context, the permission rules, argument and mention parsing.

Command text arrives as the platform sends it. Two plain-text conventions are understood here: user mentions
``<@U123|name>`` / ``<@U123>`` (Discord: ``<@123>``, ``<@!123>``) and links ``<https://x|label>``. Nothing in
this package knows a chat platform's API.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.core.errors import NotFound, PermissionDenied, UserInputError
from bot.core.events import UnauthorizedAttempt
from bot.core.models import Case, Severity
from playbooks.engine.approvals import Access

if TYPE_CHECKING:
    from bot.incidents import IncidentService, Overview
    from commands import Services

logger = logging.getLogger(__name__)

RESPONDER_ROLES = frozenset({"responder", "lead"})
MAX_ID = 2**63 - 1  # SQLite's integer range


class Permission(StrEnum):
    """Who may run a command."""

    ANY_ROLE = "any role"  # anyone listed under access.roles, whatever the role
    RESPONDER = "responder or lead"


def allowed(permission: Permission, roles: frozenset[str]) -> bool:
    """True when a caller holding ``roles`` may run a command that needs ``permission``."""
    match permission:
        case Permission.ANY_ROLE:
            return bool(roles)
        case Permission.RESPONDER:
            return bool(roles & RESPONDER_ROLES)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One runnable command, as help lists it and authorization checks it."""

    name: str  # "case note"
    usage: str  # "case <id> note <text>"
    summary: str
    permission: Permission


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who runs a command, with which roles, where, on which platform."""

    user: str
    roles: frozenset[str]
    channel: str
    platform: str


def roles_of(user: str, access: Access) -> frozenset[str]:
    """The access roles ``user`` holds."""
    return frozenset(role for role in access.roles if access.has_role(user, role))


# --- arguments --------------------------------------------------------------------------------------------

_WORD = re.compile(r"\S+")


class Args:
    """The words of a command, consumed from the left; free text keeps its original spacing."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
        self._kept = list(range(len(self._words)))  # indexes not yet consumed

    def __len__(self) -> int:
        return len(self._kept)

    def peek(self) -> str | None:
        """The next word, without consuming it."""
        return self._words[self._kept[0]][0] if self._kept else None

    def next(self, what: str, example: str) -> str:
        """Consume the next word; a missing one is a mistake that names ``what`` and shows ``example``."""
        if not self._kept:
            raise UserInputError(f"Missing {what}: `{example}`.")
        return self._words[self._kept.pop(0)][0]

    def next_or_none(self) -> str | None:
        """Consume the next word, if there is one."""
        return self._words[self._kept.pop(0)][0] if self._kept else None

    def words(self) -> list[str]:
        """Consume and return every remaining word."""
        found = [self._words[i][0] for i in self._kept]
        self._kept = []
        return found

    def rest(self) -> str:
        """Consume the remaining words as free text, with the spacing they were typed with."""
        pieces: list[str] = []
        previous: int | None = None
        for index in self._kept:
            _, start, end = self._words[index]
            if previous is not None:
                prev_end = self._words[previous][2]
                pieces.append(self._text[prev_end:start] if index == previous + 1 else " ")
            pieces.append(self._text[start:end])
            previous = index
        self._kept = []
        return "".join(pieces).strip()

    def options(self, flags: Mapping[str, bool]) -> dict[str, str | bool]:
        """Take ``--flag`` words out, wherever they stand; ``flags`` says which take a value.

        Returns the flags given: a value for those that take one, True for the others.
        """
        found: dict[str, str | bool] = {}
        kept: list[int] = []
        position = 0
        while position < len(self._kept):
            index = self._kept[position]
            word = self._words[index][0]
            flag = word.lower()
            if flag in flags:
                if flags[flag]:
                    if position + 1 >= len(self._kept):
                        raise UserInputError(f"`{flag}` needs a value.")
                    found[flag] = self._words[self._kept[position + 1]][0]
                    position += 2
                    continue
                found[flag] = True
            else:
                kept.append(index)
            position += 1
        self._kept = kept
        return found


def no_more(args: Args, example: str) -> None:
    """Refuse words nobody asked for."""
    if len(args):
        extra = " ".join(args.words())
        raise UserInputError(f"Unexpected `{shorten(extra)}`: `{example}`.")


def shorten(text: str, limit: int = 60) -> str:
    """Cut user text for an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MENTION = re.compile(r"^<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>$")
_BARE_ID = re.compile(r"^(?:[UW][A-Z0-9]{6,}|\d{15,21})$")
_LINK = re.compile(r"^<([^@#!][^|>]*)(?:\|([^>]*))?>$")


def parse_mention(word: str) -> str | None:
    """The user id in a mention (``<@U123|name>``, ``<@U123>``, ``<@!123>``) or a bare user id; else None."""
    if (match := _MENTION.match(word)) is not None:
        return match.group(1)
    if _BARE_ID.match(word):
        return word
    return None


def user_arg(word: str, example: str) -> str:
    """A mentioned user's id, or a helpful mistake."""
    user = parse_mention(word)
    if user is None:
        raise UserInputError(
            f"`{shorten(word)}` is not a user mention; mention them with @ so their id comes through: `{example}`."
        )
    return user


def unwrap_link(word: str) -> str:
    """What the user typed for a word the platform turned into a link (``<http://x.com|x.com>`` → ``x.com``)."""
    match = _LINK.match(word)
    if match is None:
        return word
    target, label = match.group(1), match.group(2)
    if label:
        return label
    return target.removeprefix("mailto:")


def case_id_arg(word: str) -> int:
    """A case id typed as ``42`` or ``#42``."""
    text = word.removeprefix("#")
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise UserInputError(f"Case ids are numbers, like `case 42 show`; `{shorten(word)}` is not one.")
    return int(text)


def number_arg(word: str, what: str, example: str) -> int:
    """A positive id typed as ``7`` or ``#7``."""
    text = word.removeprefix("#")
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise UserInputError(f"{what} are numbers, like `{example}`; `{shorten(word)}` is not one.")
    return int(text)


def severity_arg(word: str) -> Severity:
    """A severity word (``high``) or number (1–5)."""
    try:
        return Severity.parse(word)
    except ValueError:
        names = ", ".join(str(s) for s in Severity)
        raise UserInputError(f"Unknown severity `{shorten(word)}`: use one of {names}.") from None


# --- secrets never go into the append-only record ---------------------------------------------------------

_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
        "[redacted]",
    ),
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}"), "[redacted]"),
    (re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}"), "[redacted]"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[redacted]"),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"), "[redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "[redacted]"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{16,}"), r"\1[redacted]"),
    (re.compile(r"(?i)\b(password|passwd|pwd|secret|api[_-]?key|token)(\s*[:=]\s*)[^\s,;]+"), r"\1\2[redacted]"),
)


def redact(text: str) -> tuple[str, bool]:
    """Replace things that look like credentials; return the text and whether anything was replaced.

    The case timeline is append-only and exported, so a token pasted into chat must not land there verbatim.
    """
    changed = False
    for pattern, replacement in _SECRETS:
        text, count = pattern.subn(replacement, text)
        changed = changed or count > 0
    return text, changed


# --- the shared runtime -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Runtime:
    """The services a command handler uses, and the authorization check every handler calls first."""

    services: Services
    incidents: IncidentService
    overview: Overview

    async def authorize(self, ctx: CommandContext, spec: CommandSpec, *, case_id: int | None = None) -> None:
        """Refuse (PermissionDenied) unless the caller may run ``spec``; an attempt on a case is recorded there."""
        if allowed(spec.permission, ctx.roles):
            return
        logger.info("Refused %s to %s (roles: %s)", spec.name, ctx.user, sorted(ctx.roles))
        if case_id is not None:
            await self.record_refusal(ctx.user, case_id, command=spec.name, channel=ctx.channel)
        raise PermissionDenied(refusal(spec.name, spec.permission, ctx.roles))

    async def record_refusal(self, user: str, case_id: int, *, command: str, channel: str) -> None:
        """Write ``unauthorized_attempt`` on a case, if the case exists (nothing else changes)."""
        try:
            await self.services.cases.get(case_id)
        except NotFound:
            return
        await self.services.cases.record(
            case_id, UnauthorizedAttempt(user=user, command=command, channel=channel), user
        )

    async def case(self, case_id: int) -> Case:
        """A case, or a mistake saying there is none."""
        try:
            return await self.services.cases.get(case_id)
        except NotFound:
            raise NotFound(f"There is no case {case_id}.") from None


def refusal(name: str, permission: Permission, roles: frozenset[str]) -> str:
    """The private explanation for refusing command ``name`` to a caller holding ``roles``."""
    if not roles:
        return (
            f"You have no soarbot role, so you cannot run `{name}`. "
            "Ask an admin to add you to access.roles. Nothing was changed."
        )
    needs = "the responder or lead role" if permission is Permission.RESPONDER else "a soarbot role"
    return f"`{name}` needs {needs}; you have {', '.join(sorted(roles))}. Nothing was changed."
