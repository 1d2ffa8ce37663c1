"""VkRunner: one community's Bots Long Poll in a dedicated thread, feeding the intake.

Delivery: a batch is stored (`intake.receive` / `intake.record_event`) and only then its `ts` is
saved; after a crash the poll resumes from the saved ts and VK sends the batch again, which the
inbox drops by event key (`vk:{group}:{event_id}`). At-least-once in, duplicates dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from vk_api.bot_longpoll import VkBotLongPoll
from vk_api.exceptions import VkApiError

from bot.adapters.vk.client import VkClient
from bot.adapters.vk.mapping import VkContext, to_incoming
from bot.adapters.vk.session import VkSession
from bot.core.ports import Intake

__all__ = ["Backoff", "TsStore", "VkRunner"]

log = logging.getLogger(__name__)

GAP_EVENT = "vk-longpoll-gap"
# Echoes of the community's own outgoing messages and typing noise: nothing to store or audit.
SILENT_TYPES = frozenset({"message_reply", "message_typing_state", "message_read"})
TRANSIENT = (requests.RequestException, ValueError, VkApiError)
RECONNECT_AFTER = 5  # consecutive failures before asking for a new long-poll server
MAX_RESUMES = 3  # consecutive failed=3 answers to the old ts before taking VK's fresh ts


class TsStore(Protocol):
    """Where the long-poll position of each community survives restarts."""

    async def load_ts(self, group_id: int) -> str | None:
        """The last saved ts, or None on the first run."""
        ...

    async def save_ts(self, group_id: int, ts: str) -> None:
        """Remember the ts after a batch was stored."""
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter for long-poll failures."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.1

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` consecutive failures (≥ 1)."""
        base = min(self.maximum, self.initial * self.factor ** (failures - 1))
        return base * (1 + random.uniform(0, self.jitter))


class _LongPoll(VkBotLongPoll):  # type: ignore[misc]
    """VkBotLongPoll that keeps its ts through `failed: 3` when it can, and notes when not."""

    __slots__ = ("resumes", "took_fresh_ts")

    def update_longpoll_server(self, update_ts: bool = True) -> None:
        old_ts = getattr(self, "ts", None)  # None while the constructor runs
        super().update_longpoll_server(update_ts)
        # Called with update_ts=True only by the constructor and on failed=3.
        self.took_fresh_ts = update_ts
        if not update_ts or old_ts is None:
            return
        self.resumes = getattr(self, "resumes", 0) + 1
        if self.resumes <= MAX_RESUMES:
            # failed=3 hands out a new key and a new ts, and vk_api jumps to that ts, skipping
            # whatever arrived in between. Ask for the old ts with the new key: VK sends those
            # events, or failed=1 with a newer ts if its history is gone (a recorded gap).
            # failed=3 is about the key, not the ts, so two in a row (e.g. queued while the
            # process was down) must not skip ahead; only an endless run of them does.
            self.ts, self.took_fresh_ts = old_ts, False


@dataclass(frozen=True, slots=True)
class _Batch:
    events: list[dict[str, Any]]
    prev_ts: str
    ts: str
    gap: str | None  # why events may have been skipped (failed 1 or 3)


class VkRunner:
    """Polls one community's long poll in a thread and hands events to the intake."""

    def __init__(
        self,
        client: VkClient,
        intake: Intake,
        ts_store: TsStore,
        ctx: VkContext,
        *,
        wait: int = 25,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.intake = intake
        self.ts_store = ts_store
        self.ctx = ctx
        self.wait = wait
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_ts: str | None = None
        self.batches = 0  # batches stored (for health checks and tests)
        self.last_success: float | None = None  # wall time of the last good check (health)
        self.errors = 0  # failed checks since start (metrics)
        self.connected = threading.Event()  # set once the long poll server was obtained

    async def start(self) -> None:
        """Load the saved ts and start the polling thread."""
        if not self.client.has_user_token:
            log.warning(
                "VK community %s has no admin user token: comment deletes and bans will be "
                "escalated to the moderators instead of performed",
                self.ctx.group_id,
            )
        self._start_ts = await self.ts_store.load_ts(self.ctx.group_id)
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        name = f"vk-longpoll-{self.ctx.group_id}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Ask the thread to stop and wait for it (its current check may take `wait` + 10 s)."""
        self._stop.set()
        if self._thread is not None:
            # Joining on the loop would block the batch hand-over the thread may be waiting on.
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    @property
    def running(self) -> bool:
        """True while the polling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # ---- the polling thread ----------------------------------------------------------------

    def _run(self) -> None:
        lp: _LongPoll | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                lp = lp or self._connect()
                self._poll_once(lp)
                failures = 0
            except TRANSIENT as exc:
                failures += 1
                self._pause(failures, exc)
            except Exception as exc:  # last-resort boundary: log and carry on
                failures += 1
                log.exception("VK long poll of %s failed unexpectedly", self.ctx.group_id)
                self._pause(failures, exc)
            if failures and failures % RECONNECT_AFTER == 0:
                lp = None  # the server may be gone; reconnect from the last stored ts
        log.info("VK long poll of %s stopped", self.ctx.group_id)

    def _connect(self) -> _LongPoll:
        # The constructor calls groups.getLongPollServer, hence it runs in this thread.
        lp = _LongPoll(self.client.group_api, self.ctx.group_id, wait=self.wait)
        # vk_api gives the long poll its own plain requests.Session; ours keeps loopback
        # traffic away from environment proxies (check() passes its own timeout).
        lp.session = VkSession(self.client.api_base, timeout=self.wait + 10)
        lp.took_fresh_ts = False
        if self._start_ts:
            lp.ts = self._start_ts  # resume where the last stored batch ended
        else:
            self._start_ts = str(lp.ts)  # a reconnect in this process must not skip ahead
        log.info("VK long poll of %s connected at ts %s", self.ctx.group_id, lp.ts)
        self.connected.set()
        return lp

    def _poll_once(self, lp: _LongPoll) -> None:
        prev_ts, resumes = str(lp.ts), getattr(lp, "resumes", 0)
        try:
            events = [event.raw for event in lp.check()]
        finally:
            if getattr(lp, "resumes", 0) == resumes:
                lp.resumes = 0  # any outcome but failed=3 (even an error) ends a run of them
        self.last_success = time.time()
        ts = str(lp.ts)
        gap = _gap_reason(lp, bool(events), prev_ts, ts)
        lp.took_fresh_ts = False
        if not events and gap is None:
            return
        try:
            self._hand_over(_Batch(events, prev_ts, ts, gap))
        except BaseException:
            lp.ts = prev_ts  # not stored: fetch the same events again
            raise
        self._start_ts = ts

    def _hand_over(self, batch: _Batch) -> None:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._store(batch), self._loop)
        future.result()

    def _pause(self, failures: int, exc: BaseException) -> None:
        self.errors += 1
        delay = self.backoff.delay(failures)
        log.warning(
            "VK long poll of %s: %s; retrying in %.1fs", self.ctx.group_id, _safe(exc), delay
        )
        self._stop.wait(delay)

    # ---- on the event loop -----------------------------------------------------------------

    async def _store(self, batch: _Batch) -> None:
        for raw in batch.events:
            await self._deliver(raw)
        if batch.gap is not None:
            detail = {"group_id": self.ctx.group_id, "reason": batch.gap}
            detail |= {"from_ts": batch.prev_ts, "to_ts": batch.ts}
            await self.intake.record_event(GAP_EVENT, detail)
            log.warning("VK long poll of %s: possible loss (%s)", self.ctx.group_id, batch.gap)
        await self.ts_store.save_ts(self.ctx.group_id, batch.ts)
        self.batches += 1

    async def _deliver(self, raw: Mapping[str, Any]) -> None:
        try:
            message = to_incoming(raw, self.ctx)
        except Exception:  # a mapping bug must cost this event, not stall the long poll
            log.exception("VK event %s could not be mapped", raw.get("event_id"))
            await self.intake.record_event("vk-event-unmapped", _event_detail(raw))
            return
        if message is None and raw.get("type") in SILENT_TYPES:
            return
        if message is None:
            await self.intake.record_event(_event_name(raw), _event_detail(raw))
        elif message.author.is_self:
            # Our own replies come back through the long poll; never moderate or answer them.
            log.debug("VK event %s is the community's own message", raw.get("event_id"))
        else:
            await self.intake.receive(message)


def _gap_reason(lp: _LongPoll, had_events: bool, prev_ts: str, ts: str) -> str | None:
    if lp.took_fresh_ts:
        return "failed=3: fresh key and ts, events in between skipped"
    if not had_events and ts != prev_ts:
        return "failed=1: history out of date, ts moved forward"
    return None


def _event_name(raw: Mapping[str, Any]) -> str:
    return "vk-" + str(raw.get("type", "unknown")).replace("_", "-")


def _event_detail(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "group_id": raw.get("group_id"),
        "type": raw.get("type"),
        "event_id": raw.get("event_id"),
        "object": raw.get("object"),
    }


_SECRETS = re.compile(r"(access_token|key)=[^&\s]+")


def _safe(exc: BaseException) -> str:
    """The exception as text, with tokens and long-poll keys masked (URLs carry the key)."""
    return _SECRETS.sub(r"\1=***", f"{type(exc).__name__}: {exc}")
