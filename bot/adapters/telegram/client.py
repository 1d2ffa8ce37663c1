"""The aiogram `Bot` we use everywhere: a configurable API base, rate limits and bounded retries.

aiogram never retries on its own and its polling backoff ignores `retry_after`, so every request
goes through `ResilienceMiddleware`: token buckets first, then the call, then a bounded retry that
honours 429 `retry_after` for every method and retries 5xx, network and decode errors only for
methods that cannot do a thing twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

__all__ = [
    "IDEMPOTENT_METHODS",
    "Limits",
    "RateLimiter",
    "ResilienceMiddleware",
    "TokenBucket",
    "build_bot",
]

log = logging.getLogger(__name__)

# Repeating these after a lost response cannot post, ban or strike twice.
IDEMPOTENT_METHODS = frozenset(
    {
        "getMe",
        "getChat",
        "getChatMember",
        "getChatAdministrators",
        "deleteWebhook",
        "setWebhook",
        "getWebhookInfo",
        "deleteMessage",
        "deleteMessages",
        "banChatMember",
        "unbanChatMember",
        "restrictChatMember",
        "banChatSenderChat",
        "answerCallbackQuery",
        "editMessageText",
        "editMessageReplyMarkup",
    }
)
_SEND_METHODS = frozenset({"sendMessage", "editMessageText"})
# The polling loop has its own backoff, and a retried long poll would only delay shutdown.
_PASS_THROUGH = frozenset({"getUpdates"})
_RETRYABLE = (TelegramServerError, TelegramNetworkError, ClientDecodeError)


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits and retry budget (Bot FAQ: ~30 msg/s overall, ~1/s per chat, 20/min a group)."""

    global_per_second: float = 30.0
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: float = 20.0
    max_attempts: int = 4
    max_total_wait: float = 30.0  # seconds of retry_after/backoff one call may spend
    backoff_base: float = 0.5


class TokenBucket:
    """A classic token bucket: `rate` tokens per second, at most `capacity` stored."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.capacity, self._clock = rate, capacity, clock
        self._tokens, self._stamp = float(capacity), clock()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until one token is available (0 when it is now)."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    async def acquire(self) -> None:
        """Wait for a token and take it; waiters are served in order."""
        async with self._lock:
            wait = self.delay()
            if wait > 0:
                await asyncio.sleep(wait)  # nobody else takes tokens while we hold the lock
                self.delay()
            self._tokens -= 1


class RateLimiter:
    """Global, per-chat and per-group buckets, taken before each request."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._global = TokenBucket(limits.global_per_second, limits.global_per_second)
        self._chats: dict[int | str, TokenBucket] = {}
        self._groups: dict[int | str, TokenBucket] = {}

    async def acquire(self, api_method: str, chat_id: int | str | None) -> None:
        """Wait until the request may go out (the chat's buckets first, then the global one)."""
        if chat_id is not None and api_method in _SEND_METHODS:
            limits = self._limits
            chat = self._bucket(self._chats, chat_id, limits.chat_per_second, limits.chat_burst)
            await chat.acquire()
            if api_method == "sendMessage" and _is_group(chat_id):
                rate = limits.group_per_minute / 60
                group = self._bucket(self._groups, chat_id, rate, limits.group_per_minute)
                await group.acquire()
        await self._global.acquire()

    @staticmethod
    def _bucket(
        buckets: dict[int | str, TokenBucket], key: int | str, rate: float, capacity: float
    ) -> TokenBucket:
        if key not in buckets:
            buckets[key] = TokenBucket(rate, capacity)
        return buckets[key]


def _is_group(chat_id: int | str) -> bool:
    # Group and channel ids are negative; "@name" addresses are public groups or channels.
    return isinstance(chat_id, str) or chat_id < 0


class ResilienceMiddleware(BaseRequestMiddleware):
    """Rate limiting plus a bounded, retry_after-aware retry around every Bot API request."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.limiter = RateLimiter(self.limits)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        if name in _PASS_THROUGH:
            return await make_request(bot, method)
        waited = 0.0
        for attempt in range(1, self.limits.max_attempts + 1):
            await self.limiter.acquire(name, getattr(method, "chat_id", None))
            try:
                return await _request(make_request, bot, method)
            except TelegramRetryAfter as error:
                wait = float(error.retry_after)
                if not self._may_retry(attempt, waited + wait):
                    raise
            except _RETRYABLE:
                wait = self._backoff(attempt)
                if name not in IDEMPOTENT_METHODS or not self._may_retry(attempt, waited + wait):
                    raise
            log.warning("telegram %s failed (attempt %s), retrying in %.1fs", name, attempt, wait)
            waited += wait
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _may_retry(self, attempt: int, total_wait: float) -> bool:
        return attempt < self.limits.max_attempts and total_wait <= self.limits.max_total_wait

    def _backoff(self, attempt: int) -> float:
        base: float = self.limits.backoff_base * 2 ** (attempt - 1)
        return base * random.uniform(0.8, 1.2)  # jitter


async def _request(
    make_request: NextRequestMiddlewareType[TelegramType],
    bot: Bot,
    method: TelegramMethod[TelegramType],
) -> Response[TelegramType]:
    try:
        return await make_request(bot, method)
    except TypeError as error:
        # aiogram pitfall: a 5xx body without "description" fails inside check_response with
        # "argument of type 'NoneType' is not iterable" instead of TelegramServerError.
        raise TelegramServerError(method=method, message=f"server error ({error})") from error


class CallStats(BaseRequestMiddleware):
    """Counts Bot API calls: when each method last succeeded and how many failed (health)."""

    def __init__(self) -> None:
        self.last_success: dict[str, float] = {}
        self.errors: dict[str, int] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        try:
            response = await make_request(bot, method)
        except Exception:
            self.errors[name] = self.errors.get(name, 0) + 1
            raise
        self.last_success[name] = time.time()
        return response


def build_bot(
    token: str,
    api_base: str | None = None,
    *,
    timeout: float = 30.0,
    limits: Limits | None = None,
    stats: CallStats | None = None,
    **bot_kwargs: Any,
) -> Bot:
    """A `Bot` for the real API (api_base None) or an emulator, with our request middleware."""
    api = TelegramAPIServer.from_base(api_base.rstrip("/")) if api_base else PRODUCTION
    bot = Bot(token, session=AiohttpSession(api=api, timeout=timeout), **bot_kwargs)
    bot.session.middleware(ResilienceMiddleware(limits))
    if stats is not None:
        bot.session.middleware(stats)  # inside the retries: every attempt is counted
    return bot
