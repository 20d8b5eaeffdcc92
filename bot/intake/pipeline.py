"""From a delivery's bytes to normalised alerts: decode, parse by format, extract indicators."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from bot.core.errors import PayloadError
from bot.core.models import Alert, utcnow
from bot.intake import ioc
from bot.intake.parsers import PARSERS
from bot.intake.parsers.base import WHOLE_BODY, FormatOptions, ParsedAlert


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Everything intake needs to know about one configured source."""

    name: str
    format: str
    token: str | None = None
    hmac_secret: str | None = None
    options: FormatOptions = field(default_factory=FormatOptions)
    group_by: tuple[str, ...] = ("rule", "host")


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what one alert may carry."""

    max_observables: int = 200
    max_text_chars: int = 262144


def decode(body: bytes) -> object:
    """Parse a JSON body; malformed, non-UTF-8 or absurdly nested input is a PayloadError.

    orjson refuses nesting deeper than 1024 levels, so hostile depth never reaches our own recursion.
    """
    if not body.strip():
        raise PayloadError("empty body: expected a JSON alert")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise PayloadError(f"malformed JSON: {err}") from None


def build_alerts(
    spec: SourceSpec, payload: object, body: bytes, *, limits: Limits = Limits(), now: datetime | None = None
) -> list[Alert]:
    """Parse ``payload`` in the source's format and turn each entry into an Alert with its indicators."""
    parse = PARSERS[spec.format]
    try:
        parsed = parse(payload, spec.options)
    except RecursionError:
        raise PayloadError("payload is nested too deeply") from None
    received = now or utcnow()
    return [_alert(spec, item, body, limits, received) for item in parsed]


def _alert(spec: SourceSpec, item: ParsedAlert, body: bytes, limits: Limits, received: datetime) -> Alert:
    raw = body.decode("utf-8") if item.raw is WHOLE_BODY else orjson.dumps(item.raw).decode("utf-8")
    texts: Sequence[str] = (item.title, item.description, *item.text)
    observables = ioc.collect(
        item.entities, texts, max_observables=limits.max_observables, max_text_chars=limits.max_text_chars
    )
    external_id = item.external_id or "sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()
    return Alert(
        source=spec.name,
        format=spec.format,
        external_id=_clean(external_id)[:512],
        title=_clean(item.title),
        severity=item.severity,
        time=item.time or received,
        rule=_clean(item.rule),
        raw=raw,
        description=_clean(item.description),
        status=item.status,
        link=_clean(item.link) if item.link else None,
        observables=observables,
    )


def _clean(text: str) -> str:
    # NUL has no business in an alert field, and SQLite's JSON operators would cut the string at it (two
    # different ids could collide, a title would be cut short); the raw payload keeps it, escaped.
    return text.replace("\x00", "")
