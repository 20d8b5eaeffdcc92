"""Webhook notifier against a fake receiver: JSON body or sandboxed template, HMAC, Idempotency-Key, failures."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bot.core.errors import ConfigError, ConnectorAuthError, ConnectorError, ConnectorUnavailable
from bot.core.ports import ActionOutcome, Notifier
from bot.settings import validate
from connectors.webhook import Settings, WebhookNotifier, build
from tests.fakes import webhook as fake
from tests.fakes.server import serve

EVENT = {"type": "case_opened", "case": {"id": 7, "title": 'SSH "brute" force'}, "at": datetime(2024, 5, 1, tzinfo=UTC)}
TEMPLATE = """{
  "text": {{ ("Case " ~ event.case.id ~ ": " ~ event.case.title) | tojson }},
  "kind": {{ event.type | tojson }},
  "dedup": {{ idempotency_key | tojson }}
}"""


def notifier(url: str, **overrides: object) -> WebhookNotifier:
    options: dict[str, object] = {
        "url": f"{url}{fake.PATH}?channel=soc",
        "auth_header": fake.AUTH,
        "hmac_secret": fake.HMAC_SECRET,
        "headers": {"X-Source": "soarbot"},
    }
    options.update(overrides)
    return WebhookNotifier(Settings(**options))  # type: ignore[arg-type]


async def test_event_posted_as_json_signed_with_idempotency_key() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        hook = notifier(vendor.url)
        assert isinstance(hook, Notifier)
        result = await hook.notify(EVENT, idempotency_key="case-7:opened")
        await hook.aclose()
    assert result.outcome is ActionOutcome.DONE and result.reference == "req-1"
    assert "?channel" not in result.message and result.target == "http://127.0.0.1:" + vendor.url.rsplit(":", 1)[1]
    [delivery] = state.received
    assert delivery.payload == {
        "type": "case_opened",
        "case": {"id": 7, "title": 'SSH "brute" force'},
        "at": "2024-05-01 00:00:00+00:00",
    }
    assert delivery.key == "case-7:opened"
    expected = "sha256=" + hmac.new(fake.HMAC_SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Hub-Signature-256"] == expected
    assert delivery.headers["X-Source"] == "soarbot" and delivery.headers["Content-Type"] == "application/json"
    assert vendor.requests[0].query == {"channel": "soc"}


async def test_template_renders_the_body() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        hook = notifier(vendor.url, template=TEMPLATE)
        await hook.notify(EVENT, idempotency_key="k-1")
        await hook.aclose()
    assert state.received[0].payload == {"text": 'Case 7: SSH "brute" force', "kind": "case_opened", "dedup": "k-1"}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{"text": {{ event.case.title }}}', "invalid JSON"),  # unquoted string
        ('{"text": {{ event.missing.key | tojson }}}', "failed to render"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "failed to render"),  # sandbox
    ],
)
async def test_bad_template_output_fails_before_sending(template: str, message: str) -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        hook = notifier(vendor.url, template=template)
        with pytest.raises(ConnectorError, match=message):
            await hook.notify(EVENT, idempotency_key="k")
        await hook.aclose()
    assert state.posts == 0


async def test_template_cannot_mutate_the_event() -> None:
    state = fake.State()
    event = {"case": {"tags": ["a"]}}
    async with serve(fake.app(state)) as vendor:
        hook = notifier(vendor.url, template='{"n": {{ event.case.tags.append("x") or 1 }}}')
        with pytest.raises(ConnectorError, match="failed to render"):
            await hook.notify(event, idempotency_key="k")
        await hook.aclose()
    assert event == {"case": {"tags": ["a"]}} and state.posts == 0


async def test_500_is_unavailable_after_one_post_and_a_retry_with_the_same_key_is_deduped() -> None:
    state = fake.State(status_first=[500])
    async with serve(fake.app(state)) as vendor:
        hook = notifier(vendor.url)
        with pytest.raises(ConnectorUnavailable):
            await hook.notify(EVENT, idempotency_key="case-7:opened")
        assert state.posts == 1
        await hook.notify(EVENT, idempotency_key="case-7:opened")
        await hook.notify(EVENT, idempotency_key="case-7:opened")
        await hook.aclose()
    assert state.posts == 3 and len(state.received) == 1 and state.duplicates == 1


async def test_4xx_is_a_connector_error_not_retried() -> None:
    state = fake.State(status_first=[422])
    async with serve(fake.app(state)) as vendor:
        hook = notifier(vendor.url)
        with pytest.raises(ConnectorError, match="HTTP 422") as caught:
            await hook.notify(EVENT, idempotency_key="k")
        await hook.aclose()
    assert not isinstance(caught.value, ConnectorUnavailable) and state.posts == 1


async def test_timeout_is_unavailable_after_one_post() -> None:
    state = fake.State(delay=1.0)
    async with serve(fake.app(state)) as vendor:
        hook = notifier(vendor.url, timeout=0.2)
        with pytest.raises(ConnectorUnavailable, match="Timeout"):
            await hook.notify(EVENT, idempotency_key="k")
        await hook.aclose()
    assert state.posts == 1


@pytest.mark.parametrize("wrong", ["auth_header", "hmac_secret"])
async def test_wrong_secret_is_an_auth_error_and_never_leaks(wrong: str, caplog: pytest.LogCaptureFixture) -> None:
    secret = "wrong-webhook-secret-13579"
    caplog.set_level(logging.DEBUG)
    async with serve(fake.app()) as vendor:
        hook = notifier(vendor.url, **{wrong: secret})
        with pytest.raises(ConnectorAuthError) as caught:
            await hook.notify(EVENT, idempotency_key="k")
        good = notifier(vendor.url)
        await good.notify(EVENT, idempotency_key="k2")
        await hook.aclose()
        await good.aclose()
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert secret not in text and fake.HMAC_SECRET not in text and fake.AUTH not in text


async def test_check_sends_head_only() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        hook = notifier(vendor.url)
        assert "reachable (HTTP 405" in await hook.check()
        await hook.aclose()
    assert [r.method for r in vendor.requests] == ["HEAD"] and state.posts == 0


async def test_settings_validation_names_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        validate({"connectors": {"webhook": {"url": "https://example.com/h", "template": '{"a": {{ event.x }'}}})
    [problem] = caught.value.problems
    assert problem.startswith("connectors.webhook.template: template syntax error on line 1")
    with pytest.raises(ValidationError, match="unknown tag 'do'"):  # no extensions in the sandbox
        Settings(url="https://example.com/h", template='{% do event.update({"x": 1}) %}{}')
    with pytest.raises(ValidationError, match="auth_header"):
        Settings(url="https://example.com/h", headers={"authorization": "Bearer x"})
    with pytest.raises(ValidationError, match="url"):
        Settings(url="ftp://example.com/h")
    with pytest.raises(ValidationError, match="must not be empty"):
        Settings(url="https://example.com/h", hmac_secret="")  # type: ignore[arg-type]
    settings = Settings(url="https://example.com/h", auth_header="Bearer s3cret")  # type: ignore[arg-type]
    assert "s3cret" not in repr(settings)
    [built] = build(settings)
    assert isinstance(built, WebhookNotifier) and built.template is None
    await built.aclose()
