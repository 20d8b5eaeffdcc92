"""Okta: suspend an account and clear its sessions (identity containment), unsuspend to release.

Idempotency comes from the user's status, never from repeating a call: ``apply`` reads the user first; a
SUSPENDED user is ALREADY contained (its sessions are still cleared, which is harmless to repeat), an ACTIVE
one is suspended once. When Okta refuses the suspend with ``E0000001`` (the user changed state in between)
the user is read again and the answer follows its new status. Sessions are cleared after the suspend, so a
failure there leaves a suspended user and the next ``apply`` finishes the job as ALREADY.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr, model_validator

from bot.core.errors import ConnectorError
from bot.core.ports import ActionOutcome, ActionResult, ContainmentKind
from connectors import ConnectorSettings
from connectors.http import credential_id, vendor_session
from connectors.okta.client import OktaClient, OktaStateError, OktaUser

logger = logging.getLogger(__name__)

SUSPENDED = "SUSPENDED"
ACTIVE = "ACTIVE"


class Settings(ConnectorSettings):
    """``connectors.okta``."""

    org_url: str | None = None
    api_token: SecretStr
    revoke_oauth_tokens: bool = True

    @model_validator(mode="after")
    def _needs_an_address(self) -> Settings:
        if self.base_url is None and self.org_url is None:
            raise ValueError("org_url is required (e.g. https://example.okta.com)")
        if self.org_url is not None and not self.org_url.startswith("https://"):
            raise ValueError("org_url must start with https://")
        return self


class OktaContainment:
    """Containment for identities: suspend + clear sessions / unsuspend."""

    name = "okta"
    capability = ContainmentKind.IDENTITY

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        token = settings.api_token.get_secret_value()
        base = settings.base_url or settings.org_url
        assert base is not None  # the validator guarantees one
        self.http = vendor_session(
            self.name,
            settings,
            base,
            headers={"Authorization": f"SSWS {token}", "Accept": "application/json"},
            transport=transport,
        )
        self.client = OktaClient(self.http)
        self.credential_id = credential_id(token)
        self._oauth_tokens = settings.revoke_oauth_tokens

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def check(self) -> str:
        """Read the token's own user to prove the token works."""
        me = await self.client.me()
        return f"API token accepted (acting as {me.login})"

    async def apply(self, target: str, *, reason: str, idempotency_key: str) -> ActionResult:
        """Suspend the user ``target`` (login, email or id) and clear its sessions."""
        _refuse_self(target)
        user = await self.client.get_user(target)
        outcome = ActionOutcome.ALREADY
        if user.status != SUSPENDED:
            try:
                await self.client.suspend(user.id)
                outcome = ActionOutcome.DONE
            except OktaStateError as err:
                user = await self.client.get_user(user.id)  # someone changed it in between: follow Okta's state
                if user.status != SUSPENDED:
                    raise ConnectorError(
                        f"okta: cannot suspend {target!r} in status {user.status}: {err.error.describe()}"
                    ) from err
        await self.client.clear_sessions(user.id, oauth_tokens=self._oauth_tokens)
        logger.info("okta: user %s suspended (%s), sessions cleared [%s]", user.id, outcome, idempotency_key)
        return self._result(
            "suspend user and clear sessions",
            target,
            user,
            outcome,
            "suspended and sessions cleared"
            if outcome is ActionOutcome.DONE
            else "already suspended; sessions cleared",
        )

    async def revert(self, target: str, *, reason: str, undo: Mapping[str, Any]) -> ActionResult:
        """Unsuspend the user (by ``undo["user_id"]`` when ``apply`` gave one, else by ``target``)."""
        _refuse_self(str(undo.get("user_id") or target))
        user = await self.client.get_user(str(undo.get("user_id") or target))
        if user.status == ACTIVE:
            return self._result("unsuspend user", target, user, ActionOutcome.ALREADY, "already active")
        try:
            await self.client.unsuspend(user.id)
        except OktaStateError as err:
            user = await self.client.get_user(user.id)
            if user.status != ACTIVE:
                raise ConnectorError(
                    f"okta: cannot unsuspend {target!r} in status {user.status}: {err.error.describe()}"
                ) from err
            return self._result("unsuspend user", target, user, ActionOutcome.ALREADY, "already active")
        logger.info("okta: user %s unsuspended", user.id)
        return self._result("unsuspend user", target, user, ActionOutcome.DONE, "unsuspended")

    def _result(self, action: str, target: str, user: OktaUser, outcome: ActionOutcome, what: str) -> ActionResult:
        return ActionResult(
            connector=self.name,
            action=action,
            target=target,
            outcome=outcome,
            message=f"okta user {user.login}: {what}",
            reference=user.id,
            undo={"user_id": user.id},
        )


def _refuse_self(target: str) -> None:
    # Okta reads /api/v1/users/me as "the API token's owner": a user called "me" in an alert must never get there.
    if target.strip().lower() == "me":
        raise ConnectorError("okta: refusing to act on 'me' (Okta's name for the API token's own user)")


def build(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    """The Okta identity responder."""
    return [OktaContainment(settings, transport)]
