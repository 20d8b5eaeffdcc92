"""Microsoft Entra ID (Graph): disable an account and revoke its sessions (identity containment); re-enable it.

Idempotency comes from the account's state, never from repeating a call: ``apply`` reads the user first. An
enabled account is disabled with one PATCH; an already disabled one is ALREADY and gets no PATCH. Sessions are
revoked in both cases (harmless to repeat), after the PATCH, so a failed revocation leaves a disabled account
and the next ``apply`` finishes the job as ALREADY. ``revert`` reads the user and PATCHes only a disabled one.
The user's object id from the read is used for every later call and returned as the reference.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.errors import ConnectorError
from bot.core.ports import ActionOutcome, ActionResult, ContainmentKind
from connectors.entra.client import BASE_URL, GraphClient, User
from connectors.http import vendor_session
from connectors.microsoft import AppSettings
from connectors.oauth import in_context

logger = logging.getLogger(__name__)

DISABLE = "disable account and revoke sessions"
ENABLE = "enable account"


class Settings(AppSettings):
    """``connectors.entra``: an Entra app allowed to read users, enable/disable them and revoke sessions.

    ``base_url`` is the Graph root (default https://graph.microsoft.com/v1.0).
    """


class EntraContainment:
    """Containment for identities: disable the account + revoke sign-in sessions / enable the account."""

    name = "entra"
    capability = ContainmentKind.IDENTITY

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = vendor_session(
            self.name, settings, BASE_URL, headers={"Accept": "application/json"}, transport=transport
        )
        self.client = GraphClient(
            self.http,
            login_url=settings.login_url,
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Get a token and read one user (proves the credentials and the read permission)."""
        seen = await self.client.any_user()
        return "app credentials accepted; " + ("users readable" if seen else "no users visible")

    async def apply(self, target: str, *, reason: str, idempotency_key: str) -> ActionResult:
        """Disable the account ``target`` (UPN or object id) and revoke its sessions."""
        what = f"disable user {target!r}"
        try:
            user = await self._user(target)
            outcome = ActionOutcome.ALREADY
            if user.account_enabled:
                await self.client.set_account_enabled(user.id, False)
                outcome = ActionOutcome.DONE
                logger.info("entra: user %s disabled: %s [%s]", user.id, reason, idempotency_key)
        except ConnectorError as err:
            raise in_context(self.name, what, err) from err
        try:
            await self.client.revoke_sessions(user.id)
        except ConnectorError as err:
            # Say plainly that the account is disabled although its sessions are not yet revoked.
            raise in_context(self.name, f"{what}: account disabled, but revoking its sessions failed", err) from err
        done = "disabled" if outcome is ActionOutcome.DONE else "already disabled"
        return self._result(DISABLE, target, user, outcome, f"{done}; sign-in sessions revoked")

    async def revert(self, target: str, *, reason: str, undo: Mapping[str, Any]) -> ActionResult:
        """Enable the account (``undo["user_id"]`` from ``apply``, else ``target``)."""
        try:
            user = await self._user(str(undo.get("user_id") or target))
            if user.account_enabled:
                return self._result(ENABLE, target, user, ActionOutcome.ALREADY, "already enabled")
            await self.client.set_account_enabled(user.id, True)
        except ConnectorError as err:
            raise in_context(self.name, f"enable user {target!r}", err) from err
        logger.info("entra: user %s enabled: %s", user.id, reason)
        return self._result(ENABLE, target, user, ActionOutcome.DONE, "enabled")

    async def _user(self, ident: str) -> User:
        if not ident.strip() or "/" in ident:
            raise ConnectorError(f"not a user principal name or object id: {ident!r}")
        return await self.client.user(ident.strip())

    def _result(self, verb: str, target: str, user: User, outcome: ActionOutcome, what: str) -> ActionResult:
        return ActionResult(
            connector=self.name,
            action=verb,
            target=target,
            outcome=outcome,
            message=f"Entra user {user.user_principal_name or user.id}: {what}",
            reference=user.id,
            undo={"user_id": user.id},
        )


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The Entra identity responder."""
    return [EntraContainment(settings, transport)]
