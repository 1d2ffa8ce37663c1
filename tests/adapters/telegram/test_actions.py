"""TelegramActions against FakeTelegram through the real aiogram Bot and our request middleware."""

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import Update

from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.telegram.actions import TelegramActions
from bot.adapters.telegram.mapping import MappingContext, to_incoming
from bot.adapters.telegram.moderators import TelegramModeratorsChat
from bot.core.model import ActionKind, IncomingMessage, PlannedAction
from tests.fakes.telegram import ALICE, BOB, CHANNEL, GROUP, MODS, make_card

CTX = MappingContext(bot_id=7000000001, communities={GROUP: "Brand chat"})


def incoming(update: dict[str, Any]) -> IncomingMessage:
    message = to_incoming(Update.model_validate(update), CTX)
    assert message is not None
    return message


def planned(kind: ActionKind, **fields: Any) -> PlannedAction:
    return PlannedAction(kind=kind, rule_id="test-rule", idempotency_key=f"k-{kind}", **fields)


@pytest.fixture
def actions(bot: Bot) -> TelegramActions:
    return TelegramActions(bot, TelegramModeratorsChat(bot, MODS, language="en"))


async def test_reply_to_a_comment_goes_into_its_thread(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    post = fake.push_auto_forward(GROUP, CHANNEL, 7, "New collection!")["message"]
    comment = incoming(fake.push_comment(GROUP, ALICE, post, "Доставка в Казань?"))
    result = await actions.execute(comment, planned(ActionKind.REPLY, text="2–5 дней"), None)
    assert result.ok
    raw = fake.calls_to("sendMessage")[0].raw
    assert json.loads(raw["reply_parameters"]) == {
        "message_id": comment.message_id,
        "allow_sending_without_reply": True,
    }
    assert int(raw["message_thread_id"]) == post["message_id"]
    sent = fake.sent_messages(GROUP)[0]
    assert result.platform_ref == f"{GROUP}:{sent['message_id']}"
    assert sent["reply_to_message"]["message_id"] == comment.message_id


async def test_reply_to_a_deleted_message_is_still_sent(
    fake: FakeTelegram, actions: TelegramActions, bot: Bot
) -> None:
    message = incoming(fake.push_message(GROUP, ALICE, "вопрос?"))
    await bot.delete_message(GROUP, message.message_id)
    result = await actions.execute(message, planned(ActionKind.REPLY, text="ответ"), None)
    assert result.ok and "reply_to_message" not in fake.sent_messages(GROUP)[0]


async def test_delete_removes_the_message_and_tolerates_a_repeat(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    message = incoming(fake.push_message(GROUP, BOB, "spam"))
    assert (await actions.execute(message, planned(ActionKind.DELETE), None)).ok
    assert fake.is_deleted(GROUP, message.message_id)
    assert (await actions.execute(message, planned(ActionKind.DELETE), None)).ok


async def test_delete_refuses_messages_older_than_48_hours(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    old = int(time.time()) - 49 * 3600
    message = incoming(fake.push_message(GROUP, BOB, "old spam", date=old))
    result = await actions.execute(message, planned(ActionKind.DELETE), None)
    assert not result.ok and result.error == "too old to delete (48 h)"
    assert not result.retryable
    assert fake.calls_to("deleteMessage") == []


async def test_ban_a_user_and_a_channel(fake: FakeTelegram, actions: TelegramActions) -> None:
    user_msg = incoming(fake.push_message(GROUP, BOB, "spam"))
    assert (await actions.execute(user_msg, planned(ActionKind.BAN), None)).ok
    assert fake.member(GROUP, BOB["id"])["status"] == "kicked"
    channel = {"id": -1002222222222, "type": "channel", "title": "Cheap"}
    bot_user = {"id": 136817688, "is_bot": True, "first_name": "Channel"}
    channel_msg = incoming(fake.push_message(GROUP, bot_user, "subscribe", sender_chat=channel))
    assert (await actions.execute(channel_msg, planned(ActionKind.BAN), None)).ok
    assert (GROUP, channel["id"]) in fake.banned_sender_chats


async def test_ban_without_rights_is_a_permanent_error(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    fake.set_bot_rights(GROUP, can_restrict_members=False)
    message = incoming(fake.push_message(GROUP, BOB, "spam"))
    result = await actions.execute(message, planned(ActionKind.BAN), None)
    assert not result.ok and not result.retryable
    assert result.error and "not enough rights" in result.error


async def test_mute_sends_until_date_as_an_absolute_time(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    message = incoming(fake.push_message(GROUP, BOB, "flood"))
    before = time.time()
    mute = planned(ActionKind.MUTE, duration=timedelta(hours=1))
    assert (await actions.execute(message, mute, None)).ok
    raw = fake.calls_to("restrictChatMember")[0].raw
    assert abs(int(raw["until_date"]) - (before + 3600)) <= 2
    assert not any(json.loads(raw["permissions"]).values())
    assert fake.member(GROUP, BOB["id"])["status"] == "restricted"


async def test_429_on_send_waits_and_posts_exactly_once(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    message = incoming(fake.push_message(GROUP, ALICE, "вопрос?"))
    fake.rate_limit_next("sendMessage", retry_after=1)
    started = time.monotonic()
    result = await actions.execute(message, planned(ActionKind.REPLY, text="ответ"), None)
    assert result.ok
    assert time.monotonic() - started >= 1
    assert len(fake.calls_to("sendMessage")) == 2
    assert len(fake.sent_messages(GROUP)) == 1


async def test_429_beyond_the_wait_budget_is_returned_retryable(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    message = incoming(fake.push_message(GROUP, ALICE, "вопрос?"))
    fake.rate_limit_next("sendMessage", retry_after=60)
    result = await actions.execute(message, planned(ActionKind.REPLY, text="ответ"), None)
    assert not result.ok and result.retryable and result.retry_after == 60
    assert len(fake.calls_to("sendMessage")) == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 502, "description": "Bad Gateway"},
        {"status": 502},
        {"body": "<html>502 Bad Gateway</html>"},
        {"drop": True},
    ],
    ids=["502", "5xx-no-description", "html", "dropped"],
)
async def test_server_errors_on_delete_are_retried(
    fake: FakeTelegram, actions: TelegramActions, fault: dict[str, Any]
) -> None:
    message = incoming(fake.push_message(GROUP, BOB, "spam"))
    fake.fail_next("deleteMessage", **fault)
    assert (await actions.execute(message, planned(ActionKind.DELETE), None)).ok
    assert len(fake.calls_to("deleteMessage")) == 2


@pytest.mark.parametrize(
    ("fault", "detail"),
    [({"status": 502, "description": "Bad Gateway"}, "Bad Gateway"), ({"drop": True}, "")],
    ids=["502", "dropped"],
)
async def test_an_ambiguous_failure_of_a_send_is_uncertain_and_not_retried(
    fake: FakeTelegram, actions: TelegramActions, fault: dict[str, Any], detail: str
) -> None:
    message = incoming(fake.push_message(GROUP, ALICE, "вопрос?"))
    fake.fail_next("sendMessage", **fault)
    result = await actions.execute(message, planned(ActionKind.REPLY, text="ответ"), None)
    assert not result.ok and not result.retryable and result.uncertain
    assert result.error and detail in result.error
    assert len(fake.calls_to("sendMessage")) == 1


async def test_a_refused_send_is_a_failure_not_an_uncertainty(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    message = incoming(fake.push_message(GROUP, ALICE, "вопрос?"))
    fake.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    result = await actions.execute(message, planned(ActionKind.REPLY, text="ответ"), None)
    assert not result.ok and not result.retryable and not result.uncertain


async def test_escalate_posts_the_card_to_the_moderators(
    fake: FakeTelegram, actions: TelegramActions
) -> None:
    message = incoming(fake.push_message(GROUP, ALICE, "Ужас, а не сервис <b>!</b>"))
    result = await actions.execute(message, planned(ActionKind.ESCALATE), make_card(message))
    assert result.ok
    card = fake.sent_messages(MODS)[0]
    assert result.platform_ref == f"{MODS}:{card['message_id']}"
    assert "Ужас, а не сервис <b>!</b>" in card["text"]  # escaped on the wire, shown as typed
    buttons = [b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["esc:tok123:send", "esc:tok123:delete", "esc:tok123:ban", "esc:tok123:fine"]
    assert fake.calls_to("sendMessage")[0].raw["parse_mode"] == "HTML"


async def test_escalate_without_card_or_chat_fails_cleanly(fake: FakeTelegram, bot: Bot) -> None:
    message = incoming(fake.push_message(GROUP, ALICE, "help"))
    lonely = TelegramActions(bot)
    result = await lonely.execute(message, planned(ActionKind.ESCALATE), make_card(message))
    assert result.error == "no moderators' chat configured"
    chat = TelegramModeratorsChat(bot, MODS)
    assert not (await chat.execute(message, planned(ActionKind.ESCALATE), None)).ok
    assert not (await chat.execute(message, planned(ActionKind.DELETE), None)).ok
    assert not chat.is_idempotent(message, planned(ActionKind.ESCALATE))


def test_is_idempotent_only_for_actions_that_cannot_double(actions: TelegramActions) -> None:
    message = IncomingMessage.__new__(IncomingMessage)
    kinds = {kind: actions.is_idempotent(message, planned(kind)) for kind in ActionKind}
    assert kinds == {
        ActionKind.REPLY: False,
        ActionKind.ESCALATE: False,
        ActionKind.DELETE: True,
        ActionKind.BAN: True,
        ActionKind.MUTE: True,
    }


@pytest.mark.parametrize("kind", [ActionKind.DELETE, ActionKind.BAN, ActionKind.MUTE])
async def test_actions_never_touch_the_channels_own_post(
    fake: FakeTelegram, actions: TelegramActions, kind: ActionKind
) -> None:
    post = incoming(fake.push_auto_forward(GROUP, CHANNEL, 9, "Our new tea"))
    result = await actions.execute(post, planned(kind), None)
    assert not result.ok and result.error and "channel post" in result.error
    assert fake.calls == []
