"""/soar approvals lists pending requests with Approve/Deny; clicks go to the engine, which decides once."""

from __future__ import annotations

from bot.core.ports import ButtonAction as cards
from bot.core.ports import ButtonClicked, ButtonStyle
from tests.commands.conftest import Soar
from tests.playbooks.conftest import BAD_IP


async def click(soar: Soar, user: str, action: str, value: str) -> str:
    reply = await soar.router.dispatch(ButtonClicked(user, action, value))
    await soar.env.engine.idle()
    assert reply is not None and not reply.public
    return reply.text


async def test_nothing_pending(soar: Soar) -> None:
    assert (await soar.run("V1", "approvals")).text == "No approval requests are waiting."


async def test_pending_requests_come_with_approve_and_deny(soar: Soar) -> None:
    case_id = await soar.malicious_case()
    [request] = await soar.pending()
    reply = await soar.run("R1", "approvals")
    assert reply.text.startswith("1 approval request(s) waiting:\n")
    assert f"#{request.id} firewall.block_ip {BAD_IP} (case {case_id}): 0 of 1 approvals" in reply.text
    assert "(you can decide)" in reply.text
    assert reply.card is not None and not reply.public
    assert [(b.label, b.action, b.value, b.style) for b in reply.card.buttons] == [
        ("Approve", cards.APPROVE, str(request.id), ButtonStyle.PRIMARY),
        ("Deny", cards.DENY, str(request.id), ButtonStyle.DANGER),
    ]
    viewer = await soar.run("V1", "approvals")
    assert "(you can decide)" not in viewer.text


async def test_one_request_by_id(soar: Soar) -> None:
    await soar.malicious_case()
    [request] = await soar.pending()
    reply = await soar.run("V1", f"approvals #{request.id}")
    assert reply.text == f"Approval request #{request.id} is pending."
    assert reply.card is not None and len(reply.card.buttons) == 2
    assert "There is no approval request #999." in (await soar.run("V1", "approvals 999")).text
    assert "Approval request ids are numbers" in (await soar.run("V1", "approvals soon")).text
    assert "Unexpected `2`" in (await soar.run("V1", "approvals 1 2")).text


async def test_a_click_routes_to_the_engine_and_a_repeat_is_already_decided(soar: Soar) -> None:
    case_id = await soar.malicious_case()
    [request] = await soar.pending()
    assert await click(soar, "R1", cards.APPROVE, str(request.id)) == f"Request #{request.id} approved."
    assert soar.env.firewall.applied() == [BAD_IP]
    repeat = await click(soar, "R2", cards.APPROVE, str(request.id))
    assert repeat.startswith(f"Request #{request.id} was already approved by R1")
    assert soar.env.firewall.applied() == [BAD_IP]  # exactly one containment call
    assert (await soar.run("V1", "approvals")).text == "No approval requests are waiting."
    await soar.verified(case_id)


async def test_a_click_by_someone_without_the_role_changes_nothing(soar: Soar) -> None:
    case_id = await soar.malicious_case()
    [request] = await soar.pending()
    text = await click(soar, "V1", cards.DENY, str(request.id))
    assert "You are not allowed to decide" in text
    assert [r.id for r in await soar.pending()] == [request.id]
    assert (await soar.types(case_id))[-1] == "unauthorized_attempt"


async def test_deny_and_undo_buttons_route_to_the_engine(soar: Soar) -> None:
    await soar.malicious_case()
    [request] = await soar.pending()
    assert await click(soar, "R1", cards.DENY, str(request.id)) == f"Request #{request.id} denied."
    assert soar.env.firewall.applied() == []
    assert await click(soar, "R1", cards.UNDO, "999") == "There is no action #999."


async def test_an_unknown_button_is_answered(soar: Soar) -> None:
    assert await click(soar, "R1", "mystery.button", "1") == "That button is not handled here any more."
