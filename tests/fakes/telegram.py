"""Telegram test helpers: ids, a Bot wired to FakeTelegram, recording fakes of the core ports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.utils.backoff import BackoffConfig

from bot.adapters.sandbox.telegram import FakeTelegram, make_user
from bot.adapters.telegram.client import Limits
from bot.core.model import IncomingMessage
from bot.core.ports import (
    EscalationCard,
    EscalationRecord,
    EscalationStatus,
    ModeratorAct,
    ModeratorActResult,
)
from classifiers.contract import Label, Score, Verdict

GROUP = -1001234567890
CHANNEL = -1001111111111
MODS = -1009876543210
OTHER_GROUP = -1005555555555

ALICE = make_user(1001, "Alice", username="alice", language_code="ru")
BOB = make_user(1002, "Bob", last_name="Smith")
MODERATOR = make_user(2001, "Maria", username="maria_mod")
STRANGER = make_user(3001, "Eve")

FAST_BACKOFF = BackoffConfig(min_delay=0.05, max_delay=0.2, factor=1.5, jitter=0.01)
FAST_LIMITS = Limits(
    global_per_second=1000,
    chat_per_second=1000,
    chat_burst=1000,
    group_per_minute=60000,
    backoff_base=0.05,
    max_total_wait=3,
)


def make_bot(fake: FakeTelegram, timeout: float = 5) -> Bot:
    """A real aiogram Bot whose requests go to the emulator."""
    api = TelegramAPIServer.from_base(fake.base_url)
    return Bot(fake.token, session=AiohttpSession(api=api, timeout=timeout))


@dataclass
class RecordingIntake:
    """An `Intake` that stores what it receives and dedupes by event key, like the inbox."""

    received: list[IncomingMessage] = field(default_factory=list)
    offered: list[IncomingMessage] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_next: int = 0
    gates: dict[str, asyncio.Event] = field(default_factory=dict)  # text → hold until set
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, message: IncomingMessage) -> int | None:
        self.offered.append(message)
        self.changed.set()
        if message.text in self.gates:
            await self.gates[message.text].wait()
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("inbox unavailable")
        if any(m.event_key == message.event_key for m in self.received):
            return None
        self.received.append(message)
        return len(self.received)

    async def record_event(self, event: str, detail: dict[str, Any]) -> None:
        self.events.append((event, detail))
        self.changed.set()

    async def wait_for(self, count: int, within: float = 5.0) -> None:
        await self.wait_until(lambda: len(self.offered) >= count, within)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@dataclass
class RecordingDesk:
    """A `ModeratorDesk` that records acts and answers with a canned result."""

    result: ModeratorActResult = field(
        default_factory=lambda: ModeratorActResult(ok=True, message="Done")
    )
    acts: list[ModeratorAct] = field(default_factory=list)

    error: Exception | None = None

    async def act(self, act: ModeratorAct) -> ModeratorActResult:
        self.acts.append(act)
        if self.error is not None:
            raise self.error
        return self.result


@dataclass
class RecordingCommands:
    """The moderators' chat commands, recording what was asked."""

    asked: list[tuple[str, str]] = field(default_factory=list)

    async def help(self, lang: str) -> str:
        self.asked.append(("help", lang))
        return "help text"

    async def check(self, text: str) -> str:
        self.asked.append(("check", text))
        return f"checked: {text}"

    async def stats(self) -> str:
        self.asked.append(("stats", ""))
        return "stats text"

    async def reload(self) -> str:
        self.asked.append(("reload", ""))
        return "reloaded"


def make_card(
    message: IncomingMessage,
    *,
    token: str = "tok123",
    suggested: str | None = "Доставка занимает 2–5 дней",
    reason: str = "negative review",
) -> EscalationCard:
    """An escalation card as the pipeline would hand it to the moderators' chat."""
    record = EscalationRecord(
        id=1,
        token=token,
        inbox_id=1,
        reason=reason,
        suggested_reply=suggested,
        status=EscalationStatus.OPEN,
        created_at=message.date,
    )
    verdict = Verdict(
        scores=(
            Score("keywords", Label.NEGATIVE, 0.91, details=("stop word: <ужас>",)),
            Score("model", Label.SPAM, 0.12),
        )
    )
    return EscalationCard(escalation=record, message=message, verdict=verdict, reason=reason)
