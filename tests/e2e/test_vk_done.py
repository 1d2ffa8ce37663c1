"""VK "Done when", through the real service wiring (`run_service`) against FakeVK (and FakeTelegram
for the moderators' chat)."""

from __future__ import annotations

from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.sandbox.vk import FakeVK
from bot.adapters.vk.client import random_id_for
from tests.e2e.conftest import GROUP, MODS, VK_GROUP, Launcher, Service, eventually

RULES = f"""
version: 1
language: ru
communities:
  - {{name: Shop VK, vk: {{group_id: {VK_GROUP}}}, private_messages: true}}
  - {{name: Shop chat, telegram: {{chat_id: {GROUP}}}}}
moderators: {{telegram_chat_id: {MODS}}}
spam: {{stop_words: [заработок без вложений]}}
questions:
  answers:
    - id: delivery-time
      keywords: [доставк]
      reply: "Доставка 2–5 дней"
"""
SPAM = "Заработок без вложений, пиши в лс!"
QUESTION = "Сколько идёт доставка в Казань?"
POST = 12


# ---------------------------------------------------------------------------------- helpers


def comment_replies(vk: FakeVK, comment_id: int) -> list[dict[str, str]]:
    """wall.createComment calls (delivered or not) answering one comment."""
    calls = vk.calls_to("wall.createComment")
    return [c.params for c in calls if c.params.get("reply_to_comment") == str(comment_id)]


def ask(vk: FakeVK, user: int, text: str = QUESTION) -> int:
    """A customer's comment under the post; returns its comment id."""
    return int(vk.wall_reply_new(POST, user, text)["object"]["id"])


async def answered(vk: FakeVK, *comment_ids: int) -> None:
    """Wait until every comment got a reply call."""
    await eventually(lambda: all(comment_replies(vk, c) for c in comment_ids))


async def settled(service: Service) -> None:
    """Wait until no planned action is pending or running."""
    await service.until(
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'in_flight')",
        lambda rows: rows[0][0] == 0,
    )


def assert_answered_once(vk: FakeVK, *comment_ids: int) -> None:
    for comment_id in comment_ids:
        [reply] = comment_replies(vk, comment_id)
        assert reply["message"] == "Доставка 2–5 дней", comment_id


# ------------------------------------------------------------------------------------ tests


async def test_vk_wall_spam_is_deleted_with_the_user_token(launch: Launcher, vk: FakeVK) -> None:
    service = await launch.start(RULES, telegram=False, vk=True)
    comment_id = ask(vk, 503, SPAM)
    await eventually(lambda: ("wall", -VK_GROUP, comment_id) in vk.deleted_comments)
    await settled(service)

    [delete] = vk.calls_to("wall.deleteComment")
    assert delete.token_type == "user"
    assert delete.params["owner_id"] == str(-VK_GROUP)
    assert delete.params["comment_id"] == str(comment_id)
    assert vk.posted_comments == []


async def test_vk_wall_spam_without_a_user_token_is_escalated_to_the_moderators(
    launch: Launcher, vk: FakeVK, telegram: FakeTelegram
) -> None:
    service = await launch.start(RULES, telegram=True, vk=True, vk_user_token=False)
    comment_id = ask(vk, 503, SPAM)
    await service.until("SELECT card_message_id FROM escalations", lambda r: r and r[0][0])

    [card] = telegram.calls_to("sendMessage")
    html = card.params["text"]
    assert int(card.params["chat_id"]) == MODS and "Shop VK" in html
    assert "could not delete: needs an admin user token" in html
    assert f'href="https://vk.com/wall-{VK_GROUP}_{POST}?reply={comment_id}"' in html
    assert vk.calls_to("wall.deleteComment") == []
    [(reason,)] = await service.rows("SELECT reason FROM escalations")
    assert reason == "could not delete: needs an admin user token"


async def test_vk_wall_question_is_answered_as_a_reply_from_the_community(
    launch: Launcher, vk: FakeVK
) -> None:
    service = await launch.start(RULES, telegram=False, vk=True)
    comment_id = ask(vk, 504)
    await answered(vk, comment_id)
    await settled(service)

    [reply] = vk.calls_to("wall.createComment")
    assert reply.token_type == "group"
    assert reply.params["from_group"] == str(VK_GROUP)
    assert reply.params["reply_to_comment"] == str(comment_id)
    assert reply.params["owner_id"] == str(-VK_GROUP) and reply.params["post_id"] == str(POST)
    [posted] = vk.posted_comments
    assert posted["from_id"] == -VK_GROUP and posted["reply_to_comment"] == comment_id


async def test_vk_community_message_is_answered_with_a_deterministic_random_id(
    launch: Launcher, vk: FakeVK
) -> None:
    service = await launch.start(RULES, telegram=False, vk=True)
    event = vk.message_new(501, QUESTION)
    await eventually(lambda: vk.calls_to("messages.send"))
    await settled(service)
    vk.push_event(dict(event))  # the same event again (a replayed ts): a duplicate
    await service.until(
        "SELECT count(*) FROM audit WHERE event = 'message-duplicate'", lambda r: r[0][0] == 1
    )
    await settled(service)

    [send] = vk.calls_to("messages.send")
    [(key,)] = await service.rows("SELECT idempotency_key FROM outbox WHERE kind = 'reply'")
    assert event["event_id"] in key
    assert send.params["random_id"] == str(random_id_for(key))
    assert send.params["peer_id"] == "501"
    [sent] = vk.sent_messages.values()
    assert sent["text"] == "Доставка 2–5 дней"


async def test_vk_long_poll_survives_failures_without_losing_an_event(
    launch: Launcher, vk: FakeVK
) -> None:
    service = await launch.start(RULES, telegram=False, vk=True)
    first = ask(vk, 601)
    await answered(vk, first)
    for fault in (2, "http502", "drop"):
        vk.lp_fail_next(fault)
    await eventually(lambda: vk.lp_faults_pending == 0)
    # The runner now backs off after the dropped connection; an event arrives meanwhile, and
    # the next check is told failed=3 (a new key and ts), which must not skip that event.
    during = ask(vk, 602)
    vk.lp_fail_next(3)
    await eventually(lambda: vk.lp_faults_pending == 0)
    after = ask(vk, 603)
    await answered(vk, during, after)
    await settled(service)

    assert_answered_once(vk, first, during, after)
    assert await service.rows("SELECT count(*) FROM inbox") == [(3,)]
    gaps = await service.rows("SELECT count(*) FROM audit WHERE event = 'vk-longpoll-gap'")
    assert gaps == [(0,)]


async def test_vk_restart_resumes_from_the_stored_ts_without_double_replies(
    launch: Launcher, vk: FakeVK
) -> None:
    service = await launch.start(RULES, telegram=False, vk=True)
    before = ask(vk, 701)
    await answered(vk, before)
    await settled(service)
    assert await service.stop() == 0
    [(stored,)] = await service.rows(
        "SELECT value FROM kv WHERE key = ?", f"vk:{VK_GROUP}:longpoll-ts"
    )

    down_at = vk.lp_ts  # the ts the events pushed while the service is down will get
    while_down = ask(vk, 702)
    vk.message_new(703, QUESTION)
    restarted = await launch.start(RULES, telegram=False, vk=True)
    await answered(vk, while_down)
    await eventually(lambda: vk.calls_to("messages.send"))
    await settled(restarted)

    assert int(stored) <= down_at  # so a resume from it includes them, a fresh ts would not
    assert_answered_once(vk, before, while_down)
    assert len(vk.calls_to("messages.send")) == 1
    assert await restarted.rows("SELECT count(*), count(processed_at) FROM inbox") == [(3, 3)]


async def test_vk_error_6_storm_on_a_comment_reply_is_bounded_and_posts_once(
    launch: Launcher, vk: FakeVK
) -> None:
    service = await launch.start(RULES, telegram=False, vk=True)
    # One call plus the 3 retries of the bounded error-6 handler, all refused: the action
    # fails retryably, the pipeline tries again later, and that attempt gets through.
    vk.fail_next("wall.createComment", code=6, times=4)
    comment_id = ask(vk, 801)
    await eventually(lambda: vk.posted_comments, within=30)
    await settled(service)

    assert len(comment_replies(vk, comment_id)) == 5
    [posted] = vk.posted_comments
    assert posted["reply_to_comment"] == comment_id
    outbox = await service.rows("SELECT kind, state, attempts FROM outbox")
    assert outbox == [("reply", "done", 2)]
    errors = await service.rows(
        "SELECT count(*) FROM audit WHERE event = 'action-failed' AND detail LIKE '%[6]%'"
    )
    assert errors == [(1,)]
    assert not service.task.done()
