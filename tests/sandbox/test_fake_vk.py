"""FakeVK driven by the real vk_api (VkApiGroup, VkApi, VkBotLongPoll) over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import jconfig
import pytest
import pytest_asyncio
import requests
import vk_api
from vk_api.bot_longpoll import VkBotLongPoll

from bot.adapters.sandbox.vk import FakeVK
from bot.adapters.vk.session import VkSession

GID = 77


def make_api(
    fake: FakeVK, token: str, cls: type[vk_api.VkApi] = vk_api.VkApiGroup
) -> vk_api.VkApi:
    vk = cls(
        token=token,
        api_version="5.199",
        config=jconfig.MemoryConfig,
        session=VkSession(fake.base_url, timeout=5),
    )
    vk.RPS_DELAY = 0
    return vk


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeVK]:
    fake = await FakeVK(group_id=GID, max_wait=0.5).start()
    yield fake
    await fake.stop()


@pytest.fixture
def group(fake: FakeVK) -> vk_api.VkApi:
    return make_api(fake, fake.group_token)


@pytest.fixture
def admin(fake: FakeVK) -> vk_api.VkApi:
    return make_api(fake, fake.user_token, vk_api.VkApi)


async def call(vk: vk_api.VkApi, method: str, **params: object) -> object:
    return await asyncio.to_thread(vk.method, method, params)


async def new_lp(vk: vk_api.VkApi) -> VkBotLongPoll:
    return await asyncio.to_thread(VkBotLongPoll, vk, GID, 1)


async def test_fake_vk_reaches_fake_through_session(fake: FakeVK, group: vk_api.VkApi) -> None:
    groups = await call(group, "groups.getById", group_id=GID)
    assert groups["groups"][0]["id"] == GID
    [recorded] = fake.calls_to("groups.getById")
    assert recorded.token_type == "group"
    assert recorded.params["v"] == "5.199"


async def test_fake_vk_rejects_missing_version(fake: FakeVK) -> None:
    url = f"{fake.base_url}/method/groups.getById"
    resp = await asyncio.to_thread(requests.post, url, {"access_token": fake.group_token})
    assert resp.status_code == 200
    assert resp.json()["error"]["error_code"] == 8


async def test_fake_vk_accepts_bearer_token(fake: FakeVK) -> None:
    url = f"{fake.base_url}/method/groups.getById?v=5.199"
    headers = {"Authorization": f"Bearer {fake.user_token}"}
    resp = await asyncio.to_thread(requests.get, url, headers=headers)
    assert resp.json()["response"]["groups"][0]["id"] == GID
    assert fake.calls_to("groups.getById")[0].token_type == "user"


async def test_fake_vk_rejects_unknown_token(fake: FakeVK) -> None:
    with pytest.raises(vk_api.ApiError) as err:
        await call(make_api(fake, "nope"), "groups.getById")
    assert err.value.code == 5


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("wall.deleteComment", {"owner_id": -GID, "comment_id": 5}),
        ("photos.deleteComment", {"owner_id": -GID, "comment_id": 5}),
        ("video.deleteComment", {"owner_id": -GID, "comment_id": 5}),
        ("market.deleteComment", {"owner_id": -GID, "comment_id": 5}),
        ("groups.ban", {"group_id": GID, "owner_id": 5}),
        ("groups.unban", {"group_id": GID, "owner_id": 5}),
    ],
    ids=["wall", "photos", "video", "market", "ban", "unban"],
)
async def test_fake_vk_user_only_methods_refuse_group_token(
    group: vk_api.VkApi, admin: vk_api.VkApi, method: str, params: dict[str, int]
) -> None:
    with pytest.raises(vk_api.ApiError) as err:
        await call(group, method, **params)
    assert err.value.code == 27
    assert await call(admin, method, **params) == 1


async def test_fake_vk_send_requires_random_id(group: vk_api.VkApi) -> None:
    with pytest.raises(vk_api.ApiError) as err:
        await call(group, "messages.send", peer_id=5, message="hi")
    assert err.value.code == 100


async def test_fake_vk_send_is_idempotent_on_random_id(fake: FakeVK, group: vk_api.VkApi) -> None:
    first = await call(group, "messages.send", peer_id=5, message="hi", random_id=2**40)
    again = await call(group, "messages.send", peer_id=5, message="hi", random_id=2**40)
    assert first == again
    assert len(fake.sent_messages) == 1


async def test_fake_vk_deletes_message_by_cmid(fake: FakeVK, group: vk_api.VkApi) -> None:
    cmid = fake.message_new(5, "spam")["object"]["message"]["conversation_message_id"]
    result = await call(group, "messages.delete", peer_id=5, cmids=cmid, delete_for_all=1)
    assert result == {str(cmid): 1}
    assert (5, cmid) in fake.deleted_messages


async def test_fake_vk_comment_from_group_comes_back_in_long_poll(
    fake: FakeVK, group: vk_api.VkApi
) -> None:
    lp = await new_lp(group)
    params = {"owner_id": -GID, "post_id": 3, "from_group": GID, "message": "thanks"}
    result = await call(group, "wall.createComment", reply_to_comment=9, **params)
    assert set(result) == {"comment_id", "parents_stack"}
    [event] = await asyncio.to_thread(lp.check)
    assert event.type.value == "wall_reply_new"
    assert event.object.from_id == -GID
    assert event.object.reply_to_comment == 9


async def test_fake_vk_comment_guid_dedupes(fake: FakeVK, group: vk_api.VkApi) -> None:
    params = {"owner_id": -GID, "post_id": 3, "from_group": GID, "message": "a", "guid": "k1"}
    first = await call(group, "wall.createComment", **params)
    again = await call(group, "wall.createComment", **params)
    assert first == again
    assert len(fake.posted_comments) == 1


async def test_fake_vk_board_comment_roundtrip(fake: FakeVK, group: vk_api.VkApi) -> None:
    cid = await call(group, "board.createComment", group_id=GID, topic_id=4, message="hi")
    assert fake.posted_comments[0]["from_id"] == 1  # not from the group without from_group
    assert await call(group, "board.deleteComment", group_id=GID, topic_id=4, comment_id=cid)
    assert ("board", 4, cid) in fake.deleted_comments


async def test_fake_vk_ban_records_end_date(fake: FakeVK, admin: vk_api.VkApi) -> None:
    await call(admin, "groups.ban", group_id=GID, owner_id=12, end_date=1_900_000_000)
    assert fake.bans[12]["end_date"] == "1900000000"
    await call(admin, "groups.unban", group_id=GID, owner_id=12)
    assert 12 not in fake.bans


@pytest.mark.parametrize("code", [5, 6, 9, 10, 15, 100], ids=str)
async def test_fake_vk_fail_next_raises_api_error(
    fake: FakeVK, group: vk_api.VkApi, code: int
) -> None:
    group.error_handlers.pop(6, None)  # the library's handler would retry error 6 itself
    fake.fail_next("groups.getById", code=code)
    with pytest.raises(vk_api.ApiError) as err:
        await call(group, "groups.getById")
    assert err.value.code == code
    assert await call(group, "groups.getById")


async def test_fake_vk_captcha_error_carries_sid(fake: FakeVK, group: vk_api.VkApi) -> None:
    fake.fail_next("messages.send", code=14)
    with pytest.raises(vk_api.Captcha) as err:
        await call(group, "messages.send", peer_id=5, random_id=1, message="x")
    assert err.value.sid


async def test_fake_vk_http_faults(fake: FakeVK, group: vk_api.VkApi) -> None:
    fake.fail_next("groups.getById", http_status=502)
    with pytest.raises(vk_api.ApiHttpError):
        await call(group, "groups.getById")
    fake.fail_next("groups.getById", http_status=200, body="<html>oops</html>")
    with pytest.raises(ValueError):
        await call(group, "groups.getById")
    fake.fail_next("groups.getById", drop=True)
    with pytest.raises(requests.ConnectionError):
        await call(group, "groups.getById")
    assert await call(group, "groups.getById")


async def test_fake_vk_fail_next_times(fake: FakeVK, group: vk_api.VkApi) -> None:
    fake.fail_next("groups.getById", code=10, times=2)
    for _ in range(2):
        with pytest.raises(vk_api.ApiError):
            await call(group, "groups.getById")
    assert await call(group, "groups.getById")


async def test_fake_vk_long_poll_delivers_validated_events(
    fake: FakeVK, group: vk_api.VkApi
) -> None:
    lp = await new_lp(group)
    fake.message_new(5, "hello")
    fake.wall_reply_new(3, 6, "first!")
    fake.photo_comment_new(8, 6, "nice photo")
    fake.video_comment_new(9, 6, "nice video")
    fake.market_comment_new(10, 6, "price?")
    fake.board_post_new(11, 6, "topic reply")
    events = await asyncio.to_thread(lp.check)
    kinds = [e.type.value for e in events]
    assert kinds == [
        "message_new",
        "wall_reply_new",
        "photo_comment_new",
        "video_comment_new",
        "market_comment_new",
        "board_post_new",
    ]
    assert events[0].from_user and events[0].message.text == "hello"
    assert all(len(e.raw["event_id"]) == 40 and e.raw["v"] == "5.199" for e in events)
    assert await asyncio.to_thread(lp.check) == []


async def test_fake_vk_long_poll_waits_for_an_event(fake: FakeVK, group: vk_api.VkApi) -> None:
    lp = await new_lp(group)
    pending = asyncio.create_task(asyncio.to_thread(lp.check))
    await asyncio.sleep(0.1)
    fake.wall_reply_new(3, 6, "late")
    events = await asyncio.wait_for(pending, 3)
    assert [e.object.text for e in events] == ["late"]


async def test_fake_vk_long_poll_replays_from_old_ts(fake: FakeVK, group: vk_api.VkApi) -> None:
    lp = await new_lp(group)
    start = lp.ts
    fake.wall_reply_new(3, 6, "one")
    first = await asyncio.to_thread(lp.check)
    lp.ts = start
    again = await asyncio.to_thread(lp.check)
    assert [e.raw["event_id"] for e in again] == [e.raw["event_id"] for e in first]


async def test_fake_vk_long_poll_expired_key_is_refreshed(
    fake: FakeVK, group: vk_api.VkApi
) -> None:
    lp = await new_lp(group)
    fake.wall_reply_new(3, 6, "kept")
    fake.expire_key()
    assert await asyncio.to_thread(lp.check) == []  # failed 2: new key, same ts
    assert [e.object.text for e in await asyncio.to_thread(lp.check)] == ["kept"]


async def test_fake_vk_long_poll_failed_3_loses_events(fake: FakeVK, group: vk_api.VkApi) -> None:
    lp = await new_lp(group)
    fake.wall_reply_new(3, 6, "lost")
    fake.lp_fail_next(3)
    assert await asyncio.to_thread(lp.check) == []
    assert await asyncio.to_thread(lp.check) == []


async def test_fake_vk_long_poll_lost_history_gives_failed_1(
    fake: FakeVK, group: vk_api.VkApi
) -> None:
    lp = await new_lp(group)
    fake.wall_reply_new(3, 6, "gone")
    fake.lose_history()
    fake.wall_reply_new(3, 6, "after")
    old_ts = lp.ts
    assert await asyncio.to_thread(lp.check) == []
    assert int(lp.ts) == fake.lp_ts and lp.ts != old_ts


@pytest.mark.parametrize(
    ("kind", "error"),
    [("http502", ValueError), ("html", ValueError), ("drop", requests.ConnectionError)],
    ids=["http502", "html", "drop"],
)
async def test_fake_vk_long_poll_transport_faults(
    fake: FakeVK, group: vk_api.VkApi, kind: str, error: type[Exception]
) -> None:
    lp = await new_lp(group)
    fake.wall_reply_new(3, 6, "survives")
    fake.lp_fail_next(kind)
    with pytest.raises(error):
        await asyncio.to_thread(lp.check)
    assert [e.object.text for e in await asyncio.to_thread(lp.check)] == ["survives"]


async def test_fake_vk_builders_reject_bad_payload(fake: FakeVK) -> None:
    with pytest.raises(KeyError):
        fake.push_event({"type": "wall_reply_new"})


@pytest.fixture
def threaded_fake() -> Iterator[FakeVK]:
    fake = FakeVK(group_id=GID, max_wait=0.3).start_in_thread()
    yield fake
    fake.stop_thread()


def test_fake_vk_runs_in_thread_for_sync_tests(threaded_fake: FakeVK) -> None:
    vk = make_api(threaded_fake, threaded_fake.group_token)
    lp = VkBotLongPoll(vk, GID, 1)
    threaded_fake.message_new(5, "sync")
    assert [e.message.text for e in lp.check()] == ["sync"]


@pytest.mark.parametrize("failed", [1, 2], ids=["failed-1", "failed-2"])
async def test_fake_vk_long_poll_queued_failed_replies(
    fake: FakeVK, group: vk_api.VkApi, failed: int
) -> None:
    lp = await new_lp(group)
    fake.wall_reply_new(3, 6, "pending")
    fake.lp_fail_next(failed)
    assert await asyncio.to_thread(lp.check) == []
    after = await asyncio.to_thread(lp.check)
    # failed=1 moves ts past the pending event (lost); failed=2 keeps ts (kept)
    assert [e.object.text for e in after] == ([] if failed == 1 else ["pending"])
    assert len(fake.calls_to("groups.getLongPollServer")) == failed
