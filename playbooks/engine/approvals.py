"""Approval policy: who may decide, how many approvals are needed, and what counts as a critical asset."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.models import ChatUser
from bot.store.approvals import ApprovalRow
from playbooks.engine.models import Approval

_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


@dataclass(slots=True)
class Access:
    """``access.roles``: role name → chat users, held as user keys (:class:`bot.core.models.ChatUser`).

    Entries may be written ``slack:U123``, ``discord:123456789012345678``, ``console:alice`` or as a bare id,
    which keeps meaning Slack. Lookups take the key of the acting user, so the same id on two platforms is two
    people. An entry may also be a user group (Slack ``S…`` ids): it stands for the members last given to
    :meth:`use_group_members`. One instance is shared by everything that authorizes (the engine and the command
    router), so a refresh of group members reaches all of them at once.
    """

    roles: Mapping[str, Sequence[str]] = field(default_factory=dict)
    _group_members: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.roles = {role: [ChatUser.parse(m).key for m in members] for role, members in self.roles.items()}

    def members(self, role: str) -> set[str]:
        """The users in ``role`` (a listed group's current members included)."""
        listed = self.roles.get(role, ())
        return {*listed, *(u for m in listed for u in self._group_members.get(m, ()))}

    def has_role(self, user: str, role: str) -> bool:
        """True when ``user`` is in ``role``, directly or through a listed group."""
        listed = self.roles.get(role, ())
        return user in listed or any(user in self._group_members.get(m, ()) for m in listed)

    def groups(self) -> set[str]:
        """Chat user-group ids listed under any role (Slack group ids start with S)."""
        return {m for members in self.roles.values() for m in members if _GROUP_ID.match(m)}

    def use_group_members(self, groups: Mapping[str, Sequence[str]]) -> None:
        """Let each listed user group stand for these members from now on (groups not given keep their last)."""
        self._group_members.update({group: frozenset(users) for group, users in groups.items()})


@dataclass(frozen=True, slots=True)
class Guardrails:
    """Critical assets need more approvals and are flagged on every request that touches them."""

    hosts: Sequence[str] = ()
    users: Sequence[str] = ()
    ips: Sequence[str] = ()
    min_approvals: int = 2

    def is_critical(self, target: str) -> bool:
        """True when ``target`` matches a critical host or user pattern, or lies in a critical network."""
        value = target.lower()
        if any(fnmatch.fnmatchcase(value, p.lower()) for p in (*self.hosts, *self.users)):
            return True
        try:
            address = ipaddress.ip_address(target)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(net, strict=False) for net in self.ips)


def policy_dict(approval: Approval) -> dict[str, Any]:
    """The stored form of an approval policy."""
    return {
        "roles": list(approval.roles),
        "users": list(approval.users),
        "on_timeout": approval.on_timeout,
        "remind_every": approval.remind_every.total_seconds() if approval.remind_every else None,
        "escalate": [
            {"after": e.after.total_seconds(), "roles": list(e.roles), "users": list(e.users)}
            for e in approval.escalate
        ],
    }


def approvers(row: ApprovalRow, access: Access) -> tuple[set[str], set[str]]:
    """Roles and users who may decide ``row`` at its current escalation level."""
    policy = row.policy
    roles = set(policy.get("roles", ()))
    users = set(policy.get("users", ()))
    for step in policy.get("escalate", ())[: row.escalation_level]:
        roles.update(step.get("roles", ()))
        users.update(step.get("users", ()))
    return roles, users


def may_decide(user: str, row: ApprovalRow, access: Access) -> bool:
    """True when ``user`` is an approver of ``row`` (directly or through a role)."""
    roles, users = approvers(row, access)
    return user in users or any(access.has_role(user, role) for role in roles)


def escalation_level(row: ApprovalRow, now: datetime) -> int:
    """How many escalation steps have come due since the request was made."""
    elapsed = (now - row.created_at).total_seconds()
    return sum(1 for step in row.policy.get("escalate", ()) if step["after"] <= elapsed)


def next_reminder(row: ApprovalRow, now: datetime) -> datetime | None:
    """The next moment to remind or escalate, before expiry; None when there is none."""
    created = row.created_at
    candidates = []
    every = row.policy.get("remind_every")
    if every:
        candidates.append(now + timedelta(seconds=every))
    for step in row.policy.get("escalate", ()):
        due = created + timedelta(seconds=step["after"])
        if due > now:
            candidates.append(due)
    upcoming = [c for c in candidates if c < row.expires_at]
    return min(upcoming) if upcoming else None


def first_reminder(approval: Approval, created: datetime) -> datetime | None:
    """When a new request is first reminded about or escalated."""
    candidates = [created + e.after for e in approval.escalate]
    if approval.remind_every:
        candidates.append(created + approval.remind_every)
    upcoming = [c for c in candidates if c < created + approval.timeout]
    return min(upcoming) if upcoming else None
