"""Two workers on one database share the work and never do anything twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.storage import tables
from bot.storage.store import create_store
from tests.core.test_pipeline import QUESTION, RULES, SPAM, build_rig
from tests.db import store_url  # noqa: F401 - the two-backend fixture
from tests.fakes.ports import FakeClock


async def test_two_workers_decide_and_act_once_each(store_url: str) -> None:  # noqa: F811
    clock = FakeClock()
    first_store = await create_store(store_url, clock=clock)
    second_store = await create_store(store_url, migrate=False, clock=clock)
    first = build_rig(first_store, clock, [RULES])
    second = build_rig(second_store, clock, [RULES])
    try:
        for n in range(12):
            text = SPAM if n % 3 == 0 else f"{QUESTION} ({n})"
            await first.pipeline.receive(first.message(text, author=100 + n))
        await asyncio.gather(first.pipeline.drain(), second.pipeline.drain())
        async with first_store.begin() as uow:
            decided = await uow.session.scalar(
                select(func.count(func.distinct(tables.DecisionRow.inbox_id)))
            )
            decisions = await uow.session.scalar(
                select(func.count()).select_from(tables.DecisionRow)
            )
            planned = await uow.session.scalar(select(func.count()).select_from(tables.OutboxRow))
    finally:
        await first_store.close()
        await second_store.close()
    assert decided == decisions == 12
    performed = first.actions.calls + second.actions.calls
    keys = [action.idempotency_key for _, action, _ in performed]
    assert len(keys) == len(set(keys)) == planned
