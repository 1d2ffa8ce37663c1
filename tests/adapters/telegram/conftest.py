"""FakeTelegram with a brand's chats, and a Bot built the production way (build_bot)."""

from collections.abc import AsyncIterator

import pytest_asyncio
from aiogram import Bot

from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.telegram.client import build_bot
from tests.fakes.telegram import CHANNEL, FAST_LIMITS, GROUP, MODERATOR, MODS


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram().start()
    fake.add_chat(CHANNEL, "channel", "Brand channel", linked_chat_id=GROUP)
    fake.add_chat(GROUP, "supergroup", "Brand chat", linked_chat_id=CHANNEL)
    fake.add_chat(MODS, "supergroup", "Moderators")
    fake.add_admin(MODS, MODERATOR)
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = build_bot(fake.token, fake.base_url, timeout=5, limits=FAST_LIMITS)
    yield bot
    await bot.session.close()
