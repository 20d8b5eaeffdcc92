"""A fake Jira Cloud v3: Basic auth, issue creation with Jira's field checks, JQL search by project and label.

``POST /rest/api/3/issue`` validates like Jira: project, issue type, a one-line summary under 255 characters,
labels without spaces, an ADF ``description`` (a string is refused, as v3 does) and a known priority; errors come
as ``{"errorMessages": [], "errors": {"<field>": "..."}}``. Search understands ``project = "X"`` and
``labels = "Y"`` joined by ``AND``. ``index_lag`` hides new issues from search, as Jira's index does briefly.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

EMAIL = "soc-bot@example.com"
GOOD_TOKEN = "ATATT3x-jira-token-good-0123"
PROJECTS = {"SEC": "10001"}
ISSUE_TYPES = ("Task", "Bug", "Incident")
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
_CLAUSE = re.compile(r'^\s*(project|labels)\s*=\s*"([^"]*)"\s*$')

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class State:
    """Created issues, counters and failure knobs."""

    issues: list[dict[str, Any]] = field(default_factory=list)
    creates: int = 0
    rate_limit_first: int = 0
    fail_create: int = 0
    index_lag: bool = False


def errors(status: int, *, messages: list[str] | None = None, fields: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"errorMessages": messages or [], "errors": fields or {}}, status=status)


def _is_adf(value: Any) -> bool:
    if not (isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1):
        return False
    content = value.get("content")
    if not isinstance(content, list):
        return False
    for block in content:
        if not (
            isinstance(block, dict) and block.get("type") == "paragraph" and isinstance(block.get("content"), list)
        ):
            return False
        for node in block["content"]:
            if not isinstance(node, dict):
                return False
            if node.get("type") == "text" and isinstance(node.get("text"), str) and node["text"]:
                continue
            if node.get("type") != "hardBreak":
                return False
    return True


def _field_errors(fields: dict[str, Any]) -> dict[str, str]:
    problems: dict[str, str] = {}
    project = fields.get("project")
    if not isinstance(project, dict) or project.get("key") not in PROJECTS:
        problems["project"] = "Specify a valid project ID or key"
    issuetype = fields.get("issuetype")
    if not isinstance(issuetype, dict) or issuetype.get("name") not in ISSUE_TYPES:
        problems["issuetype"] = "Specify an issue type"
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems["summary"] = "You must specify a summary of the issue."
    elif len(summary) > 255:
        problems["summary"] = "Summary must be less than 255 characters."
    elif "\n" in summary or "\r" in summary:
        problems["summary"] = "The summary is invalid because it contains newline characters."
    labels = fields.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        problems["labels"] = "Field 'labels' must be an array of strings."
    else:
        for label in labels:
            if re.search(r"\s", label) or not label:
                problems["labels"] = f"The label '{label}' contains spaces which is invalid."
    if "description" in fields and not _is_adf(fields["description"]):
        problems["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    if "priority" in fields:
        priority = fields["priority"]
        known = isinstance(priority, dict) and (
            priority.get("id") in PRIORITIES or priority.get("name") in PRIORITIES.values()
        )
        if not known:
            problems["priority"] = "Specify the Priority (id or name) in the string format"
    return problems


def app(state: State | None = None) -> web.Application:
    """The fake; pass a State to inspect issues and counters or to turn on failure knobs."""
    st = state if state is not None else State()
    good = "Basic " + base64.b64encode(f"{EMAIL}:{GOOD_TOKEN}".encode()).decode()

    def guarded(handler: Handler) -> Handler:
        async def gate(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != good:
                return web.Response(status=401, text="Client must be authenticated to access this resource.")
            if st.rate_limit_first > 0:
                st.rate_limit_first -= 1
                return web.Response(status=429, text="Rate limit exceeded.", headers={"Retry-After": "1"})
            return await handler(request)

        return gate

    async def create(request: web.Request) -> web.Response:
        st.creates += 1
        if st.fail_create > 0:
            st.fail_create -= 1
            return errors(500, messages=["Internal server error"])
        try:
            body = await request.json()
        except ValueError:
            return errors(400, messages=["Unexpected character: was expecting a JSON value"])
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return errors(400, messages=["Field 'fields' is required."])
        problems = _field_errors(fields)
        if problems:
            return errors(400, fields=problems)
        number = sum(1 for i in st.issues if i["project"] == fields["project"]["key"]) + 1
        issue_id = str(10000 + len(st.issues))
        issue = {
            "id": issue_id,
            "key": f"{fields['project']['key']}-{number}",
            "project": fields["project"]["key"],
            "fields": fields,
        }
        st.issues.append(issue)
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {"id": issue_id, "key": issue["key"], "self": f"{base}/rest/api/3/issue/{issue_id}"}, status=201
        )

    async def search(request: web.Request) -> web.Response:
        jql = request.query.get("jql")
        if not jql:
            return errors(400, messages=["The JQL query is required (unbounded queries are not allowed)."])
        wanted: list[tuple[str, str]] = []
        for clause in re.split(r"\s+AND\s+", jql):
            match = _CLAUSE.match(clause)
            if match is None:
                return errors(400, messages=[f"Error in the JQL Query: cannot parse {clause.strip()!r}."])
            wanted.append((match.group(1), match.group(2)))
        found = [] if st.index_lag else st.issues
        for name, value in wanted:
            if name == "project":
                found = [i for i in found if i["project"] == value]
            else:
                found = [i for i in found if value in i["fields"].get("labels", [])]
        limit = int(request.query.get("maxResults", "50"))
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "issues": [
                    {
                        "expand": "",
                        "id": i["id"],
                        "key": i["key"],
                        "self": f"{base}/rest/api/3/issue/{i['id']}",
                        "fields": {"summary": i["fields"]["summary"]},
                    }
                    for i in found[:limit]
                ],
                "isLast": len(found) <= limit,
            }
        )

    async def myself(request: web.Request) -> web.Response:
        return web.json_response(
            {"accountId": "5b10ac8d82e05b22cc7d4ef5", "emailAddress": EMAIL, "displayName": "SOC Bot", "active": True}
        )

    application = web.Application()
    application.router.add_post("/rest/api/3/issue", guarded(create))
    application.router.add_get("/rest/api/3/search/jql", guarded(search))
    application.router.add_get("/rest/api/3/myself", guarded(myself))
    return application
