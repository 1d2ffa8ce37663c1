"""VkRunner: the real VkBotLongPoll in its thread against FakeVK, feeding a RecordingIntake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from bot.adapters.sandbox.vk import FakeVK
from bot.adapters.vk.client import VkClient
from bot.adapters.vk.mapping import VkContext
from bot.adapters.vk.runner import GAP_EVENT, MAX_RESUMES, Backoff, VkRunner
from tests.adapters.vk.conftest import GID, make_client
from tests.fakes.vk import InMemoryTsStore, RecordingIntake

FAST_BACKOFF = Backoff(initial=0.05, maximum=0.2, jitter=0)
CTX = VkContext(GID, "Shop VK")


@pytest.fixture
def intake() -> RecordingIntake:
    return RecordingIntake()


@pytest.fixture
def store() -> InMemoryTsStore:
    return InMemoryTsStore()


async def started(client: VkClient, intake: RecordingIntake, store: InMemoryTsStore) -> VkRunner:
    runner = VkRunner(client, intake, store, CTX, wait=1, backoff=FAST_BACKOFF)
    await runner.start()
    # Events pushed before getLongPollServer answered would be before the first ts.
    assert await asyncio.to_thread(runner.connected.wait, 5)
    return runner


@pytest_asyncio.fixture
async def runner(
    client: VkClient, intake: RecordingIntake, store: InMemoryTsStore
) -> AsyncIterator[VkRunner]:
    runner = await started(client, intake, store)
    yield runner
    await runner.stop()
    assert not runner.running


async def faults_served(fake: FakeVK, within: float = 5) -> None:
    """Wait until the poll thread has met every queued fault.

    An event pushed earlier would be answered by the long poll already in flight, before
    any fault is served, and the test would pass without exercising the fault at all.
    """
    async with asyncio.timeout(within):
        while fake.lp_faults_pending:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def has_texts(*texts: str) -> Callable[[RecordingIntake], bool]:
    return lambda intake: all(t in intake.texts() for t in texts)


async def test_runner_delivers_messages_and_saves_ts(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake, store: InMemoryTsStore
) -> None:
    fake.wall_reply_new(12, 503, "first!")
    fake.message_new(501, "hello")
    await intake.wait_for(has_texts("first!", "hello"))
    await intake.wait_for(lambda _: store.saved.get(GID) == str(fake.lp_ts))
    assert [m.community for m in intake.messages] == ["Shop VK", "Shop VK"]


async def test_runner_records_non_message_events(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake
) -> None:
    fake.wall_reply_delete(12, 1105, deleter_id=100)
    reply = {"id": 9, "peer_id": 501, "from_id": -GID, "text": "our answer", "out": 1, "date": 1}
    fake.push_event(
        {"type": "message_reply", "object": reply}
    )  # an echo: neither stored nor audited
    fake.push_event({"type": "group_join", "object": {"user_id": 5, "join_type": "join"}})
    await intake.wait_for(lambda i: len(i.events) == 2)
    assert intake.event_names() == ["vk-wall-reply-delete", "vk-group-join"]
    assert intake.events[0][1]["object"]["id"] == 1105


async def test_runner_ignores_own_comments(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake, client: VkClient
) -> None:
    params = {"owner_id": -GID, "post_id": 12, "from_group": GID, "message": "our answer"}
    assert (await client.call("wall.createComment", params)).ok
    fake.wall_reply_new(12, 503, "after")
    await intake.wait_for(has_texts("after"))
    assert intake.texts() == ["after"]


async def test_runner_survives_expired_key(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake
) -> None:
    fake.expire_key()
    # The poll in flight holds the old key; its successor is told failed=2 and fetches a new
    # key. Pushing the event earlier would let the poll in flight answer it past the fault.
    async with asyncio.timeout(5):
        while len(fake.calls_to("groups.getLongPollServer")) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    fake.wall_reply_new(12, 503, "kept")
    await intake.wait_for(has_texts("kept"))
    assert GAP_EVENT not in intake.event_names()


async def test_runner_keeps_its_ts_through_failed_3(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake
) -> None:
    # The loss this prevents (an event between the old and the fresh ts) is shown end to end
    # in tests/e2e/test_vk_done.py, where the service's backoff leaves room to place it.
    fake.lp_fail_next(3)
    await faults_served(fake)
    fake.wall_reply_new(12, 503, "after the new key")
    await intake.wait_for(has_texts("after the new key"))
    assert GAP_EVENT not in intake.event_names()


async def test_runner_keeps_its_ts_through_two_failed_3_in_a_row(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake
) -> None:
    # Found by the chaos soak: faults queued while the service was down met the restarted
    # process back to back, and taking the fresh ts on the second one skipped 200 events.
    fake.lp_fail_next(3, times=2)
    await faults_served(fake)
    fake.wall_reply_new(12, 503, "kept")
    await intake.wait_for(has_texts("kept"))  # the poll thread is past both faults by now
    assert GAP_EVENT not in intake.event_names()


async def test_runner_keeps_its_ts_through_failed_3_between_transport_errors(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake
) -> None:
    # Also from the soak: faults queued during a restart alternate; an error answer is not
    # another failed=3, so it must not count towards giving up on the old ts.
    for _ in range(MAX_RESUMES + 1):
        fake.lp_fail_next(3)
        fake.lp_fail_next("html")
    await faults_served(fake, within=20)
    fake.wall_reply_new(12, 503, "kept")
    await intake.wait_for(has_texts("kept"), within=20)
    assert GAP_EVENT not in intake.event_names()


async def test_runner_records_gap_on_endless_failed_3(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake
) -> None:
    fake.lp_fail_next(3, times=MAX_RESUMES + 1)  # the old ts never works: take the fresh one
    await intake.wait_for(lambda i: GAP_EVENT in i.event_names())
    assert "failed=3" in intake.events[0][1]["reason"]
    fake.wall_reply_new(12, 503, "after the gap")
    await intake.wait_for(has_texts("after the gap"))


async def test_runner_records_gap_on_lost_history(
    fake: FakeVK, client: VkClient, intake: RecordingIntake
) -> None:
    store = InMemoryTsStore({GID: "1"})
    fake.wall_reply_new(12, 503, "old")
    fake.lose_history()
    runner = await started(client, intake, store)
    try:
        await intake.wait_for(lambda i: GAP_EVENT in i.event_names())
        assert "failed=1" in intake.events[0][1]["reason"]
        assert intake.texts() == []
    finally:
        await runner.stop()


@pytest.mark.parametrize("fault", ["http502", "html", "drop"])
async def test_runner_survives_transport_faults_without_loss(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake, fault: str
) -> None:
    fake.lp_fail_next(fault, times=3)
    # Push the event once the first fault is served, so that the later ones meet it pending
    # (pushed earlier, the poll in flight would answer it before any fault).
    async with asyncio.timeout(5):
        while fake.lp_faults_pending > 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    fake.wall_reply_new(12, 503, "still here")
    await intake.wait_for(has_texts("still here"))
    assert intake.event_names() == []


async def test_runner_survives_api_errors_on_connect(
    fake: FakeVK, client: VkClient, intake: RecordingIntake, store: InMemoryTsStore
) -> None:
    fake.fail_next("groups.getLongPollServer", code=10, times=1)
    fake.fail_next("groups.getLongPollServer", drop=True)
    runner = await started(client, intake, store)
    try:
        fake.message_new(501, "connected at last")
        await intake.wait_for(has_texts("connected at last"))
    finally:
        await runner.stop()


async def test_runner_retries_batch_when_storing_fails(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake, store: InMemoryTsStore
) -> None:
    intake.fail_next_receive = 1
    fake.wall_reply_new(12, 503, "not lost")
    await intake.wait_for(has_texts("not lost"))
    assert intake.texts() == ["not lost"]


async def test_runner_resumes_from_stored_ts_after_restart(
    fake: FakeVK, client: VkClient, intake: RecordingIntake, store: InMemoryTsStore
) -> None:
    first = await started(client, intake, store)
    fake.wall_reply_new(12, 503, "before")
    await intake.wait_for(has_texts("before"))
    await first.stop()
    fake.wall_reply_new(12, 504, "while down")
    second = await started(make_client(fake), intake, store)
    try:
        await intake.wait_for(has_texts("while down"))
        assert intake.texts() == ["before", "while down"]
    finally:
        await second.stop()


async def test_runner_redelivery_is_dropped_by_event_key(
    fake: FakeVK, client: VkClient, intake: RecordingIntake
) -> None:
    store = InMemoryTsStore()
    first = await started(client, intake, store)
    start_ts = str(fake.lp_ts)
    fake.wall_reply_new(12, 503, "once")
    await intake.wait_for(has_texts("once"))
    await first.stop()
    store.saved[GID] = start_ts  # as if the process died before saving the ts
    second = await started(client, intake, store)
    try:
        await intake.wait_for(lambda i: i.duplicates == 1)
        assert intake.texts() == ["once"]
    finally:
        await second.stop()


async def test_runner_warns_without_user_token(
    fake: FakeVK, intake: RecordingIntake, store: InMemoryTsStore, caplog: pytest.LogCaptureFixture
) -> None:
    runner = await started(make_client(fake, user=False), intake, store)
    await runner.stop()
    assert "no admin user token" in caplog.text
    assert fake.group_token not in caplog.text


async def test_runner_reconnects_after_repeated_failures(
    fake: FakeVK, runner: VkRunner, intake: RecordingIntake
) -> None:
    fake.lp_fail_next("drop", times=6)
    await faults_served(fake)
    fake.wall_reply_new(12, 503, "after reconnect")
    await intake.wait_for(has_texts("after reconnect"))
    assert len(fake.calls_to("groups.getLongPollServer")) == 2
    assert GAP_EVENT not in intake.event_names()
