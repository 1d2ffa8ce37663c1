"""Recording fakes for the VK adapter tests: the intake, the ts store and the alert sink."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.core.model import IncomingMessage


class RecordingIntake:
    """An `Intake` that keeps what it receives and drops duplicate event keys, like the inbox."""

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.duplicates = 0
        self.fail_next_receive = 0  # raise on the next n receive() calls (a database outage)
        self._keys: set[str] = set()
        self.changed = asyncio.Condition()

    async def receive(self, message: IncomingMessage) -> int | None:
        if self.fail_next_receive:
            self.fail_next_receive -= 1
            raise RuntimeError("inbox unavailable")
        if message.event_key in self._keys:
            self.duplicates += 1
            await self._notify()
            return None
        self._keys.add(message.event_key)
        self.messages.append(message)
        await self._notify()
        return len(self.messages)

    async def record_event(self, event: str, detail: dict[str, Any]) -> None:
        self.events.append((event, detail))
        await self._notify()

    def texts(self) -> list[str]:
        return [message.text for message in self.messages]

    def event_names(self) -> list[str]:
        return [name for name, _ in self.events]

    async def wait_for(self, predicate: Any, within: float = 5.0) -> None:
        """Wait until predicate(self) is true."""
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: predicate(self))

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


class InMemoryTsStore:
    """A `TsStore` in a dict, recording every save."""

    def __init__(self, saved: dict[int, str] | None = None) -> None:
        self.saved: dict[int, str] = dict(saved or {})
        self.saves: list[tuple[int, str]] = []

    async def load_ts(self, group_id: int) -> str | None:
        return self.saved.get(group_id)

    async def save_ts(self, group_id: int, ts: str) -> None:
        self.saved[group_id] = ts
        self.saves.append((group_id, ts))


class RecordingAlerts:
    """An `AlertSink` that keeps the alerts raised by the VK client."""

    def __init__(self) -> None:
        self.alerts: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, event: str, detail: dict[str, Any]) -> None:
        self.alerts.append((event, detail))

    def names(self) -> list[str]:
        return [name for name, _ in self.alerts]
