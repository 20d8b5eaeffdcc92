"""Jira Cloud REST API v3: create an issue, find issues by JQL, read the caller.

Auth is Basic ``email:api_token``. v3 takes descriptions in Atlassian Document Format (ADF), not strings.
Search uses the newer ``GET /rest/api/3/search/jql`` (the older ``/rest/api/3/search`` is deprecated on
Jira Cloud); it returns ``{"issues": [{"id", "key", "fields"}], "isLast": ...}`` for the fields asked for.
Errors are ``{"errorMessages": [...], "errors": {"<field>": "<message>"}}``; 429 comes with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bot.core.errors import ConnectorError, ConnectorUnavailable
from connectors.http import VendorHttp, json_body

SUMMARY_MAX = 255


@dataclass(frozen=True, slots=True)
class IssueRef:
    """A created or found issue."""

    id: str
    key: str


@dataclass(frozen=True, slots=True)
class NewIssue:
    """What soarbot puts in a new issue."""

    project_key: str
    issue_type: str
    summary: str
    description: str
    labels: tuple[str, ...]
    priority: str | None = None  # a priority id ("2") or name ("High")


def adf(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: blank lines split paragraphs, single newlines become hard breaks."""
    paragraphs: list[dict[str, Any]] = []
    block: list[str] = []
    for line in [*text.replace("\r\n", "\n").split("\n"), ""]:
        if line.strip():
            block.append(line.rstrip())
            continue
        if block:
            content: list[dict[str, Any]] = []
            for i, kept in enumerate(block):
                if i:
                    content.append({"type": "hardBreak"})
                content.append({"type": "text", "text": kept})
            paragraphs.append({"type": "paragraph", "content": content})
            block = []
    return {"type": "doc", "version": 1, "content": paragraphs}


def summary_line(title: str) -> str:
    """A title as a Jira summary: one line, at most 255 characters."""
    line = " ".join(title.split())
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"


def issue_fields(issue: NewIssue) -> dict[str, Any]:
    """The ``fields`` object of ``POST /rest/api/3/issue``."""
    fields: dict[str, Any] = {
        "project": {"key": issue.project_key},
        "issuetype": {"name": issue.issue_type},
        "summary": summary_line(issue.summary),
        "labels": list(issue.labels),
    }
    document = adf(issue.description)
    if document["content"]:
        fields["description"] = document
    if issue.priority:
        fields["priority"] = {"id": issue.priority} if issue.priority.isdigit() else {"name": issue.priority}
    return fields


class JiraClient:
    """Typed access to the endpoints soarbot calls."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def create_issue(self, issue: NewIssue) -> IssueRef:
        """Create one issue; never retried (the caller searches for its dedup label first)."""
        response = await self.http.request(
            "POST", "/rest/api/3/issue", json={"fields": issue_fields(issue)}, retry=False
        )
        if response.status_code != 201:
            raise _failure(response, "creating the issue")
        return _ref(json_body(response))

    async def find_by_jql(self, jql: str, *, limit: int = 1) -> list[IssueRef]:
        """The first ``limit`` issues matching ``jql``."""
        response = await self.http.request(
            "GET", "/rest/api/3/search/jql", params={"jql": jql, "fields": "summary", "maxResults": str(limit)}
        )
        if response.status_code != 200:
            raise _failure(response, "searching issues")
        body = json_body(response)
        issues = body.get("issues") if isinstance(body, dict) else None
        return [_ref(item) for item in issues] if isinstance(issues, list) else []

    async def myself(self) -> str:
        """The display name of the account the credentials belong to."""
        response = await self.http.request("GET", "/rest/api/3/myself")
        if response.status_code != 200:
            raise _failure(response, "reading the current user")
        body = json_body(response)
        return str(body.get("displayName") or body.get("accountId") or "?") if isinstance(body, dict) else "?"


def _ref(body: Any) -> IssueRef:
    if not isinstance(body, dict) or not isinstance(body.get("key"), str):
        raise ConnectorUnavailable("jira: issue answer without a key")
    return IssueRef(id=str(body.get("id", "")), key=body["key"])


def _failure(response: httpx.Response, what: str) -> ConnectorError:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    details: list[str] = []
    if isinstance(body, dict):
        messages = body.get("errorMessages")
        if isinstance(messages, Sequence) and not isinstance(messages, str):
            details.extend(str(m) for m in messages)
        errors = body.get("errors")
        if isinstance(errors, Mapping):
            details.extend(f"{field}: {message}" for field, message in errors.items())
    text = "; ".join(details)[:500] or "no error details"
    message = f"jira: {what} failed (HTTP {response.status_code}): {text}"
    if response.status_code >= 500:
        return ConnectorUnavailable(message)
    return ConnectorError(message)
