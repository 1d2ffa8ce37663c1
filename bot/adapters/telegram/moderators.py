"""The moderators' Telegram chat: escalation cards, one-tap choices and who may tap them.

A card is Telegram HTML with an inline keyboard whose callback data is `esc:<token>:<choice>`.
It renders messages from any platform (VK too) from the neutral `IncomingMessage` fields.
A moderator may also answer in their own words by replying to the card.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)

from bot.adapters.telegram.errors import attempt
from bot.core.model import (
    ActionKind,
    ActionResult,
    IncomingMessage,
    Label,
    PlannedAction,
    Platform,
    Surface,
    UserRef,
    Verdict,
)
from bot.core.ports import (
    EscalationCard,
    ModeratorAct,
    ModeratorActResult,
    ModeratorChoice,
    ModeratorDesk,
)

__all__ = [
    "STRINGS",
    "CardController",
    "ModeratorAuth",
    "RenderedCard",
    "TelegramModeratorsChat",
    "card_token",
    "original_link",
    "parse_callback",
    "render_card",
    "shorten",
    "text_for",
]

log = logging.getLogger(__name__)

MAX_QUOTE = 700
SHOWN_LABELS = (Label.SPAM, Label.NEGATIVE, Label.QUESTION)
CALLBACK_PREFIX = "esc"
_CALLBACK_LIMIT = 64  # bytes, a Bot API limit on callback_data
_TOKEN_RE = re.compile(r"\besc:([\w-]+)")
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

STRINGS: dict[str, dict[str, str]] = {
    "ru": {
        "title": "Нужен модератор",
        "author": "Автор",
        "reason": "Причина",
        "scores": "Оценки",
        "why": "Почему",
        "open": "Открыть сообщение",
        "suggested": "Предлагаемый ответ",
        "hint": "Ответьте на эту карточку, чтобы ответить автору своими словами.",
        "spam": "спам",
        "negative": "негатив",
        "question": "вопрос",
        "send": "✉️ Отправить ответ",
        "delete": "🗑 Удалить",
        "ban": "⛔ Забанить",
        "fine": "👌 Всё в порядке",
        "done_send": "Отправлен предложенный ответ",
        "done_reply": "Отправлен ответ модератора",
        "done_delete": "Сообщение удалено",
        "done_ban": "Автор заблокирован",
        "done_fine": "Оставлено без действий",
        "by": "модератор",
        "unknown_button": "Эта кнопка больше не работает.",
        "not_allowed": "Только модераторы могут это делать.",
        "failed": "Не получилось, попробуйте ещё раз.",
        "rights_gone": "Бот больше не состоит в чате «{chat}».",
        "rights_not_admin": "Бот не администратор в чате «{chat}»: он не может удалять и банить.",
        "rights_missing": "Боту не хватает прав в чате «{chat}»: {rights}.",
        "rights_unknown": "Не удалось проверить права бота в чате «{chat}»: {error}",
        "can_delete_messages": "удалять сообщения",
        "can_restrict_members": "блокировать участников",
    },
    "en": {
        "title": "Moderator needed",
        "author": "Author",
        "reason": "Reason",
        "scores": "Scores",
        "why": "Why",
        "open": "Open the message",
        "suggested": "Suggested reply",
        "hint": "Reply to this card to answer the author in your own words.",
        "spam": "spam",
        "negative": "negative",
        "question": "question",
        "send": "✉️ Send reply",
        "delete": "🗑 Delete",
        "ban": "⛔ Ban",
        "fine": "👌 It's fine",
        "done_send": "Suggested reply sent",
        "done_reply": "Moderator's reply sent",
        "done_delete": "Message deleted",
        "done_ban": "Author banned",
        "done_fine": "Left as is",
        "by": "moderator",
        "unknown_button": "This button no longer works.",
        "not_allowed": "Only moderators can do this.",
        "failed": "That did not work, please try again.",
        "rights_gone": "The bot is no longer a member of “{chat}”.",
        "rights_not_admin": "The bot is not an administrator of “{chat}”: it can't delete or ban.",
        "rights_missing": "The bot lacks rights in “{chat}”: {rights}.",
        "rights_unknown": "Could not check the bot's rights in “{chat}”: {error}",
        "can_delete_messages": "delete messages",
        "can_restrict_members": "ban and restrict members",
    },
}


def text_for(language: str, key: str, **values: str) -> str:
    """A localised string of the moderators' chat ("ru" or "en"; anything else is English)."""
    return STRINGS.get(language, STRINGS["en"])[key].format(**values)


_t = text_for


@dataclass(frozen=True, slots=True)
class RenderedCard:
    """A card ready to send: HTML text and its keyboard."""

    text: str
    markup: InlineKeyboardMarkup


# ------------------------------------------------------------------------------------ rendering


def render_card(card: EscalationCard, language: str = "ru") -> RenderedCard:
    """Render an escalation card as Telegram HTML with its one-tap keyboard."""
    lines = [
        f"⚠️ <b>{_t(language, 'title')}</b> · {html.escape(card.message.community)}",
        f"<b>{_t(language, 'author')}:</b> {author_html(card.message)}",
        f"<b>{_t(language, 'reason')}:</b> {html.escape(card.reason)}",
        *_verdict_lines(card.verdict, language),
        f"<blockquote>{html.escape(shorten(card.message.text or '—'))}</blockquote>",
        *_attachment_lines(card.message),
        *_link_lines(card.message, language),
        *_suggestion_lines(card.escalation.suggested_reply, language),
        f"<i>{_t(language, 'hint')}</i>",
        f"<code>{CALLBACK_PREFIX}:{html.escape(card.escalation.token)}</code>",
    ]
    return RenderedCard("\n".join(lines), _keyboard(card, language))


def shorten(text: str, limit: int = MAX_QUOTE) -> str:
    """Cut plain text to `limit` characters at a word boundary (escape HTML after this)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"


def author_html(message: IncomingMessage) -> str:
    """The author's name linked to their profile on their platform."""
    author = message.author
    name = html.escape(author.display_name or str(author.user_id))
    link = profile_link(author)
    named = f'<a href="{html.escape(link)}">{name}</a>' if link else name
    handle = f" (@{html.escape(author.username)})" if author.username else ""
    return f"{named}{handle} · id {author.user_id}"


def profile_link(author: UserRef) -> str | None:
    """A URL of the author's profile, or None when there is none to link."""
    if author.platform is Platform.VK:
        prefix = "club" if author.user_id < 0 else "id"
        return f"https://vk.com/{prefix}{abs(author.user_id)}"
    if author.username:
        return f"https://t.me/{author.username}"
    return None if author.as_channel else f"tg://user?id={author.user_id}"


def original_link(message: IncomingMessage) -> str | None:
    """A link to the original message, when the platform has one."""
    if message.platform is Platform.VK:
        return _vk_link(message)
    return _telegram_link(message)


def _telegram_link(message: IncomingMessage) -> str | None:
    chat_id = message.chat.chat_id
    # Supergroup ids are -100<internal id>; t.me/c links use the internal id. Basic groups and
    # private chats have no message links.
    if not str(chat_id).startswith("-100"):
        return None
    link = f"https://t.me/c/{str(chat_id)[4:]}/{message.message_id}"
    if message.surface is Surface.CHANNEL_COMMENT and message.thread_id:
        link += f"?thread={message.thread_id}"
    return link


_VK_OBJECTS = {
    Surface.PHOTO_COMMENT: "photo",
    Surface.VIDEO_COMMENT: "video",
    Surface.MARKET_COMMENT: "product",
}


def _vk_link(message: IncomingMessage) -> str | None:
    owner = -abs(message.chat.chat_id)  # community-owned objects have a negative owner id
    thread, comment = message.thread_id, message.message_id
    if message.surface is Surface.WALL_COMMENT and thread:
        return f"https://vk.com/wall{owner}_{thread}?reply={comment}"
    if message.surface is Surface.BOARD_COMMENT and thread:
        return f"https://vk.com/topic{owner}_{thread}?post={comment}"
    if message.surface in _VK_OBJECTS and thread:
        return f"https://vk.com/{_VK_OBJECTS[message.surface]}{owner}_{thread}"
    if message.surface is Surface.PRIVATE:
        return f"https://vk.com/gim{abs(owner)}?sel={message.author.user_id}"
    return None


def _verdict_lines(verdict: Verdict | None, language: str) -> list[str]:
    if verdict is None:
        return []
    scores = " · ".join(f"{_t(language, lb.value)} {verdict.score(lb):.2f}" for lb in SHOWN_LABELS)
    lines = [f"<b>{_t(language, 'scores')}:</b> {scores}"]
    reasons = [html.escape(shorten(r, 120)) for r in verdict.reasons()[:5]]
    if reasons:
        lines.append(f"<b>{_t(language, 'why')}:</b> " + "; ".join(reasons))
    return lines


def _attachment_lines(message: IncomingMessage) -> list[str]:
    kinds = ", ".join(kind.value for kind in message.attachments)
    return [f"📎 {kinds}"] if kinds else []


def _link_lines(message: IncomingMessage, language: str) -> list[str]:
    link = original_link(message)
    return [f'<a href="{html.escape(link)}">{_t(language, "open")}</a>'] if link else []


def _suggestion_lines(suggested: str | None, language: str) -> list[str]:
    if not suggested:
        return []
    return [f"<b>{_t(language, 'suggested')}:</b>", f"<i>{html.escape(shorten(suggested))}</i>"]


def _keyboard(card: EscalationCard, language: str) -> InlineKeyboardMarkup:
    choices = [ModeratorChoice.DELETE, ModeratorChoice.BAN, ModeratorChoice.FINE]
    if card.escalation.suggested_reply:
        choices.insert(0, ModeratorChoice.SEND_SUGGESTED)
    buttons = [
        InlineKeyboardButton(
            text=_t(language, choice.value),
            callback_data=callback_data(card.escalation.token, choice),
        )
        for choice in choices
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[:2], buttons[2:]])


def callback_data(token: str, choice: ModeratorChoice) -> str:
    """`esc:<token>:<choice>`; raises ValueError beyond Telegram's 64-byte limit."""
    data = f"{CALLBACK_PREFIX}:{token}:{choice.value}"
    if len(data.encode()) > _CALLBACK_LIMIT:
        raise ValueError(f"escalation token too long for callback data: {len(token)} chars")
    return data


def parse_callback(data: str) -> tuple[str, ModeratorChoice] | None:
    """Token and choice from callback data, or None when it is not one of our buttons."""
    prefix, _, rest = data.partition(":")
    token, _, choice = rest.rpartition(":")
    if prefix != CALLBACK_PREFIX or not token:
        return None
    try:
        return token, ModeratorChoice(choice)
    except ValueError:
        return None


def card_token(card: Message | None) -> str | None:
    """The escalation token of a card message (from its buttons, else from its text)."""
    if card is None:
        return None
    markup = card.reply_markup
    if isinstance(markup, InlineKeyboardMarkup):
        for row in markup.inline_keyboard:
            parsed = parse_callback(row[0].callback_data or "") if row else None
            if parsed:
                return parsed[0]
    found = _TOKEN_RE.search(card.text or "")
    return found.group(1) if found else None


def render_done(act: ModeratorAct, result: ModeratorActResult, language: str) -> str:
    """The line added to a card once a moderator acted on it."""
    escalation = result.escalation
    when = escalation.resolved_at if escalation and escalation.resolved_at else datetime.now(UTC)
    who = html.escape(act.moderator_name or str(act.moderator_id))
    done = _t(language, f"done_{act.choice.value}")
    return f"✅ <b>{done}</b> — {_t(language, 'by')} {who}, {when:%Y-%m-%d %H:%M} UTC"


# ------------------------------------------------------------------------------ the chat itself


class TelegramModeratorsChat:
    """Posts cards to the moderators' chat and updates them after an act.

    It is also an `Actions` for ESCALATE alone, so cards about VK messages go through it too.
    """

    def __init__(self, bot: Bot, chat_id: int, language: str = "ru") -> None:
        self.bot, self.chat_id, self.language = bot, chat_id, language

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        """Post the card of an ESCALATE action (any platform); other kinds are refused."""
        if action.kind is not ActionKind.ESCALATE:
            return ActionResult(ok=False, error=f"the moderators' chat cannot {action.kind}")
        if card is None:
            return ActionResult(ok=False, error="escalation without a card")
        return await self.post(card)

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        """Posting a card twice would show it twice."""
        return False

    async def post(self, card: EscalationCard) -> ActionResult:
        """Send a card; `platform_ref` is `"<chat_id>:<message_id>"` for `set_card`."""
        try:
            rendered = render_card(card, self.language)
        except ValueError as error:
            return ActionResult(ok=False, error=str(error))
        sent = await attempt(self._send(rendered.text, rendered.markup), idempotent=False)
        if isinstance(sent, ActionResult):
            return sent
        return ActionResult(ok=True, platform_ref=f"{self.chat_id}:{sent.message_id}")

    async def show_act(
        self, card_message: Message, act: ModeratorAct, result: ModeratorActResult
    ) -> None:
        """Rewrite the card with what was done, by whom and when; drop its keyboard."""
        if result.card is not None:
            base = render_card(result.card, self.language).text
        else:
            base = card_message.html_text
        text = f"{base}\n\n{render_done(act, result, self.language)}"
        edit = self.bot.edit_message_text(
            text,
            chat_id=card_message.chat.id,
            message_id=card_message.message_id,
            parse_mode="HTML",
            link_preview_options=_NO_PREVIEW,
        )
        await attempt(edit, idempotent=True)  # without reply_markup Telegram drops the keyboard

    async def notify(self, text: str) -> ActionResult:
        """Send a plain notice (e.g. missing rights) to the moderators."""
        sent = await attempt(self._send(html.escape(text), None), idempotent=False)
        return sent if isinstance(sent, ActionResult) else ActionResult(ok=True)

    async def _send(self, text: str, markup: InlineKeyboardMarkup | None) -> Message:
        return await self.bot.send_message(
            self.chat_id,
            text,
            parse_mode="HTML",
            reply_markup=markup,
            link_preview_options=_NO_PREVIEW,
        )


class ModeratorAuth:
    """Who may act on cards: configured moderator ids, else the moderators' chat admins."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        moderator_ids: frozenset[int] = frozenset(),
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot, self.chat_id, self.moderator_ids = bot, chat_id, moderator_ids
        self.ttl, self._clock = ttl, clock
        self._admins: frozenset[int] = frozenset()
        self._fetched_at: float | None = None

    async def allows(self, user_id: int) -> bool:
        """True when the user may act on escalation cards."""
        if self.moderator_ids:
            return user_id in self.moderator_ids
        return user_id in await self._chat_admins()

    async def _chat_admins(self) -> frozenset[int]:
        now = self._clock()
        if self._fetched_at is not None and now - self._fetched_at < self.ttl:
            return self._admins
        admins = await attempt(self.bot.get_chat_administrators(self.chat_id), idempotent=True)
        if isinstance(admins, ActionResult):
            return self._admins  # keep the last known list while Telegram is unreachable
        self._admins = frozenset(a.user.id for a in admins if not a.user.is_bot)
        self._fetched_at = now
        return self._admins


class CardController:
    """Turns taps and replies on cards into `ModeratorAct`s for the desk."""

    def __init__(
        self, desk: ModeratorDesk, chat: TelegramModeratorsChat, auth: ModeratorAuth
    ) -> None:
        self.desk, self.chat, self.auth = desk, chat, auth

    async def on_callback(self, query: CallbackQuery) -> None:
        """A moderator tapped a card button."""
        language = self.chat.language
        parsed = parse_callback(query.data or "")
        if parsed is None:
            await attempt(
                query.answer(_t(language, "unknown_button"), show_alert=True), idempotent=True
            )
            return
        if not await self.auth.allows(query.from_user.id):
            await attempt(
                query.answer(_t(language, "not_allowed"), show_alert=True), idempotent=True
            )
            return
        act = ModeratorAct(parsed[0], parsed[1], query.from_user.id, query.from_user.full_name)
        result = await self._act(act)
        await attempt(
            query.answer(result.message[:200], show_alert=not result.ok), idempotent=True
        )
        if result.ok and isinstance(query.message, Message):
            await self.chat.show_act(query.message, act, result)

    async def on_reply(self, message: Message) -> None:
        """A moderator replied to a card with their own answer for the author."""
        card, user = message.reply_to_message, message.from_user
        token = card_token(card)
        if token is None or card is None or user is None or not message.text:
            return
        if not await self.auth.allows(user.id):
            return
        act = ModeratorAct(token, ModeratorChoice.OWN_REPLY, user.id, user.full_name, message.text)
        result = await self._act(act)
        await attempt(message.reply(result.message), idempotent=False)
        if result.ok:
            await self.chat.show_act(card, act, result)

    async def _act(self, act: ModeratorAct) -> ModeratorActResult:
        try:
            return await self.desk.act(act)
        except Exception:
            log.exception("moderator act on %s failed", act.token)
            return ModeratorActResult(ok=False, message=_t(self.chat.language, "failed"))
