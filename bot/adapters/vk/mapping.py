"""Pure mapping of VK Bots Long Poll events (API 5.199) to `IncomingMessage`.

Id mapping (VK field → core field):

* `message_new` / `message_edit`: `conversation_message_id` → `message_id` (VK deletes and replies
  in conversations by cmid; the global `id` is 0 in chats), `peer_id` → `chat.chat_id`,
  `reply_message.conversation_message_id` → `reply_to`. A peer below 2e9 is a private dialog with
  the community (surface PRIVATE); 2e9 and above is a group chat (surface GROUP).
* Comments (`wall_reply_*`, `photo/video/market_comment_*`, `board_post_*`): the comment `id` →
  `message_id`; the owner of the commented object (`-group_id` for a community) → `chat.chat_id`,
  which is the `owner_id` the delete and reply methods need; the post, photo, video, item or topic
  id → `thread_id`; `reply_to_comment` → `reply_to`.
* `event_id` (unique per event, stable when VK redelivers the same ts) → `event_key` as
  `vk:{group_id}:{event_id}`, so each edit is its own message and a replayed batch is a duplicate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.model import (
    AttachmentKind,
    ChatRef,
    IncomingMessage,
    Platform,
    Surface,
    UserRef,
)

__all__ = ["CHAT_START_ID", "VkContext", "content_key", "event_key", "to_incoming"]

CHAT_START_ID = 2_000_000_000

# event type → (surface, field holding the commented object's id, field holding its owner)
COMMENT_EVENTS: dict[str, tuple[Surface, str, str]] = {
    "wall_reply": (Surface.WALL_COMMENT, "post_id", "post_owner_id"),
    "photo_comment": (Surface.PHOTO_COMMENT, "photo_id", "photo_owner_id"),
    "video_comment": (Surface.VIDEO_COMMENT, "video_id", "video_owner_id"),
    "market_comment": (Surface.MARKET_COMMENT, "item_id", "market_owner_id"),
    "board_post": (Surface.BOARD_COMMENT, "topic_id", "topic_owner_id"),
}

ATTACHMENT_KINDS = {
    "photo": AttachmentKind.PHOTO,
    "video": AttachmentKind.VIDEO,
    "doc": AttachmentKind.DOCUMENT,
    "audio": AttachmentKind.AUDIO,
    "audio_message": AttachmentKind.VOICE,
    "sticker": AttachmentKind.STICKER,
    "link": AttachmentKind.LINK,
    "poll": AttachmentKind.POLL,
}

# VK markup mentions: [id123|Name], [club123|Name], [public123|Name]; plain @id123 / @screen_name.
_MARKUP_MENTION = re.compile(r"\[((?:id|club|public|event)\d+)\|[^\]]*\]")
_AT_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.]{2,32})")
_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'\]]+")
_BARE_DOMAIN = re.compile(
    r"(?i)(?<![@\w.])(?:[\w-]+\.)+"
    r"(?:ru|com|net|org|рф|su|cc|me|io|info|biz|shop|store|link|xyz)(?![\w-])"
    r"(?:/[^\s<>\"'\]]*)?"
)


@dataclass(frozen=True, slots=True)
class VkContext:
    """What the mapper needs to know about the community the event came from."""

    group_id: int  # positive VK community id
    community: str  # rules.yaml community name


def event_key(event: Mapping[str, Any], group_id: int) -> str:
    """The inbox dedupe key: `vk:{group}:{event_id}`, or a content key for events without one."""
    event_id = event.get("event_id")
    return f"vk:{group_id}:{event_id}" if event_id else content_key(event, group_id)


def content_key(event: Mapping[str, Any], group_id: int) -> str:
    """A key from what the event is about (type, ids, text), stable across redeliveries."""
    obj = _comment_or_message(event)
    ids = ":".join(str(obj.get(k, "")) for k in ("peer_id", "owner_id", "post_id", "topic_id"))
    msg_id = obj.get("conversation_message_id", obj.get("id", ""))
    digest = hashlib.sha1(str(obj.get("text", "")).encode()).hexdigest()[:12]
    return f"vk:{group_id}:{event.get('type')}:{ids}:{msg_id}:{digest}"


class MalformedEvent(ValueError):
    """A long-poll event whose fields are missing or of the wrong type."""


def to_incoming(event: Mapping[str, Any], ctx: VkContext) -> IncomingMessage | None:
    """Map one long-poll event; None for events that are not messages (deletes, unknown types).

    Raises MalformedEvent (a ValueError) when the event is not shaped as VK documents it.
    """
    try:
        return _to_incoming(event, ctx)
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        # A broken payload must cost this one event (audited by the runner), not the stream.
        raise MalformedEvent(f"{type(exc).__name__}: {exc}") from exc


def _to_incoming(event: Mapping[str, Any], ctx: VkContext) -> IncomingMessage | None:
    kind = str(event.get("type", ""))
    if kind in ("message_new", "message_edit"):
        return _private_message(event, ctx)
    base, _, suffix = kind.rpartition("_")
    if base in COMMENT_EVENTS and suffix in ("new", "edit"):
        return _comment(event, ctx, base, edited=suffix == "edit")
    return None


def _comment_or_message(event: Mapping[str, Any]) -> Mapping[str, Any]:
    obj = event.get("object") or {}
    return obj.get("message") or obj


def _private_message(event: Mapping[str, Any], ctx: VkContext) -> IncomingMessage:
    msg = _comment_or_message(event)
    peer_id = int(msg["peer_id"])
    reply = msg.get("reply_message") or {}
    return _build(
        event,
        ctx,
        msg,
        chat_id=peer_id,
        message_id=int(msg.get("conversation_message_id") or msg.get("id") or 0),
        surface=Surface.GROUP if peer_id >= CHAT_START_ID else Surface.PRIVATE,
        reply_to=reply.get("conversation_message_id"),
        edited=event.get("type") == "message_edit",
        is_forward=bool(msg.get("fwd_messages")),
    )


def _comment(event: Mapping[str, Any], ctx: VkContext, base: str, edited: bool) -> IncomingMessage:
    obj = event.get("object") or {}
    surface, thread_field, owner_field = COMMENT_EVENTS[base]
    owner = obj.get(owner_field) or obj.get("owner_id") or -ctx.group_id
    return _build(
        event,
        ctx,
        obj,
        chat_id=int(owner),
        message_id=int(obj["id"]),
        surface=surface,
        thread_id=_int_or_none(obj.get(thread_field)),
        reply_to=_int_or_none(obj.get("reply_to_comment")),
        edited=edited,
    )


def _build(
    event: Mapping[str, Any], ctx: VkContext, obj: Mapping[str, Any], **fields: Any
) -> IncomingMessage:
    text = str(obj.get("text") or "")
    attachments = obj.get("attachments") or []
    chat_id = fields.pop("chat_id")
    return IncomingMessage(
        platform=Platform.VK,
        event_key=event_key(event, ctx.group_id),
        community=ctx.community,
        chat=ChatRef(Platform.VK, chat_id),
        author=to_author(int(obj.get("from_id") or 0), ctx.group_id),
        text=text,
        date=datetime.fromtimestamp(int(obj.get("date") or 0), UTC),
        links=extract_links(text, attachments),
        mentions=extract_mentions(text),
        attachments=tuple(_attachment_kind(a) for a in attachments),
        raw=dict(event),
        **fields,
    )


def to_author(from_id: int, group_id: int) -> UserRef:
    """Positive ids are users; `-group_id` is the community itself; other negatives: groups."""
    is_self = from_id == -group_id
    return UserRef(
        platform=Platform.VK,
        user_id=from_id,
        display_name=f"id{from_id}" if from_id > 0 else f"club{-from_id}",
        is_self=is_self,
        as_channel=from_id < 0 and not is_self,
    )


def extract_links(text: str, attachments: Sequence[Mapping[str, Any]] = ()) -> tuple[str, ...]:
    """URLs and bare domains in the text, plus link attachments, in order, without repeats."""
    found = [m.group(0).rstrip(".,;:!?)") for m in _URL.finditer(text)]
    rest = _URL.sub(" ", text)
    found += [m.group(0).rstrip(".,;:!?)") for m in _BARE_DOMAIN.finditer(rest)]
    found += [
        str(a["link"]["url"]) for a in attachments if a.get("type") == "link" and "link" in a
    ]
    return tuple(dict.fromkeys(found))


def extract_mentions(text: str) -> tuple[str, ...]:
    """Mentioned ids and screen names: `[id123|Name]` → "id123", `@durov` → "durov"."""
    found = _MARKUP_MENTION.findall(text) + _AT_MENTION.findall(text)
    return tuple(dict.fromkeys(found))


def _attachment_kind(attachment: Mapping[str, Any]) -> AttachmentKind:
    return ATTACHMENT_KINDS.get(str(attachment.get("type")), AttachmentKind.OTHER)


def _int_or_none(value: Any) -> int | None:
    return int(value) if value not in (None, "", 0) else None
