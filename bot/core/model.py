"""The platform-neutral model: what came in, what we made of it, what we decided and did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from classifiers.contract import Label, Score, Verdict

__all__ = [
    "ActionKind",
    "ActionResult",
    "AuthorStats",
    "ChatRef",
    "Decision",
    "IncomingMessage",
    "Label",
    "Outcome",
    "PlannedAction",
    "Platform",
    "Score",
    "UserRef",
    "Verdict",
]


class Platform(StrEnum):
    """Where a message came from."""

    TELEGRAM = "telegram"
    VK = "vk"


class AttachmentKind(StrEnum):
    """Kinds of media a message may carry (captions count as text)."""

    PHOTO = "photo"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"
    VOICE = "voice"
    STICKER = "sticker"
    LINK = "link"
    POLL = "poll"
    OTHER = "other"


class Surface(StrEnum):
    """Where on the platform the message lives; decides how we reply and delete."""

    GROUP = "group"  # Telegram group/supergroup message
    CHANNEL_COMMENT = "channel_comment"  # Telegram comment under a channel post (discussion group)
    PRIVATE = "private"  # a direct message to the bot / community
    WALL_COMMENT = "wall_comment"
    PHOTO_COMMENT = "photo_comment"
    VIDEO_COMMENT = "video_comment"
    MARKET_COMMENT = "market_comment"
    BOARD_COMMENT = "board_comment"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A chat, group or community on one platform."""

    platform: Platform
    chat_id: int


@dataclass(frozen=True, slots=True)
class UserRef:
    """The author of a message as the platform reports it."""

    platform: Platform
    user_id: int
    display_name: str = ""
    username: str | None = None
    is_bot: bool = False
    is_admin: bool = False
    is_self: bool = False  # the bot (or the community) itself
    as_channel: bool = False  # posted on behalf of a channel or as an anonymous admin


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One comment or message, mapped from a platform event by an adapter."""

    platform: Platform
    event_key: str  # unique per platform event; the inbox dedupes on it
    community: str  # rules.yaml community name
    chat: ChatRef
    message_id: int
    author: UserRef
    text: str
    date: datetime
    surface: Surface = Surface.GROUP
    thread_id: int | None = None  # Telegram thread / VK post, topic, photo, video or item id
    reply_to: int | None = None
    edited: bool = False
    links: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    attachments: tuple[AttachmentKind, ...] = ()
    is_automatic_forward: bool = False  # a channel post mirrored into its discussion group
    is_forward: bool = False
    language: str | None = None  # "ru" / "en" when known; otherwise guessed from the text
    raw: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class AuthorStats:
    """What we remember about an author in one community."""

    clean_messages: int = 0
    strikes: int = 0
    replies_last_hour: int = 0
    is_banned: bool = False
    is_trusted_by_moderator: bool = False


class ActionKind(StrEnum):
    """What the bot can do about a message."""

    REPLY = "reply"
    DELETE = "delete"
    BAN = "ban"
    MUTE = "mute"
    ESCALATE = "escalate"


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One action to perform, with the idempotency key that makes retries safe."""

    kind: ActionKind
    rule_id: str
    idempotency_key: str
    text: str | None = None  # reply text or escalation summary
    duration: timedelta | None = None  # mute or timed ban; None = forever
    reason: str = ""
    answer_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rules decided about one message, and why."""

    rule_id: str
    labels: tuple[Label, ...]
    actions: tuple[PlannedAction, ...]
    reason: str
    dry_run: bool = False
    strike: bool = False  # the message counts as a spam strike against its author
    clean: bool = False  # the message counts toward the author's trust


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What the platform said when an action was executed."""

    ok: bool
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    platform_ref: str | None = None  # e.g. the id of the reply we posted
    # The call may have reached the platform (a dropped connection, a 5xx) and repeating it
    # could do it twice: recorded as uncertain, never retried.
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of running one message through the pipeline."""

    inbox_id: int
    decision: Decision | None
    verdict: Verdict | None
    results: tuple[tuple[PlannedAction, ActionResult], ...] = ()
    duplicate: bool = False
    skipped_reason: str | None = None
