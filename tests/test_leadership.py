"""Platform leases: one poller per connection, taken over when its holder stops renewing."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest

from bot.leadership import Leases, WorkerIdInUse, lead
from bot.storage.store import create_store
from tests.db import store_url  # noqa: F401 - the two-backend fixture
from tests.fakes.ports import FakeClock


async def test_one_worker_holds_a_lease_until_it_lapses(store_url: str) -> None:  # noqa: F811
    clock = FakeClock()
    first_store = await create_store(store_url, clock=clock)
    second_store = await create_store(store_url, migrate=False, clock=clock)
    try:
        first = Leases(first_store, "host-a:main", clock)
        second = Leases(second_store, "host-b:main", clock)
        assert await first.try_take("telegram:1")
        assert not await second.try_take("telegram:1")
        assert await second.try_take("vk:77")  # leases are per connection
        clock.advance(seconds=20)
        assert await first.try_take("telegram:1")  # renewed in time
        clock.advance(seconds=31)  # the first worker died: no renewal for longer than the ttl
        assert await second.try_take("telegram:1")
        assert not await first.try_take("telegram:1")
    finally:
        await first_store.close()
        await second_store.close()


async def test_a_worker_that_loses_its_lease_stops(store_url: str) -> None:  # noqa: F811
    clock = FakeClock()
    store = await create_store(store_url, clock=clock)
    try:
        mine, theirs = Leases(store, "a", clock), Leases(store, "b", clock)
        started: list[str] = []
        stop = asyncio.Event()

        async def start() -> None:
            started.append("telegram:1")

        await lead(mine, "telegram:1", start, stop)
        assert started == ["telegram:1"]
        clock.advance(seconds=31)
        assert await theirs.try_take("telegram:1")
        mine.ttl = mine.ttl / 300  # renew at once instead of every ten seconds
        await asyncio.wait_for(mine.keep(stop), 5)
        assert stop.is_set()
    finally:
        await store.close()


async def test_a_worker_id_belongs_to_one_live_process(store_url: str) -> None:  # noqa: F811
    clock = FakeClock()
    store = await create_store(store_url, clock=clock)
    host = socket.gethostname()
    try:
        running = Leases(store, "shop:main", clock, process=f"{os.getppid()}@{host}")
        await running.register()
        second = Leases(store, "shop:main", clock)  # a second `smmbot run` on the same host
        with pytest.raises(WorkerIdInUse, match="shop:main"):
            await second.register()
        await Leases(store, "shop:other", clock).register()  # its own id: fine
    finally:
        await store.close()


async def test_a_restart_takes_the_worker_id_of_its_crashed_predecessor(
    store_url: str,  # noqa: F811
) -> None:
    clock = FakeClock()
    store = await create_store(store_url, clock=clock)
    host = socket.gethostname()
    exited = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await exited.wait()
    try:
        await Leases(store, "shop:main", clock, process=f"{exited.pid}@{host}").register()
        # The restarted process (alive: our parent stands in for it) takes over at once.
        await Leases(store, "shop:main", clock, process=f"{os.getppid()}@{host}").register()
        elsewhere = Leases(store, "shop:main", clock, process="1@another-host")
        with pytest.raises(WorkerIdInUse):
            await elsewhere.register()
        clock.advance(seconds=31)  # the holder stopped renewing: it is gone
        await elsewhere.register()
    finally:
        await store.close()


async def test_a_worker_whose_id_was_taken_over_stops(store_url: str) -> None:  # noqa: F811
    clock = FakeClock()
    store = await create_store(store_url, clock=clock)
    try:
        frozen = Leases(
            store, "shop:main", clock, process=f"{os.getppid()}@{socket.gethostname()}"
        )
        await frozen.register()
        clock.advance(seconds=31)  # it stopped renewing (a long pause), and a successor started
        await Leases(store, "shop:main", clock, process="1@another-host").register()
        stop = asyncio.Event()
        frozen.ttl = frozen.ttl / 300  # renew at once instead of every ten seconds
        await asyncio.wait_for(frozen.keep(stop), 5)
        assert stop.is_set()
    finally:
        await store.close()
