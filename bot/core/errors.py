"""The one error tree of soarbot.

Code raises these and translates them once at each entry point (HTTP handler, CLI command, chat command).
Behaviour never depends on the message text.

    BotError
    ├── ConfigError             # the config file or environment is wrong; names the key path
    ├── UserInputError          # bad input from a person or a sender (→ 4xx / a plain reply)
    │   ├── PayloadError        # an alert body that cannot be understood
    │   └── NotFound            # unknown case id, unknown source
    ├── PermissionDenied
    ├── StoreUnavailable        # the database cannot be written right now (→ 503, sender retries)
    ├── ConnectorError
    │   ├── ConnectorUnavailable
    │   ├── ConnectorAuthError
    │   └── ConnectorNotFound
    ├── PlaybookError
    └── ApprovalExpired
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error soarbot raises on purpose."""


class ConfigError(BotError):
    """The configuration is invalid; ``problems`` lists ``key.path: what is wrong`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UserInputError(BotError):
    """Input from a person or a sender is wrong; the message is safe to show them."""


class PayloadError(UserInputError):
    """An alert payload cannot be parsed into alerts."""


class NotFound(UserInputError):
    """The thing asked for does not exist."""


class PermissionDenied(BotError):
    """The caller may not do this."""


class StoreUnavailable(BotError):
    """The database cannot be written; the caller should retry later."""


class ConnectorError(BotError):
    """A connector call failed."""


class ConnectorUnavailable(ConnectorError):
    """Timeouts, 5xx, 429 after retries: retryable later."""


class ConnectorAuthError(ConnectorError):
    """The vendor rejected our credentials."""


class ConnectorNotFound(ConnectorError):
    """The vendor has no data for this query."""


class ChatDeliveryError(BotError):
    """A chat platform refused or failed one delivery call.

    ``retry_after`` (seconds) when the platform rate limited the call; ``permanent`` when no retry can succeed (no
    such channel, archived, malformed message); otherwise the failure is transient. ``code`` is the platform's own
    word for it, for logs and the case timeline; behaviour never depends on it.
    """

    def __init__(self, code: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after
        self.permanent = permanent


class PlaybookError(BotError):
    """A playbook is invalid or a run cannot continue."""


class ApprovalExpired(BotError):
    """An approval request passed its expiry before it was decided."""
