"""Users are (platform, id): access.roles entries name a platform or mean Slack; one id elsewhere is another user."""

from __future__ import annotations

import pytest

from bot.core.errors import ConfigError
from bot.core.models import ChatUser, user_key
from bot.core.ports import ButtonAction, ButtonClicked, CommandInvoked
from bot.settings import validate
from playbooks.engine.approvals import Access
from tests.commands.conftest import Soar, make_router


def test_entries_are_read_as_platform_and_id() -> None:
    access = Access({"responder": ["slack:U1", "U2", "discord:123456789012345678", "console:alice"]})
    assert access.has_role("U1", "responder") and access.has_role("U2", "responder")
    assert access.has_role(user_key("discord", "123456789012345678"), "responder")
    assert access.has_role(user_key("console", "alice"), "responder")
    assert not access.has_role("123456789012345678", "responder")  # a bare id is a Slack user
    assert not access.has_role(user_key("discord", "U1"), "responder")
    assert ChatUser.parse("console:alice") == ChatUser("console", "alice")


def test_an_unknown_platform_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as failure:
        validate({"access": {"roles": {"responder": ["teams:abc"]}}})
    assert "access.roles" in str(failure.value) and "teams:abc" in str(failure.value)


async def test_the_same_id_on_another_platform_has_no_role(soar: Soar) -> None:
    case_id = await soar.malicious_case()
    [request] = await soar.pending()
    elsewhere = await soar.router.dispatch(
        ButtonClicked("R1", ButtonAction.APPROVE, str(request.id), platform="memory")
    )
    assert elsewhere is not None and "not allowed" in elsewhere.text
    assert (await soar.pending()) == [request]
    assert "unauthorized_attempt" in await soar.types(case_id)
    [attempt] = [e for e in await soar.timeline(case_id) if e.type == "unauthorized_attempt"]
    assert attempt.data["user"] == "memory:R1"


async def test_a_user_named_with_its_platform_decides_there(soar: Soar) -> None:
    soar.router = make_router(soar.env, access=Access({"responder": ["memory:R9"]}))
    soar.env.engine.access = soar.router.services.access
    await soar.malicious_case()
    [request] = await soar.pending()
    reply = await soar.router.dispatch(ButtonClicked("R9", ButtonAction.APPROVE, str(request.id), platform="memory"))
    assert reply is not None and reply.text == f"Request #{request.id} approved."
    help_text = await soar.router.dispatch(CommandInvoked("memory", "R9", "help", "C-X"))
    assert help_text is not None and "approvals" in help_text.text
