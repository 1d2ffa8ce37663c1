"""VkActions against FakeVK: replies, deletes and bans as the real vk_api sends them."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from bot.adapters.sandbox.vk import FakeVK
from bot.adapters.vk.actions import VkActions, VkCommunityActions
from bot.adapters.vk.client import VkClient
from bot.adapters.vk.mapping import VkContext, to_incoming
from bot.core.model import ActionKind, IncomingMessage, PlannedAction
from tests.adapters.vk.conftest import GID, make_client

CTX = VkContext(GID, "Shop VK")


def incoming(event: dict[str, Any]) -> IncomingMessage:
    message = to_incoming(event, CTX)
    assert message is not None
    return message


def plan(kind: ActionKind, text: str | None = None, **kw: Any) -> PlannedAction:
    return PlannedAction(kind, rule_id="spam", idempotency_key=f"ev1:{kind}", text=text, **kw)


@pytest.fixture
def actions(client: VkClient) -> VkActions:
    return VkActions(client, GID)


async def test_actions_reply_to_wall_comment_as_community(
    fake: FakeVK, actions: VkActions
) -> None:
    msg = incoming(fake.wall_reply_new(12, 503, "Сколько доставка?"))
    result = await actions.execute(msg, plan(ActionKind.REPLY, "2–5 дней"), None)
    assert result.ok
    [posted] = fake.posted_comments
    assert posted["from_id"] == -GID and posted["post_id"] == 12
    assert posted["reply_to_comment"] == msg.message_id
    assert result.platform_ref == str(posted["id"])
    params = fake.calls_to("wall.createComment")[0].params
    assert params["from_group"] == str(GID) and params["owner_id"] == str(-GID)
    assert not actions.is_idempotent(msg, plan(ActionKind.REPLY, "x"))


@pytest.mark.parametrize(
    ("builder", "method", "object_param"),
    [
        ("photo_comment_new", "photos.createComment", "photo_id"),
        ("video_comment_new", "video.createComment", "video_id"),
        ("market_comment_new", "market.createComment", "item_id"),
    ],
    ids=["photo", "video", "market"],
)
async def test_actions_reply_to_media_comment(
    fake: FakeVK, actions: VkActions, builder: str, method: str, object_param: str
) -> None:
    msg = incoming(getattr(fake, builder)(8, 505, "Есть в синем?"))
    assert (await actions.execute(msg, plan(ActionKind.REPLY, "Да"), None)).ok
    params = fake.calls_to(method)[0].params
    assert params[object_param] == "8" and params["from_group"] == "1"
    assert params["reply_to_comment"] == str(msg.message_id)


async def test_actions_reply_in_board_mentions_author(fake: FakeVK, actions: VkActions) -> None:
    msg = incoming(fake.board_post_new(33, 508, "Когда коллекция?"))
    assert (await actions.execute(msg, plan(ActionKind.REPLY, "Скоро"), None)).ok
    posted = fake.posted_comments[0]
    assert posted["from_id"] == -GID and posted["text"] == "[id508|id508], Скоро"


async def test_actions_answer_community_message(fake: FakeVK, actions: VkActions) -> None:
    msg = incoming(fake.message_new(501, "Где заказ?"))
    result = await actions.execute(msg, plan(ActionKind.REPLY, "Уже едет"), None)
    assert result.ok
    [sent] = fake.sent_messages.values()
    assert (sent["peer_id"], sent["text"]) == (501, "Уже едет")
    forward = json.loads(fake.calls_to("messages.send")[0].params["forward"])
    assert forward["conversation_message_ids"] == [msg.message_id] and forward["is_reply"]
    assert actions.is_idempotent(msg, plan(ActionKind.REPLY, "x"))


async def test_actions_retried_send_not_duplicated(fake: FakeVK, client: VkClient) -> None:
    msg = incoming(fake.message_new(501, "Где заказ?"))
    action = plan(ActionKind.REPLY, "Уже едет")
    first = await VkActions(client, GID).execute(msg, action, None)
    # a restarted process: a new client and actions object, the same planned action
    second = await VkActions(make_client(fake), GID).execute(msg, action, None)
    assert first.platform_ref == second.platform_ref
    assert len(fake.sent_messages) == 1
    assert len(fake.calls_to("messages.send")) == 2


async def test_actions_send_after_dropped_connection_not_duplicated(
    fake: FakeVK, actions: VkActions
) -> None:
    msg = incoming(fake.message_new(501, "hi"))
    fake.fail_next("messages.send", drop=True)
    assert (await actions.execute(msg, plan(ActionKind.REPLY, "hello"), None)).ok
    assert len(fake.sent_messages) == 1


@pytest.mark.parametrize(
    ("builder", "kind"),
    [
        ("wall_reply_new", "wall"),
        ("photo_comment_new", "photos"),
        ("video_comment_new", "video"),
        ("market_comment_new", "market"),
    ],
    ids=["wall", "photo", "video", "market"],
)
async def test_actions_delete_comment_with_user_token(
    fake: FakeVK, actions: VkActions, builder: str, kind: str
) -> None:
    msg = incoming(getattr(fake, builder)(12, 503, "spam"))
    result = await actions.execute(msg, plan(ActionKind.DELETE), None)
    assert result.ok
    assert (kind, -GID, msg.message_id) in fake.deleted_comments
    assert fake.calls_to(f"{kind}.deleteComment")[0].token_type == "user"
    assert actions.is_idempotent(msg, plan(ActionKind.DELETE))


async def test_actions_delete_without_user_token_is_error(fake: FakeVK) -> None:
    actions = VkActions(make_client(fake, user=False), GID)
    msg = incoming(fake.wall_reply_new(12, 503, "spam"))
    result = await actions.execute(msg, plan(ActionKind.DELETE), None)
    assert (result.ok, result.error, result.retryable) == (
        False,
        "needs an admin user token",
        False,
    )
    assert fake.calls_to("wall.deleteComment") == []


async def test_actions_delete_board_comment_with_group_token(fake: FakeVK) -> None:
    actions = VkActions(make_client(fake, user=False), GID)
    msg = incoming(fake.board_post_new(33, 508, "spam"))
    assert (await actions.execute(msg, plan(ActionKind.DELETE), None)).ok
    assert ("board", 33, msg.message_id) in fake.deleted_comments


async def test_actions_delete_private_message_for_all(fake: FakeVK, actions: VkActions) -> None:
    msg = incoming(fake.message_new(501, "spam"))
    assert (await actions.execute(msg, plan(ActionKind.DELETE), None)).ok
    assert (501, msg.message_id) in fake.deleted_messages
    assert fake.calls_to("messages.delete")[0].params["delete_for_all"] == "1"


async def test_actions_ban_forever_and_mute_with_end_date(
    fake: FakeVK, actions: VkActions
) -> None:
    msg = incoming(fake.wall_reply_new(12, 503, "spam"))
    assert (await actions.execute(msg, plan(ActionKind.BAN, reason="spam"), None)).ok
    assert "end_date" not in fake.bans[503]
    mute = plan(ActionKind.MUTE, duration=timedelta(hours=1))
    assert (await actions.execute(msg, mute, None)).ok
    end = int(fake.bans[503]["end_date"])
    assert abs(end - (time.time() + 3600)) < 60


async def test_actions_ban_without_user_token_is_error(fake: FakeVK) -> None:
    actions = VkActions(make_client(fake, user=False), GID)
    msg = incoming(fake.wall_reply_new(12, 503, "spam"))
    result = await actions.execute(msg, plan(ActionKind.BAN), None)
    assert result.error == "needs an admin user token"


async def test_actions_escalate_is_not_vk_job(fake: FakeVK, actions: VkActions) -> None:
    msg = incoming(fake.wall_reply_new(12, 503, "?"))
    result = await actions.execute(msg, plan(ActionKind.ESCALATE, "summary"), None)
    assert not result.ok and "moderators' chat adapter" in (result.error or "")
    assert fake.calls == []


async def test_actions_never_touch_own_comment(fake: FakeVK, actions: VkActions) -> None:
    msg = incoming(fake.wall_reply_new(12, -GID, "our reply"))
    for kind in (ActionKind.REPLY, ActionKind.DELETE, ActionKind.BAN):
        assert not (await actions.execute(msg, plan(kind, "x"), None)).ok
    assert fake.calls == []


async def test_actions_vk_error_becomes_result(fake: FakeVK, actions: VkActions) -> None:
    msg = incoming(fake.wall_reply_new(12, 503, "?"))
    fake.fail_next("wall.createComment", code=100)
    result = await actions.execute(msg, plan(ActionKind.REPLY, "x"), None)
    assert not result.ok and not result.retryable and "[100]" in (result.error or "")


async def test_community_actions_route_by_community(fake: FakeVK, actions: VkActions) -> None:
    router = VkCommunityActions({"Shop VK": actions})
    msg = incoming(fake.wall_reply_new(12, 503, "spam"))
    assert (await router.execute(msg, plan(ActionKind.DELETE), None)).ok
    other = replace(msg, community="Elsewhere")
    result = await router.execute(other, plan(ActionKind.DELETE), None)
    assert not result.ok and "Elsewhere" in (result.error or "")
    assert not router.is_idempotent(msg, plan(ActionKind.REPLY, "x"))
