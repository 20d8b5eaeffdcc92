"""Conditions and templates: Jinja2 in its immutable sandbox. Data in, text or a value out; no code.

``when`` and ``for_each`` are expressions (``alert.severity == "high"``, ``indicators | selectattr(...) |
list``); every other string is a template (``Block {{ item.value }}?``). Undefined names are errors, so a
misspelt variable fails loudly rather than rendering as an empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.core.errors import PlaybookError

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=1024)
def _expression(text: str) -> Any:
    return _ENV.compile_expression(text, undefined_to_none=False)


@lru_cache(maxsize=1024)
def _template(text: str) -> Any:
    return _ENV.from_string(text)


def compile_check(text: str, *, expression: bool) -> None:
    """Raise PlaybookError if ``text`` does not compile."""
    try:
        _expression(text) if expression else _template(text)
    except TemplateError as err:
        raise PlaybookError(f"invalid {'expression' if expression else 'template'}: {err.message}") from None


def evaluate(text: str, context: Mapping[str, Any]) -> Any:
    """Evaluate an expression against ``context``."""
    try:
        return _expression(text)(**context)
    except TemplateError as err:
        raise PlaybookError(f"cannot evaluate {text!r}: {err.message}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError) as err:
        raise PlaybookError(f"cannot evaluate {text!r}: {err}") from None


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render a template against ``context``."""
    try:
        return str(_template(text).render(**context))
    except TemplateError as err:
        raise PlaybookError(f"cannot render {text!r}: {err.message}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError) as err:
        raise PlaybookError(f"cannot render {text!r}: {err}") from None


def truthy(text: str | None, context: Mapping[str, Any]) -> bool:
    """Evaluate a condition; an absent condition holds."""
    return True if text is None else bool(evaluate(text, context))
