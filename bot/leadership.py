"""One poller per platform connection, however many workers share the database.

Telegram serves one `getUpdates` consumer per token and VK one long poll per community, so each
connection is polled by whichever worker holds its lease in the database. Every worker still
classifies and acts. A lease lapses when its holder stops renewing it (the process died) and
another worker takes over; a worker that finds its lease taken stops, for a supervisor to restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.core.ports import Clock
from bot.storage.store import SqlStore

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(seconds=30)


class WorkerIdInUse(Exception):
    """Another live process runs with this worker id: leases and recovery would be shared."""

    def __init__(self, worker: str, holder: str) -> None:
        super().__init__(f"worker id {worker!r} is in use by process {holder}")
        self.worker, self.holder = worker, holder


class Leases:
    """Takes and renews named leases for one worker."""

    def __init__(
        self,
        store: SqlStore,
        owner: str,
        clock: Clock,
        ttl: timedelta = DEFAULT_TTL,
        process: str | None = None,
    ):
        self._store, self.owner, self._clock, self.ttl = store, owner, clock, ttl
        self.held: set[str] = set()
        # This very process: `pid@host`. Platform leases belong to the worker id (a restarted
        # worker takes them back at once); the worker id itself belongs to one process.
        self.process = process or f"{os.getpid()}@{socket.gethostname()}"

    async def register(self) -> None:
        """Claim the worker id for this process; refuse when a live process already has it.

        A holder on this host whose pid is gone crashed a moment ago: its id is ours to take.
        """
        key = f"worker:{self.owner}"
        expired_before = self._clock.now() - self.ttl
        async with self._store.begin() as uow:
            if await uow.kv.lease(key, self.process, expired_before):
                return
            holder = await uow.kv.get(key) or ""
            if not _crashed_here(holder):
                raise WorkerIdInUse(self.owner, holder)
            await uow.kv.set(key, self.process)

    async def try_take(self, name: str) -> bool:
        """Take (or renew) one lease now."""
        expired_before = self._clock.now() - self.ttl
        async with self._store.begin() as uow:
            taken = await uow.kv.lease(f"lease:{name}", self.owner, expired_before)
        if taken:
            self.held.add(name)
        return taken

    async def take(self, name: str, stop: asyncio.Event) -> bool:
        """Wait until the lease is ours (True) or the worker stops (False)."""
        while not stop.is_set():
            if await self.try_take(name):
                log.info("%s: this worker (%s) polls it", name, self.owner)
                return True
            log.info("%s is polled by another worker; waiting to take over", name)
            await _sleep_or_stop(stop, self.ttl.total_seconds() / 3)
        return False

    async def keep(self, stop: asyncio.Event) -> None:
        """Renew the worker id and every held lease until stopped; losing one stops the worker."""
        while not stop.is_set():
            await _sleep_or_stop(stop, self.ttl.total_seconds() / 3)
            if not stop.is_set() and not await self._renew_registration():
                log.error("worker id %s was taken by another process; stopping", self.owner)
                stop.set()
            for name in sorted(self.held):
                if not stop.is_set() and not await self.try_take(name):
                    log.error("%s was taken over by another worker; stopping", name)
                    stop.set()

    async def _renew_registration(self) -> bool:
        expired_before = self._clock.now() - self.ttl
        async with self._store.begin() as uow:
            return await uow.kv.lease(f"worker:{self.owner}", self.process, expired_before)


def _crashed_here(holder: str) -> bool:
    """True when `pid@host` names this host and no such process is alive."""
    pid, _, host = holder.partition("@")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True  # a predecessor in a container, where every start gets the same pid
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


async def lead(
    leases: Leases, name: str, start: Callable[[], Awaitable[object]], stop: asyncio.Event
) -> None:
    """Start a platform poller once this worker holds its lease."""
    if await leases.take(name, stop):
        await start()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
