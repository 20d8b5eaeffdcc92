"""Jira Cloud: open one issue per case (ticketing).

Jira has no idempotency key, so the key travels in the issue as a label, ``soarbot-<first 12 hex of its
SHA-256>``. Before creating, the connector searches for that label (``GET /rest/api/3/search/jql``); a hit is
ALREADY with the existing key. The create itself is never retried blind. Jira's search index lags a second or so
behind a create, so the connector also remembers the keys it created recently and answers from that first.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections import OrderedDict
from typing import Any

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from bot.core.ports import ActionOutcome, ActionResult
from connectors import ConnectorSettings
from connectors.http import credential_id, vendor_session
from connectors.jira.client import IssueRef, JiraClient, NewIssue

logger = logging.getLogger(__name__)

RECENT_MAX = 256
DEDUP_PREFIX = "soarbot-"


class Settings(ConnectorSettings):
    """``connectors.jira``."""

    site_url: str | None = None
    email: str = Field(min_length=3)
    api_token: SecretStr
    project_key: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,49}$")
    issue_type: str = "Task"
    priorities: dict[str, str] = Field(
        default_factory=dict, description='severity → Jira priority id ("2") or name ("High")'
    )
    labels: tuple[str, ...] = ("soarbot",)

    @field_validator("priorities")
    @classmethod
    def _lower_severities(cls, value: dict[str, str]) -> dict[str, str]:
        return {severity.lower(): priority for severity, priority in value.items()}

    @model_validator(mode="after")
    def _needs_an_address(self) -> Settings:
        if self.base_url is None and self.site_url is None:
            raise ValueError("site_url is required (e.g. https://example.atlassian.net)")
        if self.site_url is not None and not self.site_url.startswith("https://"):
            raise ValueError("site_url must start with https://")
        return self


def dedup_label(idempotency_key: str) -> str:
    """The label that marks the issue created for ``idempotency_key``."""
    return DEDUP_PREFIX + hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]


def clean_label(label: str) -> str:
    """A label Jira accepts: no whitespace, at most 255 characters."""
    return re.sub(r"\s+", "-", label.strip())[:255]


class JiraTicketing:
    """Ticketing in one Jira project."""

    name = "jira"

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        token = settings.api_token.get_secret_value()
        site = settings.base_url or settings.site_url
        assert site is not None  # the validator guarantees one
        basic = base64.b64encode(f"{settings.email}:{token}".encode()).decode()
        self.http = vendor_session(
            self.name,
            settings,
            site,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            transport=transport,
        )
        self.client = JiraClient(self.http)
        self.credential_id = credential_id(settings.email, token)
        self.site = site.rstrip("/")
        self.settings = settings
        self._recent: OrderedDict[str, IssueRef] = OrderedDict()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Read the calling account to prove the credentials."""
        who = await self.client.myself()
        return f"API token accepted (as {who}); issues go to project {self.settings.project_key}"

    async def create_ticket(
        self, *, title: str, description: str, severity: str, labels: tuple[str, ...], idempotency_key: str
    ) -> ActionResult:
        """Open one issue for ``idempotency_key``; a second call finds the first issue and answers ALREADY."""
        marker = dedup_label(idempotency_key)
        existing = self._recent.get(marker)
        if existing is None:
            jql = f'project = "{self.settings.project_key}" AND labels = "{marker}"'
            found = await self.client.find_by_jql(jql, limit=1)
            existing = found[0] if found else None
        if existing is not None:
            return self._result(title, existing, ActionOutcome.ALREADY, "already open")
        wanted = dict.fromkeys(clean_label(label) for label in (*self.settings.labels, *labels, marker))
        issue = NewIssue(
            project_key=self.settings.project_key,
            issue_type=self.settings.issue_type,
            summary=title,
            description=description,
            labels=tuple(label for label in wanted if label),
            priority=self.settings.priorities.get(severity.lower()),
        )
        created = await self.client.create_issue(issue)
        self._remember(marker, created)
        logger.info("jira: created %s [%s]", created.key, idempotency_key)
        return self._result(title, created, ActionOutcome.DONE, "created")

    def _remember(self, marker: str, issue: IssueRef) -> None:
        self._recent[marker] = issue
        while len(self._recent) > RECENT_MAX:
            self._recent.popitem(last=False)

    def _result(self, title: str, issue: IssueRef, outcome: ActionOutcome, what: str) -> ActionResult:
        return ActionResult(
            connector=self.name,
            action="create ticket",
            target=title,
            outcome=outcome,
            message=f"jira {issue.key} {what}: {self.site}/browse/{issue.key}",
            reference=issue.key,
        )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The Jira ticketing connector."""
    return [JiraTicketing(settings, transport)]
