"""Telegram "Done when", through the real service wiring (`run_service`) against FakeTelegram."""

from __future__ import annotations

from typing import Any

from bot.adapters.sandbox.telegram import FakeTelegram, make_user
from tests.e2e.conftest import CHANNEL, GROUP, MODS, WITHIN, Launcher, Service, eventually
from tests.fakes.telegram import ALICE, BOB, MODERATOR, STRANGER

RULES = f"""
version: 1
language: en
communities:
  - name: Shop chat
    telegram: {{chat_id: {GROUP}, linked_channel_id: {CHANNEL}}}
moderators: {{telegram_chat_id: {MODS}, user_ids: [{MODERATOR["id"]}]}}
spam:
  stop_words: [заработок без вложений]
  strikes: {{ban_after: 2, punishment: ban}}
negative: {{threshold: 0.7, action: escalate}}
questions:
  threshold: 0.6
  answers:
    - id: delivery-time
      keywords: [доставк, delivery]
      reply: {{ru: "Доставка 2–5 дней", en: "Delivery takes 2–5 days"}}
"""
SPAM = "Заработок без вложений, пиши в лс!"
COMPLAINT = "This is awful, the worst shop ever, terrible service! When is my delivery coming?"
CAROL = make_user(1003, "Carol")


# ---------------------------------------------------------------------------------- helpers


def replies_to(fake: FakeTelegram, message: dict[str, Any]) -> list[dict[str, Any]]:
    """sendMessage calls (not only successes) that reply to one message."""
    chat, message_id = message["chat"]["id"], message["message_id"]
    return [
        call.params
        for call in fake.calls_to("sendMessage")
        if int(call.params["chat_id"]) == chat
        and (call.params.get("reply_parameters") or {}).get("message_id") == message_id
    ]


def buttons(card: dict[str, Any]) -> dict[str, str]:
    """A card's callback data by choice (the last part of `esc:<token>:<choice>`)."""
    rows = card["reply_markup"]["inline_keyboard"]
    return {b["callback_data"].rsplit(":", 1)[1]: b["callback_data"] for row in rows for b in row}


async def decided(service: Service, message: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Wait until the inbox row of a message (new or edited) was decided; its decisions."""
    sql = (
        "SELECT d.rule_id, d.strike FROM inbox i JOIN decisions d ON d.inbox_id = i.id "
        "WHERE i.chat_id = ? AND i.message_id = ? ORDER BY d.id"
    )
    args = (message["chat"]["id"], message["message_id"])
    await service.until(sql, bool, *args)
    return await service.rows(sql, *args)


async def outbox_of(service: Service, message: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(kind, state, attempts) of every action planned for a message."""
    return await service.rows(
        "SELECT o.kind, o.state, o.attempts FROM outbox o JOIN inbox i ON o.inbox_id = i.id "
        "WHERE i.chat_id = ? AND i.message_id = ? ORDER BY o.id",
        message["chat"]["id"],
        message["message_id"],
    )


async def settled(service: Service) -> None:
    """Wait until no planned action is pending or running."""
    await service.until(
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'in_flight')",
        lambda rows: rows[0][0] == 0,
    )


async def escalated_card(service: Service, fake: FakeTelegram) -> dict[str, Any]:
    """The one card posted in the moderators' chat, once the service recorded it."""
    await service.until("SELECT card_message_id FROM escalations", lambda r: r and r[0][0])
    [card] = fake.sent_messages(MODS)
    return card


# ------------------------------------------------------------------------------------ tests


async def test_telegram_spam_is_deleted_and_the_spammer_banned_on_the_second_strike(
    launch: Launcher, telegram: FakeTelegram
) -> None:
    service = await launch.start(RULES)
    # Spam bots post in bursts: the three messages arrive in one getUpdates batch.
    burst = [telegram.push_message(GROUP, BOB, f"{SPAM} #{n}")["message"] for n in (1, 2, 3)]
    await telegram.wait_for_calls("banChatMember", within=WITHIN)
    await telegram.wait_for_calls("deleteMessage", count=3, within=WITHIN)
    await settled(service)
    telegram.push_update({"message": burst[1]})  # Telegram redelivers the 2nd spam
    await telegram.wait_until_confirmed(within=WITHIN)
    await settled(service)

    [ban] = telegram.calls_to("banChatMember")
    assert int(ban.params["user_id"]) == BOB["id"] and int(ban.params["chat_id"]) == GROUP
    assert telegram.member(GROUP, BOB["id"])["status"] == "kicked"
    assert all(telegram.is_deleted(GROUP, m["message_id"]) for m in burst)
    assert [await outbox_of(service, m) for m in burst] == [
        [("delete", "done", 1)],
        [("delete", "done", 1), ("ban", "done", 1)],
        [("delete", "done", 1)],
    ]
    assert [await decided(service, m) for m in burst] == [[("spam-delete", 1)]] * 3
    strikes = await service.rows(
        "SELECT strikes, banned FROM platform_users WHERE user_id = ?", BOB["id"]
    )
    assert strikes == [(3, 1)]


async def test_telegram_comment_question_is_answered_in_its_thread(
    launch: Launcher, telegram: FakeTelegram
) -> None:
    await launch.start(RULES)
    post = telegram.push_auto_forward(GROUP, CHANNEL, 7, "New tea is in!")["message"]
    comment = telegram.push_comment(GROUP, ALICE, post, "How long does delivery take?")
    await telegram.wait_for_calls("sendMessage", within=WITHIN)

    [call] = telegram.calls_to("sendMessage")
    assert int(call.params["chat_id"]) == GROUP
    assert call.params["message_thread_id"] == post["message_id"]
    assert call.params["reply_parameters"]["message_id"] == comment["message"]["message_id"]
    [reply] = telegram.sent_messages(GROUP)
    assert reply["text"] == "Delivery takes 2–5 days"
    assert reply["reply_to_message"]["message_id"] == comment["message"]["message_id"]


async def test_telegram_complaint_is_escalated_and_the_suggested_reply_sent_on_a_tap(
    launch: Launcher, telegram: FakeTelegram
) -> None:
    service = await launch.start(RULES)
    complaint = telegram.push_message(GROUP, ALICE, COMPLAINT)["message"]
    card = await escalated_card(service, telegram)
    assert "Suggested reply" in card["text"] and "Delivery takes 2–5 days" in card["text"]
    assert telegram.sent_messages(GROUP) == []  # priority negative: no answer before a human

    telegram.push_callback(MODERATOR, card, buttons(card)["send"])
    await eventually(lambda: replies_to(telegram, complaint))
    await telegram.wait_for_calls("editMessageText", within=WITHIN)
    await settled(service)

    [reply] = replies_to(telegram, complaint)
    assert reply["text"] == "Delivery takes 2–5 days"
    [answer] = telegram.callback_answers.values()
    assert not answer.get("show_alert")
    edited = telegram.message(MODS, card["message_id"])
    assert edited is not None and "reply_markup" not in edited
    assert "Suggested reply sent" in edited["text"] and "moderator Maria" in edited["text"]
    escalation = await service.rows("SELECT status, resolution, resolved_by FROM escalations")
    assert escalation == [("resolved", "send", MODERATOR["id"])]


async def test_telegram_card_refuses_a_non_moderators_tap(
    launch: Launcher, telegram: FakeTelegram
) -> None:
    service = await launch.start(RULES)
    complaint = telegram.push_message(GROUP, ALICE, COMPLAINT)["message"]
    card = await escalated_card(service, telegram)
    for choice in ("send", "ban"):
        telegram.push_callback(STRANGER, card, buttons(card)[choice])
    await eventually(lambda: len(telegram.callback_answers) == 2)
    await telegram.wait_until_confirmed(within=WITHIN)
    await settled(service)

    for answer in telegram.callback_answers.values():
        assert answer["show_alert"] is True and answer["text"] == "Only moderators can do this."
    assert replies_to(telegram, complaint) == []
    assert not telegram.is_deleted(GROUP, complaint["message_id"])
    assert telegram.calls_to("banChatMember") == telegram.calls_to("editMessageText") == []
    assert telegram.message(MODS, card["message_id"]) == card
    assert await service.rows("SELECT status, resolution FROM escalations") == [("open", None)]


async def test_telegram_message_edited_into_spam_is_deleted(
    launch: Launcher, telegram: FakeTelegram
) -> None:
    service = await launch.start(RULES)
    message = telegram.push_message(GROUP, CAROL, "Спасибо, чай очень вкусный")["message"]
    assert await decided(service, message) == [("no-action", 0)]
    telegram.push_edited(message, SPAM)
    await telegram.wait_for_calls("deleteMessage", within=WITHIN)

    [delete] = telegram.calls_to("deleteMessage")
    assert int(delete.params["message_id"]) == message["message_id"]
    assert telegram.is_deleted(GROUP, message["message_id"])


async def test_telegram_auto_forward_is_never_touched_even_when_spammy(
    launch: Launcher, telegram: FakeTelegram
) -> None:
    service = await launch.start(RULES)
    post = telegram.push_auto_forward(GROUP, CHANNEL, 9, SPAM)["message"]
    assert await decided(service, post) == [("exempt-channel-auto-forward", 0)]
    # A later message goes through the same worker: once it is answered, the post was passed.
    question = telegram.push_message(GROUP, ALICE, "Сколько идёт доставка?")["message"]
    await eventually(lambda: replies_to(telegram, question))
    await settled(service)

    assert await outbox_of(service, post) == []
    assert not telegram.is_deleted(GROUP, post["message_id"])
    for method in ("deleteMessage", "deleteMessages", "banChatMember", "banChatSenderChat"):
        assert telegram.calls_to(method) == [], method
    assert replies_to(telegram, post) == []


async def test_telegram_rate_limited_reply_is_sent_once_after_retry_after(
    launch: Launcher, telegram: FakeTelegram
) -> None:
    service = await launch.start(RULES)
    telegram.rate_limit_next("sendMessage", retry_after=1)
    question = telegram.push_message(GROUP, ALICE, "Сколько идёт доставка?")["message"]
    await telegram.wait_for_calls("sendMessage", count=2, within=WITHIN)
    await settled(service)

    first, second = telegram.calls_to("sendMessage")
    assert first.raw == second.raw  # the same request, repeated once
    [reply] = telegram.sent_messages(GROUP)
    assert reply["text"] == "Доставка 2–5 дней"
    assert reply["reply_to_message"]["message_id"] == question["message_id"]
    assert await outbox_of(service, question) == [("reply", "done", 1)]


async def test_telegram_spam_edited_before_its_deletion_is_one_strike(
    launch: Launcher, telegram: FakeTelegram
) -> None:
    service = await launch.start(RULES)
    spam = telegram.push_message(GROUP, BOB, SPAM)["message"]
    telegram.push_edited(spam, SPAM + " https://spam.example")  # in the same batch
    await telegram.wait_for_calls("deleteMessage", within=WITHIN)
    await service.until("SELECT count(*) FROM decisions", lambda rows: rows[0][0] == 2)
    await settled(service)

    assert telegram.is_deleted(GROUP, spam["message_id"])
    assert telegram.calls_to("banChatMember") == []
    strikes = await service.rows("SELECT strikes FROM platform_users WHERE user_id = ?", BOB["id"])
    assert strikes == [(1,)]
