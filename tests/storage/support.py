"""Builders shared by the storage tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.model import (
    ActionKind,
    ChatRef,
    IncomingMessage,
    PlannedAction,
    Platform,
    UserRef,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHAT_ID = -1001234567890  # Telegram supergroup ids do not fit in 32 bits


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def make_message(n: int = 1, *, user_id: int = 42, **changes: Any) -> IncomingMessage:
    """Message number `n` in the test chat."""
    message = IncomingMessage(
        platform=Platform.TELEGRAM,
        event_key=f"tg:{CHAT_ID}:{n}",
        community="Shop chat",
        chat=ChatRef(Platform.TELEGRAM, CHAT_ID),
        message_id=n,
        author=UserRef(Platform.TELEGRAM, user_id, display_name="Анна"),
        text=f"Сколько идёт доставка? #{n}",
        date=T0 + timedelta(seconds=n),
    )
    return replace(message, **changes)


def make_action(
    key: str = "tg:1:reply", kind: ActionKind = ActionKind.REPLY, **changes: Any
) -> PlannedAction:
    """A planned action with a given idempotency key."""
    return replace(PlannedAction(kind=kind, rule_id="delivery", idempotency_key=key), **changes)
