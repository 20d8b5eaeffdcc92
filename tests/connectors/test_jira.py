"""Jira ticketing against its fake: ADF body, label-based idempotency, field errors, auth, 429/500."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from pydantic import ValidationError

from bot.core.errors import ConnectorAuthError, ConnectorError, ConnectorUnavailable
from bot.core.ports import ActionOutcome, ActionResult, Ticketing
from connectors.http import RetryPolicy
from connectors.jira import JiraTicketing, Settings, build, dedup_label
from connectors.jira.client import IssueRef, adf
from tests.fakes import jira as fake
from tests.fakes.server import serve

DESCRIPTION = "Alert: SSH brute force\nSource 203.0.113.5\n\n\nSecond paragraph  \n"


def connector(url: str, token: str = fake.GOOD_TOKEN, **extra: object) -> JiraTicketing:
    options: dict[str, object] = {"base_url": url, "email": fake.EMAIL, "api_token": token, "project_key": "SEC"}
    settings = Settings.model_validate({**options, **extra})
    desk = JiraTicketing(settings)
    desk.http.retry = RetryPolicy(attempts=3, base=0.01)
    return desk


async def create(desk: JiraTicketing, key: str = "case-7", **overrides: object) -> ActionResult:
    args: dict[str, object] = {
        "title": "SSH brute force from 203.0.113.5",
        "description": DESCRIPTION,
        "severity": "High",
        "labels": ("brute force",),
        "idempotency_key": key,
    }
    args.update(overrides)
    return await desk.create_ticket(**args)  # type: ignore[arg-type]


async def test_create_sends_adf_and_labels_and_links_the_issue() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        desk = connector(vendor.url, priorities={"high": "2"})
        assert isinstance(desk, Ticketing)
        result = await create(desk)
        await desk.aclose()
    assert result.outcome is ActionOutcome.DONE and result.reference == "SEC-1"
    assert f"{vendor.url}/browse/SEC-1" in result.message
    search, post = vendor.requests
    assert (search.method, search.path) == ("GET", "/rest/api/3/search/jql")
    assert search.query["jql"] == f'project = "SEC" AND labels = "{dedup_label("case-7")}"'
    assert (post.method, post.path) == ("POST", "/rest/api/3/issue")
    assert json.loads(post.body) == {
        "fields": {
            "project": {"key": "SEC"},
            "issuetype": {"name": "Task"},
            "summary": "SSH brute force from 203.0.113.5",
            "labels": ["soarbot", "brute-force", dedup_label("case-7")],
            "priority": {"id": "2"},
            "description": {
                "type": "doc",
                "version": 1,
                "content": [
                    {
                        "type": "paragraph",
                        "content": [
                            {"type": "text", "text": "Alert: SSH brute force"},
                            {"type": "hardBreak"},
                            {"type": "text", "text": "Source 203.0.113.5"},
                        ],
                    },
                    {"type": "paragraph", "content": [{"type": "text", "text": "Second paragraph"}]},
                ],
            },
        }
    }
    basic = base64.b64encode(f"{fake.EMAIL}:{fake.GOOD_TOKEN}".encode()).decode()
    assert post.headers["Authorization"] == f"Basic {basic}"


def test_dedup_label_is_stable_and_short() -> None:
    assert dedup_label("case-7") == dedup_label("case-7") != dedup_label("case-8")
    assert dedup_label("case-7").startswith("soarbot-") and len(dedup_label("case-7")) == len("soarbot-") + 12


async def test_same_key_finds_the_first_issue_by_label_and_posts_once() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        first_desk, second_desk = connector(vendor.url), connector(vendor.url)  # a restart: no local memory
        first = await create(first_desk)
        second = await create(second_desk)
        other = await create(second_desk, key="case-8")
        await first_desk.aclose()
        await second_desk.aclose()
    assert first.outcome is ActionOutcome.DONE and second.outcome is ActionOutcome.ALREADY
    assert first.reference == second.reference == "SEC-1" and other.reference == "SEC-2"
    assert state.creates == 2
    assert [r.method for r in vendor.requests] == ["GET", "POST", "GET", "GET", "POST"]


async def test_same_key_while_search_lags_is_answered_from_memory() -> None:
    state = fake.State(index_lag=True)
    async with serve(fake.app(state)) as vendor:
        desk = connector(vendor.url)
        first = await create(desk)
        second = await create(desk)
        await desk.aclose()
    assert second.outcome is ActionOutcome.ALREADY and second.reference == first.reference
    assert state.creates == 1


async def test_field_errors_name_the_fields() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        desk = connector(vendor.url, issue_type="Epic", priorities={"high": "Urgent"})
        with pytest.raises(ConnectorError, match="issuetype: Specify an issue type") as caught:
            await create(desk)
        await desk.aclose()
    assert "priority:" in str(caught.value) and not isinstance(caught.value, ConnectorUnavailable)
    assert state.issues == []


async def test_long_multiline_title_becomes_a_valid_summary() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        desk = connector(vendor.url)
        await create(desk, title="Beacon\nto " + "x" * 400, description="")
        await desk.aclose()
    [issue] = state.issues
    summary = issue["fields"]["summary"]
    assert len(summary) == 255 and summary.startswith("Beacon to xxx") and summary.endswith("…")
    assert "description" not in issue["fields"]


async def test_500_on_create_is_unavailable_after_exactly_one_post() -> None:
    state = fake.State(fail_create=5)
    async with serve(fake.app(state)) as vendor:
        desk = connector(vendor.url)
        with pytest.raises(ConnectorUnavailable):
            await create(desk)
        await desk.aclose()
    assert state.creates == 1
    assert [r.method for r in vendor.requests] == ["GET", "POST"]


async def test_429_on_search_is_retried_after_retry_after() -> None:
    state = fake.State(rate_limit_first=1)
    async with serve(fake.app(state)) as vendor:
        desk = connector(vendor.url)
        result = await create(desk)
        await desk.aclose()
    assert result.outcome is ActionOutcome.DONE
    assert [r.method for r in vendor.requests] == ["GET", "GET", "POST"]


async def test_429_on_create_is_not_retried() -> None:
    state = fake.State()
    async with serve(fake.app(state)) as vendor:
        desk = connector(vendor.url)
        desk.client.find_by_jql = _nothing  # type: ignore[method-assign]
        state.rate_limit_first = 1
        with pytest.raises(ConnectorUnavailable, match="429"):
            await create(desk)
        await desk.aclose()
    assert len(vendor.requests) == 1 and state.issues == []


async def _nothing(jql: str, *, limit: int = 1) -> list[IssueRef]:
    return []


async def test_wrong_token_is_an_auth_error_and_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    secret = "ATATT3x-wrong-jira-token-98765"
    caplog.set_level(logging.DEBUG)
    async with serve(fake.app()) as vendor:
        desk = connector(vendor.url, token=secret)
        with pytest.raises(ConnectorAuthError) as caught:
            await create(desk)
        await desk.aclose()
    assert len(vendor.requests) == 1
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert secret not in text
        assert base64.b64encode(f"{fake.EMAIL}:{secret}".encode()).decode() not in text


async def test_check_names_the_account() -> None:
    async with serve(fake.app()) as vendor:
        desk = connector(vendor.url)
        assert "SOC Bot" in await desk.check()
        await desk.aclose()


def test_adf_of_blank_text_is_empty() -> None:
    assert adf("  \n\n ") == {"type": "doc", "version": 1, "content": []}


async def test_settings() -> None:
    with pytest.raises(ValidationError, match="site_url is required"):
        Settings(email=fake.EMAIL, api_token="t", project_key="SEC")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="project_key"):
        Settings(site_url="https://x.atlassian.net", email=fake.EMAIL, api_token="t", project_key="sec")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="https://"):
        Settings(site_url="http://x.atlassian.net", email=fake.EMAIL, api_token="t", project_key="SEC")  # type: ignore[arg-type]
    settings = Settings(site_url="https://x.atlassian.net", email=fake.EMAIL, api_token="t", project_key="SEC")  # type: ignore[arg-type]
    assert settings.labels == ("soarbot",) and settings.issue_type == "Task"
    [built] = build(settings)
    assert built.site == "https://x.atlassian.net"
    await built.aclose()
