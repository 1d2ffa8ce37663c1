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
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.core.ports import Clock
from bot.storage.store import SqlStore

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(seconds=30)


class Leases:
    """Takes and renews named leases for one worker."""

    def __init__(self, store: SqlStore, owner: str, clock: Clock, ttl: timedelta = DEFAULT_TTL):
        self._store, self.owner, self._clock, self.ttl = store, owner, clock, ttl
        self.held: set[str] = set()

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
        """Renew every held lease until stopped; losing one stops the worker."""
        while not stop.is_set():
            await _sleep_or_stop(stop, self.ttl.total_seconds() / 3)
            for name in sorted(self.held):
                if not stop.is_set() and not await self.try_take(name):
                    log.error("%s was taken over by another worker; stopping", name)
                    stop.set()


async def lead(
    leases: Leases, name: str, start: Callable[[], Awaitable[object]], stop: asyncio.Event
) -> None:
    """Start a platform poller once this worker holds its lease."""
    if await leases.take(name, stop):
        await start()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
