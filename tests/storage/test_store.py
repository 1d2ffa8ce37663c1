"""The unit of work: commit on success, roll back on error; the small repositories."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.core.model import Decision, Label, Score, Verdict
from bot.core.ports import AuditEntry
from bot.storage.store import SqlStore, create_store
from bot.storage.tables import DecisionRow, FeedbackRow
from tests.storage.support import T0, FakeClock, make_message


class Boom(Exception):
    pass


async def test_store_rolls_back_on_exception(store: SqlStore) -> None:
    with pytest.raises(Boom):
        async with store.begin() as uow:
            await uow.inbox.add(make_message(1), T0)
            await uow.kv.set("vk:ts", "100")
            raise Boom

    async with store.begin() as uow:
        assert await uow.inbox.count() == 0
        assert await uow.kv.get("vk:ts") is None
        assert await uow.inbox.add(make_message(1), T0) is not None


async def test_store_commits_on_clean_exit(store: SqlStore, store_url: str) -> None:
    async with store.begin() as uow:
        await uow.inbox.add(make_message(1), T0)

    other_process = await create_store(store_url, migrate=False)
    try:
        async with other_process.begin() as uow:
            assert await uow.inbox.count() == 1
    finally:
        await other_process.close()


async def test_kv_get_set_replaces_value(store: SqlStore) -> None:
    async with store.begin() as uow:
        assert await uow.kv.get("vk:ts") is None
        await uow.kv.set("vk:ts", "100")
        await uow.kv.set("vk:ts", "101")
        await uow.kv.set("other", "x")

    async with store.begin() as uow:
        assert (await uow.kv.get("vk:ts"), await uow.kv.get("other")) == ("101", "x")


async def test_audit_record_and_recent(store: SqlStore, clock: FakeClock) -> None:
    async with store.begin() as uow:
        await uow.audit.record(AuditEntry("rules-loaded", {"version": 1}), T0)
        entry = AuditEntry("action-done", {"kind": "reply", "текст": "да"}, inbox_id=5)
        await uow.audit.record(entry, T0 + timedelta(seconds=1))

    async with store.begin() as uow:
        newest, oldest = await uow.audit.recent(10)
        assert len(await uow.audit.recent(1)) == 1

    assert (newest.entry, newest.at) == (entry, T0 + timedelta(seconds=1))
    assert (oldest.entry.event, oldest.entry.actor, oldest.entry.inbox_id) == (
        "rules-loaded",
        "bot",
        None,
    )


async def test_decisions_and_feedback_add(store: SqlStore) -> None:
    verdict = Verdict(scores=(Score("e5", Label.NEGATIVE, 0.8),))
    decision = Decision("negative", (Label.NEGATIVE,), (), "angry", dry_run=True, strike=False)
    async with store.begin() as uow:
        inbox_id = await uow.inbox.add(make_message(1), T0)
        assert inbox_id is not None
        decision_id = await uow.decisions.add(inbox_id, decision, verdict)
        await uow.feedback.add(inbox_id, Label.QUESTION, 1001, T0)

    async with store.begin() as uow:
        row = (await uow.session.execute(select(DecisionRow))).scalar_one()
        label = (await uow.session.execute(select(FeedbackRow.label))).scalar_one()

    assert (row.id, row.inbox_id, row.labels, row.dry_run) == (
        decision_id,
        inbox_id,
        ["negative"],
        True,
    )
    assert row.scores["combined"]["negative"] == 0.8 and row.created_at == T0
    assert label == "question"
