"""build_bot's request middleware: token buckets and the bounded retry."""

import time
from dataclasses import replace

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramServerError

from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.telegram.client import TokenBucket, build_bot
from tests.fakes.telegram import ALICE, FAST_LIMITS, GROUP


async def test_token_bucket_spaces_requests_after_the_burst() -> None:
    bucket = TokenBucket(rate=20, capacity=2)
    started = time.monotonic()
    for _ in range(6):
        await bucket.acquire()
    assert 0.18 <= time.monotonic() - started < 1  # 2 free, then 4 at 20/s


async def test_sends_to_one_chat_are_paced(fake: FakeTelegram) -> None:
    bot = build_bot(
        fake.token, fake.base_url, limits=replace(FAST_LIMITS, chat_per_second=20, chat_burst=1)
    )
    started = time.monotonic()
    for index in range(5):
        await bot.send_message(GROUP, f"m{index}")
    assert time.monotonic() - started >= 0.18
    await bot.session.close()


async def test_retries_stop_after_max_attempts(fake: FakeTelegram) -> None:
    bot = build_bot(fake.token, fake.base_url, limits=replace(FAST_LIMITS, max_attempts=3))
    message = fake.push_message(GROUP, ALICE, "spam")["message"]
    fake.fail_next("deleteMessage", status=500, description="Internal Server Error", times=5)
    with pytest.raises(TelegramServerError):
        await bot.delete_message(GROUP, message["message_id"])
    assert len(fake.calls_to("deleteMessage")) == 3
    await bot.session.close()


async def test_client_errors_are_never_retried(fake: FakeTelegram) -> None:
    bot = build_bot(fake.token, fake.base_url, limits=FAST_LIMITS)
    with pytest.raises(TelegramBadRequest):
        await bot.delete_message(GROUP, 999)
    assert len(fake.calls_to("deleteMessage")) == 1
    await bot.session.close()
