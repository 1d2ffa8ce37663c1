"""to_incoming() on recorded VK Bots Long Poll payloads (tests/data/vk)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from vk_api.bot_longpoll import VkBotEvent

from bot.adapters.vk.mapping import (
    VkContext,
    content_key,
    extract_links,
    extract_mentions,
    to_incoming,
)
from bot.core.model import AttachmentKind, IncomingMessage, Platform, Surface

DATA = Path(__file__).parents[2] / "data" / "vk"
CTX = VkContext(group_id=77, community="Shop VK")


def load(name: str) -> dict[str, Any]:
    payload = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    VkBotEvent(payload)  # the fixture must be something vk_api itself accepts
    return payload


def mapped(name: str) -> IncomingMessage:
    message = to_incoming(load(name), CTX)
    assert message is not None
    return message


def test_to_incoming_maps_private_message_by_cmid() -> None:
    msg = mapped("message_new")
    assert msg.platform is Platform.VK
    assert msg.surface is Surface.PRIVATE
    assert msg.community == "Shop VK"
    assert (msg.chat.chat_id, msg.message_id, msg.reply_to) == (501, 42, 40)
    assert msg.event_key == "vk:77:0b6e3c1f6c1f3d1c9b2f7a9f0a6f1e2d3c4b5a69"
    assert msg.author.user_id == 501 and not msg.author.is_self
    assert msg.attachments == (AttachmentKind.PHOTO, AttachmentKind.LINK)
    assert msg.mentions == ("id12",)
    assert msg.links == ("https://example.org/x", "vk.cc/abc", "https://shop.example.com/promo")
    assert msg.date.timestamp() == 1764160000


def test_to_incoming_maps_chat_message_as_group() -> None:
    msg = mapped("message_new_chat")
    assert msg.surface is Surface.GROUP
    assert (msg.chat.chat_id, msg.message_id) == (2000000003, 7)
    assert msg.is_forward
    assert msg.mentions == ("brand_shop",)


def test_to_incoming_maps_wall_comment() -> None:
    msg = mapped("wall_reply_new")
    assert msg.surface is Surface.WALL_COMMENT
    assert (msg.chat.chat_id, msg.thread_id, msg.message_id, msg.reply_to) == (-77, 12, 1105, 1100)
    assert msg.links == ("www.cheap-shoes.ru",)
    assert not msg.edited


def test_to_incoming_edit_is_its_own_event() -> None:
    new, edit = mapped("wall_reply_new"), mapped("wall_reply_edit")
    assert edit.edited and edit.message_id == new.message_id
    assert edit.event_key != new.event_key


@pytest.mark.parametrize(
    ("name", "surface", "thread_id", "message_id"),
    [
        ("photo_comment_new", Surface.PHOTO_COMMENT, 457239017, 201),
        ("video_comment_new", Surface.VIDEO_COMMENT, 456239020, 301),
        ("market_comment_new", Surface.MARKET_COMMENT, 8123, 401),
        ("board_post_new", Surface.BOARD_COMMENT, 33, 51),
    ],
    ids=["photo", "video", "market", "board"],
)
def test_to_incoming_maps_comment_surfaces(
    name: str, surface: Surface, thread_id: int, message_id: int
) -> None:
    msg = mapped(name)
    assert (msg.surface, msg.thread_id, msg.message_id) == (surface, thread_id, message_id)
    assert msg.chat.chat_id == -77


def test_to_incoming_board_edit_and_attachment_kinds() -> None:
    assert mapped("board_post_edit").edited
    assert mapped("board_post_new").attachments == (AttachmentKind.VOICE, AttachmentKind.OTHER)
    assert mapped("video_comment_new").attachments == (AttachmentKind.STICKER,)


def test_to_incoming_marks_community_own_comment_as_self() -> None:
    author = mapped("wall_reply_new_self").author
    assert author.is_self and not author.as_channel


def test_to_incoming_marks_other_community_as_channel() -> None:
    author = mapped("wall_reply_new_other_group").author
    assert author.as_channel and not author.is_self
    assert author.user_id == -999


@pytest.mark.parametrize("name", ["wall_reply_delete", "group_join"], ids=["delete", "unknown"])
def test_to_incoming_returns_none_for_non_messages(name: str) -> None:
    assert to_incoming(load(name), CTX) is None


def test_content_key_is_stable_without_event_id() -> None:
    payload = load("wall_reply_new")
    del payload["event_id"]
    msg = to_incoming(payload, CTX)
    assert msg is not None
    assert msg.event_key == content_key(payload, 77)
    assert content_key(payload, 77) != content_key(load("wall_reply_edit"), 77)


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("no links here. Really", ()),
        ("see https://a.ru/x?y=1, ok", ("https://a.ru/x?y=1",)),
        ("mail me@site.com please", ()),
        ("заходи на магазин.рф!", ("магазин.рф",)),
    ],
    ids=["none", "url", "email", "cyrillic-domain"],
)
def test_extract_links(text: str, links: tuple[str, ...]) -> None:
    assert extract_links(text) == links


def test_extract_mentions_dedupes() -> None:
    assert extract_mentions("[club1|Shop] [id2|A] [id2|A] @durov") == ("club1", "id2", "durov")
