"""Inbox: persisted once per platform event, exact round trip, claimed oldest first."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

from sqlalchemy import select

from bot.core.model import (
    AttachmentKind,
    ChatRef,
    Label,
    Platform,
    Score,
    Surface,
    UserRef,
    Verdict,
)
from bot.storage.store import SqlStore
from bot.storage.tables import Community, InboxRow, PlatformUser
from tests.storage.support import CHAT_ID, T0, make_message


async def test_inbox_add_drops_duplicate_event_and_keeps_transaction(store: SqlStore) -> None:
    async with store.begin() as uow:
        first = await uow.inbox.add(make_message(1), T0)
        again = await uow.inbox.add(make_message(1, text="redelivered"), T0)
        other = await uow.inbox.add(make_message(2), T0)

    assert first is not None and other is not None
    assert again is None
    async with store.begin() as uow:
        assert await uow.inbox.count() == 2
        assert (await uow.inbox.get(first)).text == make_message(1).text


async def test_inbox_add_dedupes_across_transactions(store: SqlStore) -> None:
    async with store.begin() as uow:
        assert await uow.inbox.add(make_message(1), T0) is not None
    async with store.begin() as uow:
        assert await uow.inbox.add(make_message(1), T0) is None


async def test_inbox_message_round_trips_exactly(store: SqlStore) -> None:
    message = make_message(
        7,
        platform=Platform.VK,
        chat=ChatRef(Platform.VK, 2_000_000_123),
        author=UserRef(
            Platform.VK, -123456, "Shop", username="shop", is_admin=True, as_channel=True
        ),
        date=T0.astimezone(timezone(timedelta(hours=3))),
        surface=Surface.WALL_COMMENT,
        thread_id=55,
        reply_to=6,
        edited=True,
        links=("https://example.com/a",),
        mentions=("@anna", "@bob"),
        attachments=(AttachmentKind.PHOTO, AttachmentKind.LINK),
        is_forward=True,
        language="ru",
        raw={"object": {"id": 7, "text": "привет"}},
    )
    async with store.begin() as uow:
        inbox_id = await uow.inbox.add(message, T0)
    assert inbox_id is not None

    async with store.begin() as uow:
        loaded = await uow.inbox.get(inbox_id)

    assert loaded == message
    assert loaded.date.utcoffset() == timedelta(hours=3)
    assert loaded.raw == message.raw
    assert isinstance(loaded.attachments, tuple) and loaded.surface is Surface.WALL_COMMENT


async def test_inbox_add_remembers_community_and_author(store: SqlStore) -> None:
    async with store.begin() as uow:
        await uow.inbox.add(make_message(1), T0)
        renamed = make_message(2, author=UserRef(Platform.TELEGRAM, 42, "Анна К."))
        await uow.inbox.add(renamed, T0 + timedelta(minutes=5))

    async with store.begin() as uow:
        user = (await uow.session.execute(select(PlatformUser))).scalar_one()
        community = (await uow.session.execute(select(Community))).scalar_one()

    assert (user.display_name, user.first_seen, user.last_seen) == (
        "Анна К.",
        T0,
        T0 + timedelta(minutes=5),
    )
    assert (community.name, community.chat_id) == ("Shop chat", CHAT_ID)


async def test_inbox_unprocessed_returns_oldest_first(store: SqlStore) -> None:
    async with store.begin() as uow:
        late = await uow.inbox.add(make_message(1), T0 + timedelta(seconds=30))
        early = await uow.inbox.add(make_message(2), T0)
        middle = await uow.inbox.add(make_message(3), T0 + timedelta(seconds=10))

    async with store.begin() as uow:
        assert await uow.inbox.unprocessed(10) == [early, middle, late]
        assert await uow.inbox.unprocessed(2) == [early, middle]


async def test_inbox_mark_processed_stores_verdict_and_error(store: SqlStore) -> None:
    verdict = Verdict(
        scores=(Score("keywords", Label.SPAM, 0.91, ("stop-word: казино",)),),
        thresholds={Label.SPAM: 0.85},
    )
    async with store.begin() as uow:
        ok = await uow.inbox.add(make_message(1), T0)
        failed = await uow.inbox.add(make_message(2), T0)
        pending = await uow.inbox.add(make_message(3), T0)
        assert ok is not None and failed is not None
        await uow.inbox.mark_processed(ok, verdict)
        await uow.inbox.mark_processed(failed, None, error="classifier down")

    async with store.begin() as uow:
        assert await uow.inbox.unprocessed(10) == [pending]
        assert await uow.inbox.count(processed=True) == 2
        rows = {r.id: r for r in (await uow.session.execute(select(InboxRow))).scalars()}

    stored = rows[ok].verdict
    assert stored is not None and stored["combined"]["spam"] == 0.91
    assert rows[ok].processed_at == T0
    assert (rows[failed].verdict, rows[failed].error) == (None, "classifier down")


async def test_inbox_verdict_round_trips(store: SqlStore) -> None:
    verdict = Verdict(
        scores=(
            Score("keywords", Label.SPAM, 0.91, ("stop-word: казино", "link: bit.ly")),
            Score("e5", Label.QUESTION, 0.0, error="timeout"),
        ),
        thresholds={Label.SPAM: 0.85, Label.QUESTION: 0.6},
    )
    async with store.begin() as uow:
        inbox_id = await uow.inbox.add(make_message(1), T0)
        assert inbox_id is not None
        assert await uow.inbox.verdict(inbox_id) is None
        await uow.inbox.mark_processed(inbox_id, verdict)

    async with store.begin() as uow:
        assert await uow.inbox.verdict(inbox_id) == verdict


async def test_inbox_unprocessed_claims_are_disjoint_between_workers(store: SqlStore) -> None:
    async with store.begin() as uow:
        ids = [await uow.inbox.add(make_message(n), T0 + timedelta(seconds=n)) for n in (1, 2)]
    first_claimed = asyncio.Event()

    async def first_worker() -> list[int]:
        async with store.begin() as uow:
            claimed = await uow.inbox.unprocessed(1)
            first_claimed.set()
            await asyncio.sleep(0.3)  # hold the claim while the second worker looks
            for inbox_id in claimed:
                await uow.inbox.mark_processed(inbox_id, None)
            return claimed

    async def second_worker() -> list[int]:
        await first_claimed.wait()
        # PostgreSQL skips the locked row; SQLite waits for the first writer to commit.
        async with store.begin() as uow:
            return await uow.inbox.unprocessed(1)

    first, second = await asyncio.gather(first_worker(), second_worker())

    assert first == [ids[0]]
    assert second == [ids[1]]
