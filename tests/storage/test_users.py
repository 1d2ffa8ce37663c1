"""Authors: counters that never lose an increment, trust, and replies in the last hour."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.core.model import AuthorStats, Platform
from bot.core.ports import OutboxState
from bot.storage.store import SqlStore
from tests.storage.support import T0, FakeClock, make_action, make_message

TG = Platform.TELEGRAM


async def test_users_stats_of_stranger_are_zero(store: SqlStore) -> None:
    async with store.begin() as uow:
        assert await uow.users.stats(TG, "Shop chat", 42, T0) == AuthorStats()


async def test_users_record_message_counts_clean_messages_and_strikes(store: SqlStore) -> None:
    async with store.begin() as uow:
        await uow.inbox.add(make_message(1), T0)
        await uow.users.record_message(TG, "Shop chat", 42, clean=True, strike=False)
        await uow.users.record_message(TG, "Shop chat", 42, clean=True, strike=False)
        after = await uow.users.record_message(TG, "Shop chat", 42, clean=False, strike=True)

    assert (after.clean_messages, after.strikes) == (2, 1)
    async with store.begin() as uow:
        assert await uow.users.stats(TG, "Shop chat", 42, T0) == after
        assert (await uow.users.stats(TG, "Other chat", 42, T0)).strikes == 0


async def test_users_record_message_creates_unknown_author(store: SqlStore) -> None:
    async with store.begin() as uow:
        stats = await uow.users.record_message(TG, "Shop chat", 7, clean=False, strike=True)

    assert stats == AuthorStats(strikes=1)


async def test_users_record_message_is_atomic_across_workers(store: SqlStore) -> None:
    async def strike() -> None:
        async with store.begin() as uow:
            await uow.users.record_message(TG, "Shop chat", 42, clean=False, strike=True)

    await asyncio.gather(*(strike() for _ in range(8)))

    async with store.begin() as uow:
        assert (await uow.users.stats(TG, "Shop chat", 42, T0)).strikes == 8


async def test_users_set_trusted_and_banned(store: SqlStore) -> None:
    async with store.begin() as uow:
        await uow.users.set_trusted(TG, "Shop chat", 42, True)
        await uow.users.set_banned(TG, "Shop chat", 9, True)

    async with store.begin() as uow:
        trusted = await uow.users.stats(TG, "Shop chat", 42, T0)
        banned = await uow.users.stats(TG, "Shop chat", 9, T0)
        await uow.users.set_trusted(TG, "Shop chat", 42, False)
        withdrawn = await uow.users.stats(TG, "Shop chat", 42, T0)

    assert (trusted.is_trusted_by_moderator, trusted.is_banned) == (True, False)
    assert (banned.is_trusted_by_moderator, banned.is_banned) == (False, True)
    assert withdrawn.is_trusted_by_moderator is False


async def test_users_stats_count_replies_in_last_hour(store: SqlStore, clock: FakeClock) -> None:
    async with store.begin() as uow:
        inbox_id = await uow.inbox.add(make_message(1), T0)
        assert inbox_id is not None
        await uow.outbox.add(inbox_id, make_action("r1"), OutboxState.DONE)
        clock.advance(minutes=40)
        await uow.outbox.add(inbox_id, make_action("r2"), OutboxState.PENDING)
        await uow.outbox.add(inbox_id, make_action("r3"), OutboxState.SKIPPED)
        await uow.users.record_message(TG, "Shop chat", 42, clean=True, strike=False)

    async with store.begin() as uow:
        now = await uow.users.stats(TG, "Shop chat", 42, T0 + timedelta(minutes=40))
        later = await uow.users.stats(TG, "Shop chat", 42, T0 + timedelta(minutes=70))
        trust_only = await uow.users.stats(TG, "Shop chat", 42, T0, replies=False)
    assert (now.replies_last_hour, later.replies_last_hour) == (2, 1)
    assert (trust_only.replies_last_hour, trust_only.clean_messages) == (0, 1)
