"""FakeTelegram driven by the real aiogram Bot: wire formats, update queue semantics and faults."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberRestricted,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)
from pydantic import ValidationError

from bot.adapters.sandbox.telegram import FakeTelegram
from tests.fakes.telegram import ALICE, BOB, CHANNEL, GROUP, MODERATOR, MODS, make_bot


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram().start()
    fake.add_chat(CHANNEL, "channel", "Brand channel", linked_chat_id=GROUP)
    fake.add_chat(GROUP, "supergroup", "Brand chat", linked_chat_id=CHANNEL)
    fake.add_chat(MODS, "supergroup", "Moderators")
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(fake)
    yield bot
    await bot.session.close()


async def test_get_me_returns_the_bot(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == fake.bot_id == bot.id
    assert me.is_bot and me.username == "smm_sandbox_bot"
    assert fake.calls_to("getMe")[0].content_type == "application/x-www-form-urlencoded"


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    intruder = Bot("123:wrong", session=make_bot(fake).session)
    with pytest.raises(TelegramUnauthorizedError):
        await intruder.get_me()
    await intruder.session.close()
    assert fake.calls == []


async def test_unknown_method_is_404_and_json_bodies_are_read(fake: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{fake.base_url}/bot{fake.token}/getSomething"
        async with http.get(url) as response:
            assert response.status == 404
            assert (await response.json())["ok"] is False
        url = f"{fake.base_url}/bot{fake.token}/GETME"
        async with http.post(url, json={"flag": True}) as response:
            assert (await response.json())["result"]["id"] == fake.bot_id
    assert fake.calls_to("getMe")[0].params == {"flag": True}


async def test_get_updates_redelivers_until_a_higher_offset_confirms(
    fake: FakeTelegram, bot: Bot
) -> None:
    ids = [fake.push_message(GROUP, ALICE, f"m{i}")["update_id"] for i in range(3)]
    first = await bot.get_updates()
    again = await bot.get_updates()
    assert [u.update_id for u in first] == [u.update_id for u in again] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[1] + 1)] == ids[2:]
    assert await bot.get_updates(offset=ids[2] + 1) == []
    assert fake.pending_updates == []


async def test_get_updates_negative_offset_and_limit(fake: FakeTelegram, bot: Bot) -> None:
    ids = [fake.push_message(GROUP, ALICE, f"m{i}")["update_id"] for i in range(5)]
    assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]
    assert [u.update_id for u in await bot.get_updates(offset=-2)] == ids[3:]
    assert len(fake.pending_updates) == 2


async def test_get_updates_long_polls_until_an_update_arrives(
    fake: FakeTelegram, bot: Bot
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    fake.push_message(GROUP, ALICE, "late")
    updates = await poll
    assert [u.message.text for u in updates if u.message] == ["late"]
    assert time.monotonic() - started < 1.5


async def test_get_updates_times_out_empty(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9


async def test_second_poller_terminates_the_first_with_409(fake: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await first
    assert await second == []


async def test_allowed_updates_default_excludes_chat_member(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_chat_member(GROUP, BOB, "left", "member")
    fake.push_message(GROUP, BOB, "hi")
    assert [u.event_type for u in await bot.get_updates()] == ["message"]
    fake.push_chat_member(GROUP, ALICE, "left", "member")
    updates = await bot.get_updates(allowed_updates=["message", "chat_member"])
    assert "chat_member" in [u.event_type for u in updates]
    assert fake.allowed_updates == {"message", "chat_member"}
    assert json.loads(fake.calls_to("getUpdates")[-1].raw["allowed_updates"]) == [
        "message",
        "chat_member",
    ]


def test_pushed_updates_are_validated_with_aiogram(fake: FakeTelegram) -> None:
    with pytest.raises(ValidationError):
        fake.push_update({"message": {"message_id": 1, "chat": {"id": GROUP}}})
    with pytest.raises(ValidationError):
        fake.push_chat_member(GROUP, BOB, "left", {"status": "kicked", "user": BOB})
    assert fake.pending_updates == []


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500, "description": "Internal Server Error"}, TelegramServerError),
        ({"status": 502}, TypeError),  # aiogram pitfall: a 5xx without description
        ({"body": "<html><h1>502 Bad Gateway</h1></html>"}, ClientDecodeError),
        ({"drop": True}, TelegramNetworkError),
        ({"status": 400, "description": "Bad Request: nope"}, TelegramBadRequest),
    ],
    ids=["500", "5xx-no-description", "html-502", "dropped", "400"],
)
async def test_faults_surface_as_aiogram_errors(
    fake: FakeTelegram, bot: Bot, fault: dict[str, object], error: type[Exception]
) -> None:
    fake.fail_next("getMe", **fault)  # type: ignore[arg-type]
    with pytest.raises(error):
        await bot.get_me()
    assert (await bot.get_me()).id == fake.bot_id  # one-shot


async def test_rate_limit_raises_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.rate_limit_next("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(GROUP, "hello")
    assert caught.value.retry_after == 7
    assert fake.sent_messages(GROUP) == []


async def test_faults_are_fifo_and_counted(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("getMe", status=500, description="first", times=2)
    fake.fail_next("getMe", status=400, description="Bad Request: third")
    for expected in ("first", "first", "third"):
        with pytest.raises((TelegramServerError, TelegramBadRequest), match=expected):
            await bot.get_me()
    await bot.get_me()


async def test_delay_longer_than_the_session_timeout_is_a_network_error(
    fake: FakeTelegram,
) -> None:
    slow = make_bot(fake, timeout=0.2)
    fake.fail_next("getMe", delay=0.5)
    with pytest.raises(TelegramNetworkError):
        await slow.get_me()
    await slow.session.close()


async def test_send_message_resolves_reply_thread_and_markup(fake: FakeTelegram, bot: Bot) -> None:
    post = fake.push_auto_forward(GROUP, CHANNEL, 77, "New product!")["message"]
    comment = fake.push_comment(GROUP, ALICE, post, "When in stock?")["message"]
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ok", callback_data="esc:t:fine")]]
    )
    sent = await bot.send_message(
        GROUP,
        "Tomorrow!",
        message_thread_id=post["message_id"],
        reply_parameters=ReplyParameters(message_id=comment["message_id"]),
        reply_markup=markup,
    )
    assert sent.reply_to_message and sent.reply_to_message.text == "When in stock?"
    assert sent.message_thread_id == post["message_id"]
    assert isinstance(sent.reply_markup, InlineKeyboardMarkup)
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "esc:t:fine"
    raw = fake.calls_to("sendMessage")[0].raw
    assert json.loads(raw["reply_parameters"]) == {"message_id": comment["message_id"]}
    assert fake.sent_messages(GROUP)[0]["text"] == "Tomorrow!"


async def test_send_message_to_a_missing_reply_target(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(GROUP, "x", reply_parameters=ReplyParameters(message_id=999))
    lenient = ReplyParameters(message_id=999, allow_sending_without_reply=True)
    sent = await bot.send_message(GROUP, "x", reply_parameters=lenient)
    assert sent.reply_to_message is None
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(-100999, "x")


async def test_edit_message_text(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(MODS, "card")
    edited = await bot.edit_message_text("card: done", chat_id=MODS, message_id=sent.message_id)
    assert edited.text == "card: done" and edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("card: done", chat_id=MODS, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=MODS, message_id=999)
    theirs = fake.push_message(MODS, MODERATOR, "hi")["message"]
    with pytest.raises(TelegramBadRequest, match="can't be edited"):
        await bot.edit_message_text("x", chat_id=MODS, message_id=theirs["message_id"])


async def test_edit_without_markup_removes_the_keyboard(fake: FakeTelegram, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ok", callback_data="x")]]
    )
    sent = await bot.send_message(MODS, "card", reply_markup=markup)
    await bot.edit_message_text("card", chat_id=MODS, message_id=sent.message_id)
    assert "reply_markup" not in fake.sent_messages(MODS)[0]


async def test_delete_message(fake: FakeTelegram, bot: Bot) -> None:
    msg = fake.push_message(GROUP, ALICE, "spam")["message"]
    assert await bot.delete_message(GROUP, msg["message_id"])
    assert fake.is_deleted(GROUP, msg["message_id"])
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(GROUP, msg["message_id"])
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(GROUP, 999)


async def test_delete_message_older_than_48_hours(fake: FakeTelegram, bot: Bot) -> None:
    old = fake.push_message(GROUP, ALICE, "old", date=int(time.time()) - 49 * 3600)["message"]
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(GROUP, old["message_id"])


async def test_delete_needs_the_right(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_bot_rights(GROUP, can_delete_messages=False)
    msg = fake.push_message(GROUP, ALICE, "spam")["message"]
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(GROUP, msg["message_id"])
    own = await bot.send_message(GROUP, "mine")
    assert await bot.delete_message(GROUP, own.message_id)


async def test_delete_messages_skips_missing(fake: FakeTelegram, bot: Bot) -> None:
    ids = [fake.push_message(GROUP, ALICE, f"m{i}")["message"]["message_id"] for i in range(2)]
    assert await bot.delete_messages(GROUP, [*ids, 999])
    assert all(fake.is_deleted(GROUP, i) for i in ids)
    assert json.loads(fake.calls_to("deleteMessages")[0].raw["message_ids"]) == [*ids, 999]


async def test_ban_encodes_until_date_and_revokes(fake: FakeTelegram, bot: Bot) -> None:
    msg = fake.push_message(GROUP, BOB, "spam")["message"]
    before = time.time()
    await bot.ban_chat_member(
        GROUP, BOB["id"], until_date=timedelta(hours=1), revoke_messages=True
    )
    raw = fake.calls_to("banChatMember")[0].raw
    assert raw["revoke_messages"] == "true"
    assert abs(int(raw["until_date"]) - (before + 3600)) <= 2
    member = await bot.get_chat_member(GROUP, BOB["id"])
    assert isinstance(member, ChatMemberBanned) and member.until_date is not None
    assert fake.is_deleted(GROUP, msg["message_id"])


async def test_ban_of_an_admin_or_without_rights_fails(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_admin(GROUP, MODERATOR)
    with pytest.raises(TelegramBadRequest, match="administrator"):
        await bot.ban_chat_member(GROUP, MODERATOR["id"])
    fake.set_bot_rights(GROUP, can_restrict_members=False)
    with pytest.raises(TelegramBadRequest, match="not enough rights"):
        await bot.ban_chat_member(GROUP, BOB["id"])


async def test_restrict_builds_a_full_restricted_member(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_message(GROUP, BOB, "hi")
    await bot.restrict_chat_member(
        GROUP, BOB["id"], ChatPermissions(can_send_messages=False), until_date=timedelta(hours=2)
    )
    assert json.loads(fake.calls_to("restrictChatMember")[0].raw["permissions"]) == {
        "can_send_messages": False
    }
    member = await bot.get_chat_member(GROUP, BOB["id"])
    assert isinstance(member, ChatMemberRestricted) and not member.can_send_messages
    everything = dict.fromkeys(ChatPermissions.model_fields, True)
    await bot.restrict_chat_member(GROUP, BOB["id"], ChatPermissions(**everything))
    assert (await bot.get_chat_member(GROUP, BOB["id"])).status == "member"


async def test_unban_only_if_banned_leaves_members_alone(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_message(GROUP, BOB, "hi")
    await bot.unban_chat_member(GROUP, BOB["id"], only_if_banned=True)
    assert fake.member(GROUP, BOB["id"])["status"] == "member"
    await bot.unban_chat_member(GROUP, BOB["id"])  # Telegram kicks a member without the flag
    assert fake.member(GROUP, BOB["id"])["status"] == "left"


async def test_ban_sender_chat(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.ban_chat_sender_chat(GROUP, -100777)
    assert (GROUP, -100777) in fake.banned_sender_chats


async def test_chat_member_shapes(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_admin(MODS, MODERATOR)
    me = await bot.get_chat_member(GROUP, fake.bot_id)
    assert isinstance(me, ChatMemberAdministrator) and me.can_delete_messages
    admins = await bot.get_chat_administrators(MODS)
    assert {a.user.id for a in admins} == {MODERATOR["id"], fake.bot_id}
    assert (await bot.get_chat_member(GROUP, 4242)).status == "left"
    chat = await bot.get_chat(GROUP)
    assert chat.linked_chat_id == CHANNEL


async def test_answer_callback_query_once(fake: FakeTelegram, bot: Bot) -> None:
    card = await bot.send_message(MODS, "card")
    query = fake.push_callback(MODERATOR, card.model_dump(mode="json"), "esc:t:fine")
    query_id = query["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id, text="Done", show_alert=True)
    assert fake.callback_answers[query_id]["show_alert"] is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)


async def test_delete_webhook_can_drop_pending_updates(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_message(GROUP, ALICE, "x")
    await bot.delete_webhook(drop_pending_updates=True)
    assert fake.pending_updates == []


async def test_channel_comment_builders(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_channel_post(CHANNEL, "New product!")
    post = fake.push_auto_forward(GROUP, CHANNEL, 1, "New product!")["message"]
    first = fake.push_comment(GROUP, ALICE, post, "Nice")["message"]
    fake.push_comment(GROUP, BOB, post, "Agree", reply_to=first)
    updates = await bot.get_updates()
    forward, comment, deeper = (u.message for u in updates[1:])
    assert forward and forward.is_automatic_forward and forward.sender_chat
    assert forward.forward_origin and forward.forward_origin.message_id == 1  # type: ignore[union-attr]
    assert comment and comment.message_thread_id == forward.message_id
    assert deeper and deeper.message_thread_id == forward.message_id
    assert deeper.reply_to_message and deeper.reply_to_message.message_id == comment.message_id
