"""Faults injected at random into the emulators while the soak runs.

Telegram: 429 with retry_after, 5xx with and without a description, an nginx HTML page, a
dropped connection, or a slow answer (so that a SIGKILL can land in the middle of a call).
VK: error 6/9/10, HTTP 502 or a drop on API methods; `failed` 2/3, 502, HTML or a drop on the
long poll. `failed: 1` tells the client that VK's history is gone and the events in between are
lost for real, so it is only injected once the service has stored every VK event pushed so far:
it then exercises the recovery without losing anything the platform still had.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.sandbox.vk import HTML_502, FakeVK

TG_METHODS = ("sendMessage", "deleteMessage", "banChatMember", "getUpdates")
VK_METHODS = ("wall.createComment", "wall.deleteComment", "groups.ban", "messages.send")
VK_LONG_POLL = (2, 3, "http502", "html", "drop")
GAP_WITHIN = 60.0  # seconds to wait for the service to catch up or to be polled: a guard


def telegram_fault(fake: FakeTelegram, rng: random.Random) -> str:
    """Queue one fault on a Telegram method; returns its name for the tally."""
    method, kind = rng.choice(TG_METHODS), rng.randrange(6)
    if kind == 0:
        fake.rate_limit_next(method, rng.choice((1, 2)))
    elif kind == 1:
        fake.fail_next(method, 500, "Internal Server Error")
    elif kind == 2:
        fake.fail_next(method, 502)  # no description: aiogram's parser must still cope
    elif kind == 3:
        fake.fail_next(method, 502, body=HTML_502)
    elif kind == 4:
        fake.fail_next(method, drop=True)
    else:
        fake.fail_next(method, delay=rng.uniform(0.5, 2.5))
    return f"tg {('429', '500', '502-bare', 'html', 'drop', 'slow')[kind]}"


def vk_fault(fake: FakeVK, rng: random.Random) -> str:
    """Queue one fault on a VK API method or on the long poll."""
    if rng.random() < 0.4:
        kind = rng.choice(VK_LONG_POLL)
        fake.lp_fail_next(kind)
        return f"vk lp {kind}"
    # Error 9 is rare on purpose: the client then pauses that method for a minute (doubling up
    # to 10 while it recurs), which would leave many VK actions deferred instead of exercised.
    method, [kind] = rng.choice(VK_METHODS), rng.choices(range(5), weights=(4, 1, 3, 2, 2))
    if kind < 3:
        fake.fail_next(method, code=(6, 9, 10)[kind])
    elif kind == 3:
        fake.fail_next(method, http_status=502, body=HTML_502)
    else:
        fake.fail_next(method, drop=True)
    return f"vk {('6', '9', '10', 'http502', 'drop')[kind]}"


class Chaos:
    """Injects a fault every fraction of a second until stopped, and tallies what it injected."""

    def __init__(
        self,
        telegram: FakeTelegram,
        vk: FakeVK,
        rng: random.Random,
        vk_caught_up: Callable[[], Awaitable[bool]],
    ) -> None:
        self.telegram, self.vk, self.rng = telegram, vk, rng
        self.vk_caught_up = vk_caught_up
        self.vk_paused = False  # read by the sender: VK pushes wait while a gap is staged
        self.injected: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))
            roll = self.rng.random()
            if roll < 0.5:
                self.injected[telegram_fault(self.telegram, self.rng)] += 1
            elif roll < 0.95:
                self.injected[vk_fault(self.vk, self.rng)] += 1
            elif await self._history_gap():
                self.injected["vk lp 1"] += 1

    async def _history_gap(self) -> bool:
        self.vk_paused = True
        try:
            if not await _within(self.vk_caught_up, GAP_WITHIN):
                return False
            self.vk.lp_fail_next(1)

            async def served() -> bool:
                return self.vk.lp_faults_pending == 0

            # Stay paused until the fault is served: a VK event pushed before it would be skipped.
            await _within(served, GAP_WITHIN)
            return True
        finally:
            self.vk_paused = False


async def _within(probe: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await probe():
            return True
        await asyncio.sleep(0.2)
    return False
