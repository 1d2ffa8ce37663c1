"""TelegramRunner: the real Dispatcher polling FakeTelegram, with recording intake and desk."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.types import Update

from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.telegram.client import build_bot
from bot.adapters.telegram.errors import TelegramConfigError
from bot.adapters.telegram.mapping import MappingContext, to_incoming
from bot.adapters.telegram.moderators import TelegramModeratorsChat
from bot.adapters.telegram.runner import ALLOWED_UPDATES, TelegramRunner
from bot.core.model import ActionResult, Surface
from bot.core.ports import ModeratorActResult, ModeratorChoice
from tests.fakes.telegram import (
    ALICE,
    BOB,
    CHANNEL,
    FAST_BACKOFF,
    FAST_LIMITS,
    GROUP,
    MODERATOR,
    MODS,
    STRANGER,
    RecordingCommands,
    RecordingDesk,
    RecordingIntake,
    make_card,
)

Factory = Callable[..., TelegramRunner]


@pytest.fixture
def intake() -> RecordingIntake:
    return RecordingIntake()


@pytest.fixture
def desk() -> RecordingDesk:
    return RecordingDesk()


@pytest.fixture
def commands() -> RecordingCommands:
    return RecordingCommands()


@pytest_asyncio.fixture
async def start(
    fake: FakeTelegram, intake: RecordingIntake, desk: RecordingDesk, commands: RecordingCommands
) -> AsyncIterator[Factory]:
    """Start runners (each with its own Bot, like a process restart); stop them all at the end."""
    running: list[tuple[TelegramRunner, asyncio.Task[None], Bot]] = []

    async def launch(**overrides: Any) -> TelegramRunner:
        bot = build_bot(fake.token, fake.base_url, timeout=5, limits=FAST_LIMITS)
        options: dict[str, Any] = {
            "intake": intake,
            "desk": desk,
            "context": MappingContext(bot_id=bot.id, communities={GROUP: "Brand chat"}),
            "moderators": TelegramModeratorsChat(bot, MODS, language="en"),
            "commands": commands,
            "polling_timeout": 1,
            "backoff": FAST_BACKOFF,
            "intake_retry_delays": (0.01, 0.01),
            **overrides,
        }
        runner = TelegramRunner(bot, **options)
        task = asyncio.create_task(runner.run())
        running.append((runner, task, bot))
        await fake.wait_for_calls("getUpdates", len(fake.calls_to("getUpdates")) + 1)
        return runner

    yield launch  # type: ignore[misc]
    for runner, task, bot in running:
        await runner.stop()
        await asyncio.wait_for(task, 5)
        await bot.session.close()


async def test_runner_receives_updates_in_order_with_explicit_allowed_updates(
    fake: FakeTelegram, intake: RecordingIntake, start: Factory
) -> None:
    await start()
    texts = ["first", "second", "third"]
    for text in texts:
        fake.push_message(GROUP, ALICE, text)
    await intake.wait_for(3)
    await fake.wait_until_confirmed()
    assert [m.text for m in intake.received] == texts
    assert fake.allowed_updates == set(ALLOWED_UPDATES)


async def test_runner_redelivers_an_update_interrupted_by_a_restart(
    fake: FakeTelegram, intake: RecordingIntake, start: Factory
) -> None:
    intake.gates["stuck"] = asyncio.Event()
    first = await start()
    fake.push_message(GROUP, ALICE, "stored")
    await intake.wait_for(1)
    fake.push_message(GROUP, ALICE, "stuck")
    await intake.wait_for(2)
    await first.stop()  # dies while "stuck" is being stored
    assert [u["message"]["text"] for u in fake.pending_updates] == ["stuck"]
    intake.gates["stuck"].set()
    await start()
    await intake.wait_for(3)
    await fake.wait_until_confirmed()
    assert [m.text for m in intake.offered] == ["stored", "stuck", "stuck"]
    assert [m.text for m in intake.received] == ["stored", "stuck"]


async def test_runner_retries_the_inbox_before_confirming(
    fake: FakeTelegram, intake: RecordingIntake, start: Factory
) -> None:
    intake.fail_next = 2
    await start()
    fake.push_message(GROUP, ALICE, "hello")
    await intake.wait_until(lambda: bool(intake.received))
    assert [m.text for m in intake.offered] == ["hello"] * 3


async def test_runner_flags_the_automatic_forward_and_maps_comments(
    fake: FakeTelegram, intake: RecordingIntake, start: Factory
) -> None:
    await start()
    post = fake.push_auto_forward(GROUP, CHANNEL, 5, "New collection!")["message"]
    first = fake.push_comment(GROUP, ALICE, post, "Nice")["message"]
    fake.push_comment(GROUP, BOB, post, "Agree", reply_to=first)
    fake.push_channel_post(CHANNEL, "New collection!")
    await intake.wait_for(3)
    forward, comment, deeper = intake.received
    assert forward.is_automatic_forward and forward.author.as_channel
    assert forward.author.is_admin  # the linked channel was discovered through getChat
    assert comment.surface is deeper.surface is Surface.CHANNEL_COMMENT
    assert comment.thread_id == deeper.thread_id == post["message_id"]


async def test_runner_receives_edits_and_ignores_other_chats(
    fake: FakeTelegram, intake: RecordingIntake, start: Factory
) -> None:
    fake.add_chat(-100999, "supergroup", "Not ours")
    await start()
    message = fake.push_message(GROUP, ALICE, "draft")["message"]
    fake.push_message(-100999, BOB, "elsewhere")
    fake.push_edited(message, "final")
    await intake.wait_for(2)
    await fake.wait_until_confirmed()
    assert [(m.text, m.edited) for m in intake.received] == [("draft", False), ("final", True)]


async def posted_card(fake: FakeTelegram, bot: Bot) -> dict[str, Any]:
    stored = fake.store_message(GROUP, ALICE, "Ужасный сервис")  # handled long ago
    context = MappingContext(bot_id=bot.id, communities={GROUP: "Brand chat"})
    message = to_incoming(Update.model_validate({"update_id": 1, "message": stored}), context)
    assert message is not None
    result = await TelegramModeratorsChat(bot, MODS, "en").post(make_card(message))
    assert isinstance(result, ActionResult) and result.ok
    return fake.sent_messages(MODS)[-1]


async def test_callback_from_a_non_moderator_gets_an_alert_and_no_act(
    fake: FakeTelegram, bot: Bot, desk: RecordingDesk, start: Factory
) -> None:
    await start()
    card = await posted_card(fake, bot)
    query = fake.push_callback(STRANGER, card, "esc:tok123:ban")["callback_query"]
    await fake.wait_for_calls("answerCallbackQuery")
    answer = fake.callback_answers[query["id"]]
    assert answer["show_alert"] is True and "Only moderators" in answer["text"]
    assert desk.acts == []
    assert "reply_markup" in fake.sent_messages(MODS)[-1]


async def test_moderator_callback_acts_and_edits_the_card(
    fake: FakeTelegram, bot: Bot, desk: RecordingDesk, start: Factory
) -> None:
    desk.result = ModeratorActResult(ok=True, message="Deleted")
    await start()
    card = await posted_card(fake, bot)
    query = fake.push_callback(MODERATOR, card, "esc:tok123:delete")["callback_query"]
    await fake.wait_for_calls("editMessageText")
    [act] = desk.acts
    assert (act.token, act.choice, act.moderator_id) == ("tok123", ModeratorChoice.DELETE, 2001)
    assert fake.callback_answers[query["id"]]["text"] == "Deleted"
    edited = fake.sent_messages(MODS)[-1]
    assert "reply_markup" not in edited
    assert "Message deleted — moderator Maria" in edited["text"]


async def test_moderator_callback_refused_by_the_desk_is_an_alert(
    fake: FakeTelegram, bot: Bot, desk: RecordingDesk, start: Factory
) -> None:
    desk.result = ModeratorActResult(ok=False, message="Already resolved")
    await start()
    card = await posted_card(fake, bot)
    query = fake.push_callback(MODERATOR, card, "esc:tok123:ban")["callback_query"]
    await fake.wait_for_calls("answerCallbackQuery")
    assert fake.callback_answers[query["id"]]["show_alert"] is True
    assert fake.calls_to("editMessageText") == []


async def test_desk_failure_is_answered_and_polling_goes_on(
    fake: FakeTelegram, bot: Bot, desk: RecordingDesk, intake: RecordingIntake, start: Factory
) -> None:
    desk.error = RuntimeError("db down")
    await start()
    card = await posted_card(fake, bot)
    query = fake.push_callback(MODERATOR, card, "esc:tok123:fine")["callback_query"]
    await fake.wait_for_calls("answerCallbackQuery")
    assert fake.callback_answers[query["id"]]["show_alert"] is True
    fake.push_message(GROUP, ALICE, "still here")
    await intake.wait_for(1)


async def test_moderator_reply_to_a_card_is_an_own_reply(
    fake: FakeTelegram, bot: Bot, desk: RecordingDesk, start: Factory
) -> None:
    await start()
    card = await posted_card(fake, bot)
    fake.push_message(MODS, MODERATOR, "Напишите нам в личку", reply_to_message=card)
    await fake.wait_for_calls("editMessageText")
    [act] = desk.acts
    assert act.choice is ModeratorChoice.OWN_REPLY and act.text == "Напишите нам в личку"


async def test_moderator_commands_call_the_injected_object(
    fake: FakeTelegram, commands: RecordingCommands, start: Factory
) -> None:
    await start()
    fake.push_message(MODS, MODERATOR, "/check купи дешево")
    fake.push_message(MODS, STRANGER, "/reload")
    fake.push_message(MODS, MODERATOR, "/stats")
    fake.push_message(MODS, MODERATOR, "/help")
    await fake.wait_for_calls("sendMessage", 3)
    assert commands.asked == [("check", "купи дешево"), ("stats", ""), ("help", "en")]
    texts = [m["text"] for m in fake.sent_messages(MODS)]
    assert texts == ["checked: купи дешево", "stats text", "help text"]


async def test_bot_demotion_is_recorded_and_reported(
    fake: FakeTelegram, intake: RecordingIntake, start: Factory
) -> None:
    await start()
    me = fake.bot_user
    demoted = fake.member_obj("administrator", me, can_delete_messages=True)
    fake.push_chat_member(GROUP, me, "administrator", demoted, my=True)
    fake.push_chat_member(GROUP, BOB, "left", "member")
    await intake.wait_until(lambda: len(intake.events) == 2)
    (event, detail), (joined, _) = intake.events
    assert event == "bot-membership-changed" and detail["can_restrict_members"] is False
    assert joined == "member-changed"
    await fake.wait_for_calls("sendMessage")
    assert "lacks rights in “Brand chat”: ban and restrict" in fake.sent_messages(MODS)[0]["text"]


async def test_missing_rights_are_reported_at_start(fake: FakeTelegram, start: Factory) -> None:
    fake.set_bot_rights(GROUP, can_delete_messages=False)
    await start()
    assert "lacks rights in “Brand chat”: delete messages." in fake.sent_messages(MODS)[0]["text"]


async def test_invalid_token_is_a_config_error(
    fake: FakeTelegram, intake: RecordingIntake
) -> None:
    bot = build_bot("123:invalid", fake.base_url, timeout=5)
    context = MappingContext(bot_id=123, communities={GROUP: "Brand chat"})
    runner = TelegramRunner(bot, intake=intake, desk=RecordingDesk(), context=context)
    with pytest.raises(TelegramConfigError, match="401"):
        await runner.run()
    await bot.session.close()


async def test_private_messages_go_to_the_direct_community(
    fake: FakeTelegram, intake: RecordingIntake, start: Factory
) -> None:
    context = MappingContext(
        bot_id=fake.bot_id, communities={GROUP: "Brand chat"}, direct_community="Brand DMs"
    )
    await start(context=context)
    fake.push_private(BOB, "Where is my order?")
    await intake.wait_for(1)
    [message] = intake.received
    assert (message.community, message.surface) == ("Brand DMs", Surface.PRIVATE)


async def test_admins_are_known_from_start_and_from_promotions(
    fake: FakeTelegram, intake: RecordingIntake, start: Factory
) -> None:
    fake.add_admin(GROUP, ALICE)
    await start()
    fake.push_message(GROUP, ALICE, "rules")
    fake.push_chat_member(GROUP, BOB, "member", "administrator")
    fake.push_message(GROUP, BOB, "hello")
    await intake.wait_for(2)
    assert [(m.author.user_id, m.author.is_admin) for m in intake.received] == [
        (ALICE["id"], True),
        (BOB["id"], True),
    ]
