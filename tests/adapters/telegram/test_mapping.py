"""to_incoming() on recorded-shape Telegram payloads from tests/data/telegram."""

import json
from pathlib import Path

import pytest
from aiogram.types import Update

from bot.adapters.telegram.mapping import MappingContext, to_incoming
from bot.core.model import AttachmentKind, IncomingMessage, Platform, Surface

DATA = Path(__file__).parents[2] / "data" / "telegram"
GROUP = -1001234567890
CHANNEL = -1001111111111
BOT_ID = 7000000001

CTX = MappingContext(
    bot_id=BOT_ID,
    communities={GROUP: "Shop chat"},
    linked_channels=frozenset({CHANNEL}),
    admin_ids={GROUP: frozenset({1001})},
    direct_community="Shop DMs",
)


def load(name: str) -> Update:
    return Update.model_validate(json.loads((DATA / f"{name}.json").read_text()))


def mapped(name: str, ctx: MappingContext = CTX) -> IncomingMessage:
    message = to_incoming(load(name), ctx)
    assert message is not None
    return message


def test_to_incoming_maps_a_group_message_with_links_and_mentions() -> None:
    message = mapped("group_message_with_link")
    assert message.platform is Platform.TELEGRAM
    assert message.event_key == f"tg:{GROUP}:501"
    assert message.community == "Shop chat"
    assert (message.chat.chat_id, message.message_id) == (GROUP, 501)
    assert message.surface is Surface.GROUP and message.thread_id is None
    assert message.links == ("https://spam.example/win",)  # entity offsets are UTF-16 (🔥)
    assert message.mentions == ("@promo_bot",)
    assert message.author.user_id == 1001 and message.author.username == "alice_p"
    assert message.author.display_name == "Алиса Петрова"
    assert message.author.is_admin and not message.author.as_channel
    assert message.date.timestamp() == 1764160000
    assert message.raw["message_id"] == 501


def test_to_incoming_gives_each_edit_its_own_event_key() -> None:
    message = mapped("edited_message")
    assert message.edited
    assert message.event_key == f"tg:{GROUP}:501:1764160060"
    assert message.text == "Скидки отменяются"
    assert message.date.timestamp() == 1764160000  # the 48 h delete window counts from here


def test_to_incoming_flags_the_automatic_forward_as_a_channel_post() -> None:
    message = mapped("auto_forward")
    assert message.is_automatic_forward and not message.is_forward
    assert message.author.as_channel and message.author.user_id == CHANNEL
    assert message.author.is_admin
    assert message.thread_id == 600


@pytest.mark.parametrize(
    ("name", "reply_to"),
    [("channel_comment", 600), ("channel_comment_reply", 601)],
    ids=["first-level", "reply-to-comment"],
)
def test_to_incoming_maps_channel_comments_to_the_post_thread(name: str, reply_to: int) -> None:
    ctx = MappingContext(
        bot_id=BOT_ID, communities={GROUP: "Shop chat"}, discussion_groups=frozenset({GROUP})
    )
    message = mapped(name, ctx)
    assert message.surface is Surface.CHANNEL_COMMENT
    assert message.thread_id == 600
    assert message.reply_to == reply_to


def test_to_incoming_needs_the_discussion_group_for_deeper_replies() -> None:
    assert mapped("channel_comment").surface is Surface.CHANNEL_COMMENT
    assert mapped("channel_comment_reply").surface is Surface.GROUP


@pytest.mark.parametrize(
    ("name", "user_id", "is_admin"),
    [("anonymous_admin", GROUP, True), ("channel_as_sender", -1002222222222, False)],
    ids=["anonymous-admin", "foreign-channel"],
)
def test_to_incoming_maps_chat_senders_as_channel(name: str, user_id: int, is_admin: bool) -> None:
    author = mapped(name).author
    assert author.as_channel and author.user_id == user_id
    assert author.is_admin is is_admin


def test_to_incoming_uses_the_caption_and_text_links() -> None:
    message = mapped("photo_with_caption")
    assert message.text == "Смотрите отзыв здесь"
    assert message.links == ("https://reviews.example/r/1",)
    assert message.attachments == (AttachmentKind.PHOTO,)


def test_to_incoming_maps_private_messages_to_the_direct_community() -> None:
    message = mapped("private_message")
    assert message.surface is Surface.PRIVATE and message.community == "Shop DMs"
    no_dms = MappingContext(bot_id=BOT_ID, communities={GROUP: "Shop chat"})
    assert to_incoming(load("private_message"), no_dms) is None


def test_to_incoming_marks_the_bots_own_messages() -> None:
    author = mapped("bot_own_message").author
    assert author.is_self and author.is_bot


def test_to_incoming_reads_text_mentions_and_forwards() -> None:
    message = mapped("text_mention_and_forward")
    assert message.mentions == ("@alice_p", "tg://user?id=1002")
    assert message.is_forward


def test_to_incoming_does_not_count_a_gif_as_a_document() -> None:
    assert mapped("animation").attachments == (AttachmentKind.VIDEO,)


@pytest.mark.parametrize(
    "name",
    ["member_joined_service", "unknown_group", "callback_query"],
    ids=["service-message", "chat-outside-communities", "not-a-message"],
)
def test_to_incoming_ignores_what_is_not_ours(name: str) -> None:
    assert to_incoming(load(name), CTX) is None


def test_to_incoming_accepts_a_bare_message() -> None:
    update = load("group_message_with_link")
    assert update.message is not None
    assert to_incoming(update.message, CTX) == to_incoming(update, CTX)
