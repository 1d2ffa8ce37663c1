"""`smmbot run` as composed by `run_service`, against FakeTelegram and FakeVK, SQLite in tmp_path.

Tests assert on the emulators' recorded wire calls and on the rows the service wrote; the
database file is read with the standard sqlite3 module (in a thread, so the loop serving the
emulators never blocks).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness import Row, query, service_env
from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.sandbox.vk import FakeVK
from bot.service import run_service
from bot.settings import load_settings

GROUP = -1001234567890
CHANNEL = -1001111111111
MODS = -1009876543210
VK_GROUP = 77
WITHIN = 20.0  # seconds: a failure guard only, never a timing assertion

__all__ = ["Row", "query", "service_env"]  # re-exported for the e2e tests


async def eventually(probe: Callable[[], Any], within: float = WITHIN) -> None:
    """Poll a condition on state that offers nothing to wait on (a guard, not a measurement)."""
    async with asyncio.timeout(within):
        while not probe():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@dataclass
class Service:
    """One running `run_service` and the database it writes."""

    db: Path
    task: asyncio.Task[int]
    stop_event: asyncio.Event

    async def stop(self) -> int:
        """Ask for a graceful shutdown and return the exit code."""
        self.stop_event.set()
        return await asyncio.wait_for(self.task, WITHIN)

    async def rows(self, sql: str, *params: Any) -> list[Row]:
        """Query the service's database."""
        return await asyncio.to_thread(query, self.db, sql, params)

    async def until(self, sql: str, check: Callable[[list[Row]], bool], *params: Any) -> None:
        """Wait until the rows of a query satisfy `check`."""
        async with asyncio.timeout(WITHIN):
            while not check(await self.rows(sql, *params)):  # noqa: ASYNC110 - another writer
                await asyncio.sleep(0.05)


@dataclass
class Launcher:
    """Starts services on the emulators of the test and stops what is still running after it."""

    tmp_path: Path
    telegram: FakeTelegram
    vk: FakeVK
    started: list[Service] = field(default_factory=list)

    async def start(
        self, rules: str, *, telegram: bool = True, vk: bool = False, vk_user_token: bool = True
    ) -> Service:
        """Run the service; returns once it polls every platform it was given."""
        env = service_env(
            self.tmp_path,
            rules,
            self.telegram if telegram else None,
            self.vk if vk else None,
            vk_user_token=vk_user_token,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_service(load_settings(env), stop=stop))
        service = Service(self.tmp_path / "service.db", task, stop)
        self.started.append(service)
        await self._ready(service, telegram, vk)
        return service

    async def _ready(self, service: Service, telegram: bool, vk: bool) -> None:
        polls = len(self.telegram.calls_to("getUpdates"))
        servers = len(self.vk.calls_to("groups.getLongPollServer"))
        waits: list[Awaitable[None]] = []
        if telegram:
            waits.append(self.telegram.wait_for_calls("getUpdates", polls + 1, within=WITHIN))
        if vk:
            probe = lambda: len(self.vk.calls_to("groups.getLongPollServer")) > servers  # noqa: E731
            waits.append(eventually(probe))
        done = asyncio.ensure_future(asyncio.gather(*waits))
        await asyncio.wait([done, service.task], return_when=asyncio.FIRST_COMPLETED)
        if service.task.done():
            done.cancel()
            raise AssertionError(f"the service exited early with {service.task.result()}")
        await done

    async def stop_all(self) -> None:
        """Stop every service still running."""
        for service in self.started:
            if not service.task.done():
                with contextlib.suppress(Exception):
                    await service.stop()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram().start()
    fake.add_chat(CHANNEL, "channel", title="Shop channel")
    fake.add_chat(GROUP, title="Shop chat", linked_chat_id=CHANNEL)
    fake.add_chat(MODS, title="Moderators")
    yield fake
    await fake.stop()


@pytest.fixture
async def vk() -> AsyncIterator[FakeVK]:
    fake = FakeVK(group_id=VK_GROUP, max_wait=0.5)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def launch(tmp_path: Path, telegram: FakeTelegram, vk: FakeVK) -> AsyncIterator[Launcher]:
    launcher = Launcher(tmp_path, telegram, vk)
    yield launcher
    await launcher.stop_all()  # before the emulators go away
