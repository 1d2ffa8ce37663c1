"""Outbox: planned once per idempotency key, due when its time comes, retried, recovered."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.core.model import ActionKind, Platform
from bot.core.ports import OutboxState
from bot.storage.store import SqlStore, SqlUnitOfWork
from bot.storage.tables import OutboxRow
from tests.storage.support import T0, FakeClock, make_action, make_message


async def _inbox(uow: SqlUnitOfWork, n: int = 1, user_id: int = 42) -> int:
    inbox_id = await uow.inbox.add(make_message(n, user_id=user_id), T0)
    assert inbox_id is not None
    return inbox_id


async def test_outbox_add_ignores_repeated_idempotency_key(store: SqlStore) -> None:
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        first = await uow.outbox.add(inbox_id, make_action("k1"), OutboxState.PENDING)
        again = await uow.outbox.add(inbox_id, make_action("k1", text="x"), OutboxState.PENDING)
        other = await uow.outbox.add(inbox_id, make_action("k2"), OutboxState.PENDING)

    assert first is not None and other is not None and first != other
    assert again is None
    async with store.begin() as uow:
        assert await uow.outbox.add(inbox_id, make_action("k1"), OutboxState.PENDING) is None


async def test_outbox_due_returns_action_and_message(store: SqlStore) -> None:
    action = make_action(
        "k-mute", ActionKind.MUTE, text="No spam", duration=timedelta(hours=1), reason="spam"
    )
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        outbox_id = await uow.outbox.add(inbox_id, action, OutboxState.PENDING)

    async with store.begin() as uow:
        (item,) = await uow.outbox.due(T0, 10)

    assert (item.id, item.inbox_id, item.state, item.attempts) == (
        outbox_id,
        inbox_id,
        OutboxState.PENDING,
        0,
    )
    assert item.action == action
    assert item.message == make_message(1)


async def test_outbox_due_skips_other_states_and_future_retries(store: SqlStore) -> None:
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        now_id = await uow.outbox.add(inbox_id, make_action("now"), OutboxState.PENDING)
        later = await uow.outbox.add(inbox_id, make_action("later"), OutboxState.PENDING)
        await uow.outbox.add(inbox_id, make_action("dry"), OutboxState.SKIPPED)
        assert later is not None
        await uow.outbox.start(later, T0)
        await uow.outbox.finish(
            later, OutboxState.FAILED, T0, error="429", retry_at=T0 + timedelta(seconds=30)
        )

    async with store.begin() as uow:
        assert [i.id for i in await uow.outbox.due(T0, 10)] == [now_id]
        due_later = await uow.outbox.due(T0 + timedelta(seconds=30), 10)

    assert [i.id for i in due_later] == [now_id, later]
    assert due_later[1].attempts == 1 and due_later[1].state is OutboxState.PENDING


async def test_outbox_start_and_finish_track_attempts(store: SqlStore) -> None:
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        outbox_id = await uow.outbox.add(inbox_id, make_action(), OutboxState.PENDING)
        assert outbox_id is not None
        await uow.outbox.start(outbox_id, T0, "w1")

    async with store.begin() as uow:
        (stuck,) = await uow.outbox.interrupted("w1", T0)
        assert (stuck.id, stuck.state, stuck.attempts) == (outbox_id, OutboxState.IN_FLIGHT, 1)
        await uow.outbox.finish(outbox_id, OutboxState.DONE, T0, platform_ref="msg:99")

    async with store.begin() as uow:
        assert await uow.outbox.interrupted("w1", T0 + timedelta(days=1)) == []
        assert await uow.outbox.due(T0, 10) == []
        counts = await uow.outbox.counts_by_state()
    assert counts[OutboxState.DONE] == 1 and sum(counts.values()) == 1


async def test_outbox_interrupted_leaves_a_live_peers_fresh_attempts_alone(
    store: SqlStore,
) -> None:
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        ids = [await uow.outbox.add(inbox_id, make_action(k), OutboxState.PENDING) for k in "abc"]
        mine, peers_old, peers_fresh = ids
        assert mine and peers_old and peers_fresh
        await uow.outbox.start(mine, T0 + timedelta(minutes=5), "me")
        await uow.outbox.start(peers_old, T0, "peer")
        await uow.outbox.start(peers_fresh, T0 + timedelta(minutes=5), "peer")

    async with store.begin() as uow:
        at_my_start = await uow.outbox.interrupted("me", T0 + timedelta(minutes=1))
        stale_only = await uow.outbox.interrupted(None, T0 + timedelta(minutes=1))

    assert [i.id for i in at_my_start] == [mine, peers_old]
    assert [i.id for i in stale_only] == [peers_old]


async def test_outbox_reclaim_never_undoes_a_call_that_finished(store: SqlStore) -> None:
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        finished = await uow.outbox.add(inbox_id, make_action("done"), OutboxState.PENDING)
        stuck = await uow.outbox.add(inbox_id, make_action("stuck"), OutboxState.PENDING)
        assert finished and stuck
        await uow.outbox.start(finished, T0, "peer")
        await uow.outbox.start(stuck, T0, "peer")
        await uow.outbox.finish(finished, OutboxState.DONE, T0)

    async with store.begin() as uow:
        assert not await uow.outbox.reclaim(finished, OutboxState.UNCERTAIN, T0, error="x")
        assert await uow.outbox.reclaim(stuck, OutboxState.PENDING, T0, error=None)
        counts = await uow.outbox.counts_by_state()
        due = await uow.outbox.due(T0, 10)
    assert counts[OutboxState.DONE] == 1 and [i.id for i in due] == [stuck]


async def test_outbox_replies_since_counts_replies_to_author(
    store: SqlStore, clock: FakeClock
) -> None:
    async with store.begin() as uow:
        mine, theirs = await _inbox(uow, 1), await _inbox(uow, 2, user_id=7)
        await uow.outbox.add(mine, make_action("old"), OutboxState.DONE)
        clock.advance(minutes=30)
        await uow.outbox.add(mine, make_action("sent"), OutboxState.DONE)
        await uow.outbox.add(mine, make_action("queued"), OutboxState.PENDING)
        await uow.outbox.add(mine, make_action("dry"), OutboxState.SKIPPED)
        await uow.outbox.add(mine, make_action("gave-up"), OutboxState.FAILED)
        await uow.outbox.add(mine, make_action("del", ActionKind.DELETE), OutboxState.DONE)
        await uow.outbox.add(theirs, make_action("theirs"), OutboxState.DONE)

    async with store.begin() as uow:
        since = T0 + timedelta(minutes=10)
        count = await uow.outbox.replies_since(Platform.TELEGRAM, "Shop chat", 42, since)
        everything = await uow.outbox.replies_since(Platform.TELEGRAM, "Shop chat", 42, T0)
        elsewhere = await uow.outbox.replies_since(Platform.TELEGRAM, "Other", 42, T0)

    assert (count, everything, elsewhere) == (2, 3, 0)


async def test_outbox_due_claims_are_disjoint_between_workers(store: SqlStore) -> None:
    async with store.begin() as uow:
        inbox_id = await _inbox(uow)
        for key in ("a", "b"):
            await uow.outbox.add(inbox_id, make_action(key), OutboxState.PENDING)
    first_claimed = asyncio.Event()

    async def first_worker() -> list[str]:
        async with store.begin() as uow:
            items = await uow.outbox.due(T0, 1)
            first_claimed.set()
            await asyncio.sleep(0.3)
            for item in items:
                await uow.outbox.start(item.id, T0)
            return [i.action.idempotency_key for i in items]

    async def second_worker() -> list[str]:
        await first_claimed.wait()
        async with store.begin() as uow:
            return [i.action.idempotency_key for i in await uow.outbox.due(T0, 1)]

    assert list(await asyncio.gather(first_worker(), second_worker())) == [["a"], ["b"]]


async def test_outbox_finish_keeps_platform_ref_and_last_error(store: SqlStore) -> None:
    async with store.begin() as uow:
        outbox_id = await uow.outbox.add(await _inbox(uow), make_action(), OutboxState.PENDING)
        assert outbox_id is not None
        await uow.outbox.finish(outbox_id, OutboxState.DONE, T0, platform_ref="msg:99")
        await uow.outbox.finish(outbox_id, OutboxState.FAILED, T0, error="400: bad request")

    async with store.begin() as uow:
        query = select(OutboxRow.state, OutboxRow.platform_ref, OutboxRow.last_error)
        row = (await uow.session.execute(query)).one()

    assert tuple(row) == ("failed", "msg:99", "400: bad request")
