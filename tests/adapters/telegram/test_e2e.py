"""End to end: FakeTelegram → TelegramRunner → Pipeline (SQLite) → TelegramActions → back."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from sqlalchemy import select

from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.telegram.actions import TelegramActions
from bot.adapters.telegram.client import build_bot
from bot.adapters.telegram.mapping import MappingContext
from bot.adapters.telegram.moderators import TelegramModeratorsChat
from bot.adapters.telegram.runner import TelegramRunner
from bot.app import Core, build_core
from bot.core.model import Platform
from bot.routing import ActionRouter
from bot.rules_file import RulesSource
from bot.settings import Settings
from bot.storage.tables import AuditRow, InboxRow
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
)

RULES = f"""
version: 1
language: en
communities:
  - name: Shop chat
    telegram: {{chat_id: {GROUP}, linked_channel_id: {CHANNEL}}}
moderators: {{telegram_chat_id: {MODS}, user_ids: [{MODERATOR["id"]}]}}
spam:
  threshold: 0.85
  action: delete
  stop_words: [заработок без вложений]
negative: {{threshold: 0.7, action: escalate}}
questions:
  threshold: 0.6
  unanswered: escalate
  answers:
    - id: delivery-time
      keywords: [доставк, delivery]
      reply: {{ru: "Доставка 2–5 дней", en: "Delivery takes 2–5 days"}}
"""


@dataclass
class Service:
    fake: FakeTelegram
    core: Core


@pytest_asyncio.fixture
async def service(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[Service]:
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(RULES, encoding="utf-8")
    settings = Settings(rules=rules_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/e2e.db")
    bot = build_bot(fake.token, fake.base_url, timeout=5, limits=FAST_LIMITS)
    cards = TelegramModeratorsChat(bot, MODS, language="en")
    actions = ActionRouter({Platform.TELEGRAM: TelegramActions(bot, cards)}, cards)
    core = await build_core(settings, RulesSource(rules_path), actions)
    context = MappingContext(bot.id, {GROUP: "Shop chat"}, frozenset({CHANNEL}))
    runner = TelegramRunner(
        bot,
        intake=core.pipeline,
        desk=core.desk,
        context=context,
        moderators=cards,
        moderator_ids=frozenset({MODERATOR["id"]}),
        polling_timeout=1,
        backoff=FAST_BACKOFF,
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runner.run()), asyncio.create_task(core.pipeline.run(stop))]
    yield Service(fake, core)
    stop.set()
    await runner.stop()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    await core.close()
    await bot.session.close()


async def test_e2e_a_question_in_the_comments_is_answered_in_its_thread(service: Service) -> None:
    fake = service.fake
    post = fake.push_auto_forward(GROUP, CHANNEL, 3, "New tea! Free delivery this week")
    comment = fake.push_comment(GROUP, ALICE, post["message"], "How long does delivery take?")
    await fake.wait_for_calls("sendMessage")
    [reply] = fake.sent_messages(GROUP)
    assert reply["text"] == "Delivery takes 2–5 days"
    assert reply["message_thread_id"] == post["message"]["message_id"]
    assert reply["reply_to_message"]["message_id"] == comment["message"]["message_id"]
    assert not fake.is_deleted(GROUP, post["message"]["message_id"])


async def test_e2e_spam_is_deleted(service: Service) -> None:
    fake = service.fake
    spam = fake.push_message(GROUP, BOB, "Заработок без вложений! Пиши в личку")["message"]
    await fake.wait_for_calls("deleteMessage")
    assert fake.is_deleted(GROUP, spam["message_id"])


async def test_e2e_escalation_card_and_a_moderators_tap(service: Service) -> None:
    fake = service.fake
    angry = "This is awful, the worst shop ever, I hate you, terrible terrible service!"
    complaint = fake.push_message(GROUP, ALICE, angry)["message"]
    await fake.wait_until(lambda: bool(fake.sent_messages(MODS)), 10)
    card = fake.sent_messages(MODS)[0]
    assert "Moderator needed" in card["text"]
    fake.push_callback(
        STRANGER, card, card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    )
    delete = next(
        b["callback_data"]
        for row in card["reply_markup"]["inline_keyboard"]
        for b in row
        if b["callback_data"].endswith(":delete")
    )
    fake.push_callback(MODERATOR, card, delete)
    await fake.wait_for_calls("deleteMessage", within=10)
    assert fake.is_deleted(GROUP, complaint["message_id"])
    answers = list(fake.callback_answers.values())
    assert answers[0]["show_alert"] is True  # the stranger was refused
    edited = fake.sent_messages(MODS)[0]
    assert "reply_markup" not in edited and "Message deleted" in edited["text"]


async def test_e2e_redelivered_update_is_stored_once(service: Service) -> None:
    fake = service.fake
    update = fake.push_message(GROUP, ALICE, "Hello everyone")
    await fake.wait_until_confirmed()
    fake.push_update({"message": update["message"]})  # Telegram may deliver it again
    await fake.wait_until_confirmed()
    async with service.core.store.engine.connect() as connection:
        rows = await connection.execute(select(InboxRow.id))
        audit = await connection.execute(select(AuditRow.event))
    assert len(rows.all()) == 1
    assert "message-duplicate" in {event for (event,) in audit.all()}
