"""Hostile input never crashes a mapper or the pipeline, and what is stored is audited."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.telegram.mapping import MappingContext
from bot.adapters.telegram.mapping import to_incoming as telegram_to_incoming
from bot.adapters.vk.mapping import VkContext
from bot.adapters.vk.mapping import to_incoming as vk_to_incoming
from bot.storage.migrate import upgrade
from bot.storage.store import create_store
from tests.core.test_pipeline import RULES, build_rig
from tests.fakes.ports import FakeClock

DATA = Path(__file__).parent / "data"
TELEGRAM_CTX = MappingContext(bot_id=7000000001, communities={-1001234567890: "Shop chat"})
VK_CTX = VkContext(group_id=77, community="Shop VK")
HOSTILE = [
    "x" * 120_000,
    "bad \ud800 lone surrogate",
    "\udfff",
    "zero\u200bwidth\u200d\ufeffjoiners",
    "right-to-left \u202eoverride\u202c txt.exe",
    "🔥🔥🔥💰💰💰🚀🚀🚀",
    "",
    " \n\t ",
    "\x00\x01\x02 control",
    "Ｆｕｌｌｗｉｄｔｈ ｓｐａｍ",
]
hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


def payload(folder: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / folder / f"{name}.json").read_text(encoding="utf-8"))
    return data


@settings(max_examples=60, deadline=None)
@given(
    text=hostile_text,
    name=st.sampled_from(
        ["group_message_with_link", "photo_with_caption", "channel_comment", "private_message"]
    ),
)
def test_telegram_mapper_survives_hostile_text(text: str, name: str) -> None:
    raw = payload("telegram", name)
    message = raw["message"]
    message["caption" if "caption" in message else "text"] = text
    mapped = telegram_to_incoming(Update.model_validate(raw), TELEGRAM_CTX)
    assert mapped is None or mapped.text == text


def test_telegram_mapper_maps_media_without_text_and_deep_forwards() -> None:
    raw = payload("telegram", "photo_with_caption")
    del raw["message"]["caption"]
    forwarded = copy.deepcopy(raw["message"])
    raw["message"]["reply_to_message"] = {**forwarded, "reply_to_message": forwarded}
    mapped = telegram_to_incoming(Update.model_validate(raw), TELEGRAM_CTX)
    assert mapped is None or mapped.text == ""


def test_telegram_mapper_ignores_unknown_update_kinds() -> None:
    update = Update.model_validate({"update_id": 1, "some_future_kind": {"x": 1}})
    assert telegram_to_incoming(update, TELEGRAM_CTX) is None


@settings(max_examples=200, deadline=None)
@given(
    event=st.dictionaries(
        st.sampled_from(["type", "object", "group_id", "event_id", "v"]), json_value, max_size=5
    )
)
def test_vk_mapper_fails_only_in_ways_the_runner_audits(event: dict[str, Any]) -> None:
    # The runner catches KeyError, TypeError and ValueError and records "vk-event-unmapped".
    with contextlib.suppress(KeyError, TypeError, ValueError):
        vk_to_incoming(event, VK_CTX)


@settings(max_examples=60, deadline=None)
@given(
    text=hostile_text,
    field=st.sampled_from(["text", "from_id", "post_id", "attachments"]),
    junk=json_value,
)
def test_vk_mapper_survives_wrongly_typed_fields(text: str, field: str, junk: Any) -> None:
    event = payload("vk", "wall_reply_new")
    event["object"]["text"] = text
    event["object"][field] = junk
    with contextlib.suppress(KeyError, TypeError, ValueError):
        vk_to_incoming(event, VK_CTX)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('hostile') / 'smmbot.db'}"
    asyncio.run(upgrade(url))
    return url


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=hostile_text)
def test_pipeline_stores_decides_and_audits_hostile_text(migrated: str, text: str) -> None:
    inbox_id = asyncio.run(_through_pipeline(migrated, text))
    path = migrated.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        processed = db.execute(
            "select processed_at from inbox where id = ?", (inbox_id,)
        ).fetchone()
        events = {
            row[0] for row in db.execute("select event from audit where inbox_id = ?", (inbox_id,))
        }
    assert processed[0] is not None
    assert {"message-received", "decision"} <= events
    if "\ud800" in text or "\udfff" in text:
        assert "message-sanitized" in events


async def _through_pipeline(url: str, text: str) -> int:
    clock = FakeClock()
    store = await create_store(url, migrate=False, clock=clock)
    try:
        rig = build_rig(store, clock, [RULES])
        rig.counter = await _next_counter(store)
        inbox_id = await rig.pipeline.receive(rig.message(text, author=77))
        assert inbox_id is not None
        await rig.pipeline.drain()
        return inbox_id
    finally:
        await store.close()


async def _next_counter(store: Any) -> int:
    async with store.begin() as uow:
        return int(await uow.inbox.count()) + 1
