"""End to end: FakeVK long poll → VkRunner → Pipeline (SQLite, real classifier) → VkActions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.adapters.sandbox.vk import FakeVK
from bot.adapters.vk.actions import VkActions
from bot.adapters.vk.client import VkClient
from bot.adapters.vk.mapping import VkContext
from bot.adapters.vk.runner import Backoff, VkRunner
from bot.app import make_classifier_factory
from bot.core.pipeline import Pipeline, SystemClock
from bot.rules_file import parse_rules
from bot.scoring import CascadeScoring
from bot.settings import ClassifierSettings
from bot.storage.store import SqlStore, create_store
from tests.adapters.vk.conftest import GID, make_client
from tests.db import sqlite_url
from tests.fakes.vk import InMemoryTsStore

RULES = parse_rules(
    f"""
version: 1
language: ru
communities:
  - {{name: shop, vk: {{group_id: {GID}}}, private_messages: true}}
moderators: {{telegram_chat_id: -999}}
spam: {{threshold: 0.85, strikes: {{ban_after: 2}}}}
negative: {{threshold: 0.5}}
questions:
  threshold: 0.5
  answers:
    - id: delivery-time
      keywords: [доставк, delivery]
      reply: "Доставка занимает 2–5 дней."
limits: {{replies_per_user_per_hour: 5}}
"""
)
SPAM = "Заработок в интернете от 5000 в день без вложений, пишите в лс!!!"
QUESTION = "Подскажите, сколько идёт доставка в Казань?"


@dataclass
class VkRig:
    fake: FakeVK
    store: SqlStore
    scoring: CascadeScoring
    pipeline: Pipeline
    runner: VkRunner
    ts_store: InMemoryTsStore

    async def close(self) -> None:
        await self.runner.stop()
        self.scoring.close()
        await self.store.close()

    async def until(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Drain the pipeline until the condition holds (the runner feeds it from its thread)."""
        async with asyncio.timeout(within):
            while not condition():
                await self.pipeline.drain()
                await asyncio.sleep(0.05)


async def build(fake: FakeVK, client: VkClient, tmp_path: Path) -> VkRig:
    clock = SystemClock()
    store = await create_store(sqlite_url(tmp_path), clock=clock)
    scoring = CascadeScoring(lambda: RULES, make_classifier_factory(ClassifierSettings()))
    actions = VkActions(client, GID)
    pipeline = Pipeline(store, scoring, actions, lambda: RULES, clock)
    ctx = VkContext(GID, "shop")
    ts_store = InMemoryTsStore()
    runner = VkRunner(client, pipeline, ts_store, ctx, wait=1, backoff=Backoff(0.05))
    await runner.start()
    assert await asyncio.to_thread(runner.connected.wait, 5)
    return VkRig(fake, store, scoring, pipeline, runner, ts_store)


@pytest.fixture
async def rig(fake: FakeVK, client: VkClient, tmp_path: Path) -> AsyncIterator[VkRig]:
    rig = await build(fake, client, tmp_path)
    yield rig
    await rig.close()


async def test_e2e_spam_comment_deleted_with_user_token(rig: VkRig) -> None:
    event = rig.fake.wall_reply_new(12, 503, SPAM)
    comment_id = event["object"]["id"]
    await rig.until(lambda: ("wall", -GID, comment_id) in rig.fake.deleted_comments)
    assert rig.fake.calls_to("wall.deleteComment")[0].token_type == "user"
    assert rig.fake.posted_comments == []


async def test_e2e_question_answered_once_and_own_reply_ignored(rig: VkRig) -> None:
    event = rig.fake.wall_reply_new(12, 503, QUESTION)
    await rig.until(lambda: len(rig.fake.posted_comments) == 1)
    [posted] = rig.fake.posted_comments
    assert posted["from_id"] == -GID and posted["reply_to_comment"] == event["object"]["id"]
    assert "2–5" in posted["text"]
    # our reply comes back through the long poll; it must not be answered or moderated
    rig.fake.wall_reply_new(12, 504, "спасибо")
    await rig.until(lambda: rig.ts_store.saved.get(GID) == str(rig.fake.lp_ts))
    await rig.pipeline.drain()
    assert len(rig.fake.posted_comments) == 1
    assert rig.fake.calls_to("wall.deleteComment") == []


async def test_e2e_private_question_answered_by_message(rig: VkRig) -> None:
    rig.fake.message_new(501, QUESTION)
    await rig.until(lambda: len(rig.fake.sent_messages) == 1)
    [sent] = rig.fake.sent_messages.values()
    assert sent["peer_id"] == 501 and "2–5" in sent["text"]


async def test_e2e_delete_without_user_token_is_escalated(fake: FakeVK, tmp_path: Path) -> None:
    rig = await build(fake, make_client(fake, user=False), tmp_path)
    try:
        event = fake.wall_reply_new(12, 503, SPAM)
        inbox_ids: list[int] = []

        async def escalated() -> bool:
            async with rig.store.begin() as uow:
                for inbox_id in range(1, 5):
                    if await uow.escalations.for_inbox(inbox_id) is not None:
                        inbox_ids.append(inbox_id)
                        return True
            return False

        async with asyncio.timeout(10):
            while not await escalated():
                await rig.pipeline.drain()
                await asyncio.sleep(0.05)
        assert fake.calls_to("wall.deleteComment") == []
        assert ("wall", -GID, event["object"]["id"]) not in fake.deleted_comments
    finally:
        await rig.close()
