"""Escalations: one per message, resolved once, reminded when they wait."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from bot.core.ports import EscalationStatus
from bot.storage.store import SqlStore, SqlUnitOfWork
from tests.storage.support import T0, make_message


async def _inbox(uow: SqlUnitOfWork, n: int = 1) -> int:
    inbox_id = await uow.inbox.add(make_message(n), T0)
    assert inbox_id is not None
    return inbox_id


async def test_escalations_open_is_idempotent_per_message(store: SqlStore) -> None:
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        first = await uow.escalations.open(inbox_id, "negative", "Sorry!", T0)
    async with store.begin() as uow:
        again = await uow.escalations.open(inbox_id, "other reason", None, T0 + timedelta(1))

    assert again == first
    assert (first.status, first.reason, first.suggested_reply, first.created_at) == (
        EscalationStatus.OPEN,
        "negative",
        "Sorry!",
        T0,
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", first.token)  # 12 random bytes, URL-safe


async def test_escalations_find_by_token_and_inbox(store: SqlStore) -> None:
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        opened = await uow.escalations.open(inbox_id, "question", None, T0)
        await uow.escalations.set_card(opened.id, -1009876543210, 77)

    async with store.begin() as uow:
        by_token = await uow.escalations.by_token(opened.token)
        assert await uow.escalations.for_inbox(inbox_id) == by_token
        assert await uow.escalations.by_token("nope") is None
        assert await uow.escalations.for_inbox(inbox_id + 1) is None

    assert by_token is not None
    assert (by_token.card_chat_id, by_token.card_message_id) == (-1009876543210, 77)


async def test_escalations_resolve_only_once(store: SqlStore) -> None:
    async with store.begin() as uow:
        opened = await uow.escalations.open(await _inbox(uow), "negative", None, T0)
        assert await uow.escalations.open_count() == 1

    async with store.begin() as uow:
        assert await uow.escalations.resolve(opened.id, "replied", 1001, T0) is True
        assert await uow.escalations.resolve(opened.id, "ignored", 1002, T0) is False
        resolved = await uow.escalations.for_inbox(opened.inbox_id)
        assert await uow.escalations.open_count() == 0

    assert resolved is not None
    assert (resolved.status, resolved.resolution, resolved.resolved_by) == (
        EscalationStatus.RESOLVED,
        "replied",
        1001,
    )
    assert resolved.resolved_at == T0


async def test_escalations_resolve_once_when_moderators_tap_together(store: SqlStore) -> None:
    async with store.begin() as uow:
        opened = await uow.escalations.open(await _inbox(uow), "negative", None, T0)

    async def tap(moderator_id: int) -> bool:
        async with store.begin() as uow:
            return await uow.escalations.resolve(opened.id, "replied", moderator_id, T0)

    results = await asyncio.gather(*(tap(m) for m in (1, 2, 3)))

    assert sorted(results) == [False, False, True]


async def test_escalations_waiting_uses_last_reminder(store: SqlStore) -> None:
    async with store.begin() as uow:
        old = await uow.escalations.open(await _inbox(uow, 1), "a", None, T0)
        new = await uow.escalations.open(
            await _inbox(uow, 2), "b", None, T0 + timedelta(minutes=20)
        )
        done = await uow.escalations.open(await _inbox(uow, 3), "c", None, T0)
        await uow.escalations.resolve(done.id, "ignored", 1, T0)

    cutoff = T0 + timedelta(minutes=30)
    async with store.begin() as uow:
        assert [e.id for e in await uow.escalations.waiting(cutoff)] == [old.id, new.id]
        assert [e.id for e in await uow.escalations.waiting(T0 + timedelta(minutes=10))] == [
            old.id
        ]
        await uow.escalations.reminded(old.id, cutoff)

    async with store.begin() as uow:
        assert [e.id for e in await uow.escalations.waiting(cutoff)] == [new.id]
        reminded = await uow.escalations.by_token(old.token)
        later = await uow.escalations.waiting(cutoff + timedelta(seconds=1))

    assert reminded is not None and reminded.reminded_at == cutoff
    assert [e.id for e in later] == [old.id, new.id]
