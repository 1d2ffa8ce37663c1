"""Telegram update → core `IncomingMessage`: a pure translation, no I/O.

Field mapping: `chat.id` → `chat.chat_id`, `message_id` → `message_id`, `message_thread_id` →
`thread_id` (comment threads and forum topics only), `reply_to_message.message_id` → `reply_to`.
Event keys are `tg:{chat}:{message}` and, for each edit, `tg:{chat}:{message}:{edit_date}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from aiogram.types import Message, MessageEntity, Update, User

from bot.core.model import (
    AttachmentKind,
    ChatRef,
    IncomingMessage,
    Platform,
    Surface,
    UserRef,
)

__all__ = ["SERVICE_USER_IDS", "MappingContext", "to_incoming"]

# Accounts Telegram puts in `from` when the real author is a chat: channel auto-forwards (777000),
# anonymous group admins (GroupAnonymousBot) and channels posting in groups (Channel_Bot).
TELEGRAM_SERVICE_ID = 777000
ANONYMOUS_ADMIN_ID = 1087968824
CHANNEL_BOT_ID = 136817688
SERVICE_USER_IDS = frozenset({TELEGRAM_SERVICE_ID, ANONYMOUS_ADMIN_ID, CHANNEL_BOT_ID})

_GROUP_TYPES = frozenset({"group", "supergroup"})
_URL_RE = re.compile(r"(?i)\b(?:https?://|www\.|t\.me/)[^\s<>\"')\]]+")
_ATTACHMENTS: tuple[tuple[str, AttachmentKind], ...] = (
    ("photo", AttachmentKind.PHOTO),
    ("video", AttachmentKind.VIDEO),
    ("animation", AttachmentKind.VIDEO),
    ("video_note", AttachmentKind.VIDEO),
    ("document", AttachmentKind.DOCUMENT),
    ("audio", AttachmentKind.AUDIO),
    ("voice", AttachmentKind.VOICE),
    ("sticker", AttachmentKind.STICKER),
    ("poll", AttachmentKind.POLL),
    ("contact", AttachmentKind.OTHER),
    ("location", AttachmentKind.OTHER),
    ("venue", AttachmentKind.OTHER),
    ("dice", AttachmentKind.OTHER),
    ("game", AttachmentKind.OTHER),
    ("story", AttachmentKind.OTHER),
)


@dataclass(frozen=True, slots=True)
class MappingContext:
    """What the mapper needs to know about our own setup."""

    bot_id: int
    communities: Mapping[int, str]  # chat id → rules.yaml community name
    linked_channels: frozenset[int] = frozenset()  # channels whose comments we moderate
    discussion_groups: frozenset[int] = frozenset()  # groups linked to one of those channels
    admin_ids: Mapping[int, frozenset[int]] = field(default_factory=dict)  # chat id → admins
    direct_community: str | None = None  # community for private messages; None ignores them


def to_incoming(event: Update | Message, ctx: MappingContext) -> IncomingMessage | None:
    """Map a message update (or a message) to the core model; None when it is not ours."""
    message = _message_of(event)
    if message is None:
        return None
    community = _community(message, ctx)
    if community is None or not _has_content(message):
        return None
    return IncomingMessage(
        platform=Platform.TELEGRAM,
        event_key=_event_key(message),
        community=community,
        chat=ChatRef(Platform.TELEGRAM, message.chat.id),
        message_id=message.message_id,
        author=_author(message, ctx),
        text=message.text or message.caption or "",
        date=message.date,
        surface=_surface(message, ctx),
        thread_id=_thread_id(message, ctx),
        reply_to=message.reply_to_message.message_id if message.reply_to_message else None,
        edited=message.edit_date is not None,
        links=_links(message),
        mentions=_mentions(message),
        attachments=_attachments(message),
        is_automatic_forward=bool(message.is_automatic_forward),
        is_forward=message.forward_origin is not None and not message.is_automatic_forward,
        raw=message.model_dump(mode="json", exclude_none=True, by_alias=True),
    )


def _message_of(event: Update | Message) -> Message | None:
    if isinstance(event, Message):
        return event
    return event.message or event.edited_message


def _community(message: Message, ctx: MappingContext) -> str | None:
    if message.chat.type == "private":
        return ctx.direct_community
    if message.chat.type not in _GROUP_TYPES:
        return None
    return ctx.communities.get(message.chat.id)


def _has_content(message: Message) -> bool:
    # Service messages (joins, pins, title changes) carry neither text nor media.
    has_text = bool(message.text or message.caption)
    return has_text or any(getattr(message, name) is not None for name, _ in _ATTACHMENTS)


def _event_key(message: Message) -> str:
    key = f"tg:{message.chat.id}:{message.message_id}"
    if message.edit_date is None:
        return key
    return f"{key}:{_unix(message.edit_date)}"


def _unix(value: datetime | int) -> int:
    return value if isinstance(value, int) else int(value.timestamp())


def _author(message: Message, ctx: MappingContext) -> UserRef:
    if message.sender_chat is not None:
        return _chat_author(message, ctx)
    user = message.from_user
    if user is None or user.id in SERVICE_USER_IDS:
        return _service_author(message, user)
    admins = ctx.admin_ids.get(message.chat.id, frozenset())
    return _user_ref(user, is_admin=user.id in admins, is_self=user.id == ctx.bot_id)


def _user_ref(user: User, *, is_admin: bool, is_self: bool) -> UserRef:
    return UserRef(
        platform=Platform.TELEGRAM,
        user_id=user.id,
        display_name=user.full_name,
        username=user.username,
        is_bot=user.is_bot,
        is_admin=is_admin,
        is_self=is_self,
    )


def _chat_author(message: Message, ctx: MappingContext) -> UserRef:
    # Anonymous admins post as the group itself; channels post as themselves (also the
    # automatic forwards of linked channel posts). Either way the author is a chat, not a person.
    sender = message.sender_chat
    assert sender is not None
    own = sender.id == message.chat.id or sender.id in ctx.linked_channels
    return UserRef(
        platform=Platform.TELEGRAM,
        user_id=sender.id,
        display_name=sender.title or sender.full_name,
        username=sender.username,
        is_admin=own,
        as_channel=True,
    )


def _service_author(message: Message, user: User | None) -> UserRef:
    user_id = user.id if user is not None else message.chat.id
    name = user.full_name if user is not None else message.chat.full_name
    return UserRef(Platform.TELEGRAM, user_id, name, as_channel=True, is_bot=True)


def _surface(message: Message, ctx: MappingContext) -> Surface:
    if message.chat.type == "private":
        return Surface.PRIVATE
    return Surface.CHANNEL_COMMENT if _is_comment(message, ctx) else Surface.GROUP


def _is_comment(message: Message, ctx: MappingContext) -> bool:
    """A comment is a reply in the thread that a linked channel post opened in its group."""
    if message.is_automatic_forward or message.message_thread_id is None:
        return False
    if message.is_topic_message:  # forum topics also use message_thread_id
        return False
    parent = message.reply_to_message
    if parent is not None and parent.is_automatic_forward:
        return True
    # Deeper replies point at another comment but keep the auto-forward's thread id.
    return message.chat.id in ctx.discussion_groups


def _thread_id(message: Message, ctx: MappingContext) -> int | None:
    if message.is_automatic_forward:
        return message.message_id  # the post opens the comment thread it heads
    if message.is_topic_message or _is_comment(message, ctx):
        return message.message_thread_id
    return None


def _entities(message: Message) -> tuple[str, list[MessageEntity]]:
    if message.text is not None:
        return message.text, list(message.entities or ())
    return message.caption or "", list(message.caption_entities or ())


def _entity_text(entity: MessageEntity, text: str) -> list[str]:
    # Offsets are UTF-16 units; a payload whose entities do not fit its text (or whose text holds
    # lone surrogates) must cost the entity, not the message.
    try:
        return [entity.extract_from(text)]
    except (UnicodeError, IndexError):
        return []


def _links(message: Message) -> tuple[str, ...]:
    text, entities = _entities(message)
    found: list[str] = []
    for entity in entities:
        if entity.type == "url":
            found.extend(_entity_text(entity, text))
        elif entity.type == "text_link" and entity.url:
            found.append(entity.url)
    found.extend(_URL_RE.findall(text))
    return tuple(dict.fromkeys(link.rstrip(".,;:!?") for link in found))


def _mentions(message: Message) -> tuple[str, ...]:
    text, entities = _entities(message)
    found: list[str] = []
    for entity in entities:
        if entity.type == "mention":
            found.extend(_entity_text(entity, text))
        elif entity.type == "text_mention" and entity.user is not None:
            user = entity.user
            found.append(f"@{user.username}" if user.username else f"tg://user?id={user.id}")
    return tuple(dict.fromkeys(found))


def _attachments(message: Message) -> tuple[AttachmentKind, ...]:
    names = [name for name, _ in _ATTACHMENTS if getattr(message, name) is not None]
    if "animation" in names:
        names.remove("document")  # Telegram repeats a GIF as a document for old clients
    kinds = dict(_ATTACHMENTS)
    return tuple(dict.fromkeys(kinds[name] for name in names))
