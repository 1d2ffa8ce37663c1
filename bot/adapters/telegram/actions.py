"""`PlannedAction` → Bot API calls for Telegram messages (the `Actions` port)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import ChatPermissions, Message, ReplyParameters

from bot.adapters.telegram.errors import attempt
from bot.adapters.telegram.moderators import TelegramModeratorsChat
from bot.core.model import ActionKind, ActionResult, IncomingMessage, PlannedAction, Surface
from bot.core.ports import EscalationCard

__all__ = ["DELETE_WINDOW", "TelegramActions"]

log = logging.getLogger(__name__)

DELETE_WINDOW = timedelta(hours=48)  # bots may not delete messages older than this
_NON_IDEMPOTENT = frozenset({ActionKind.REPLY, ActionKind.ESCALATE})  # both send a message
_MUTED = ChatPermissions(**dict.fromkeys(ChatPermissions.model_fields, False))
_GONE = ("message to delete not found", "message_id_invalid")


def _now() -> datetime:
    return datetime.now(UTC)


class TelegramActions:
    """Executes planned actions on Telegram; platform errors come back as `ActionResult`."""

    def __init__(
        self,
        bot: Bot,
        moderators: TelegramModeratorsChat | None = None,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.bot, self.moderators, self._clock = bot, moderators, clock

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        """Deletes, bans and mutes may be repeated; replies and cards would be posted twice."""
        return action.kind not in _NON_IDEMPOTENT

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        """Perform one action; never raises."""
        if action.kind is ActionKind.ESCALATE:
            return await self._escalate(message, action, card)
        refusal = _refusal(message, action)
        if refusal is not None:
            return ActionResult(ok=False, error=refusal)
        perform = {
            ActionKind.REPLY: self._reply,
            ActionKind.DELETE: self._delete,
            ActionKind.BAN: self._ban,
            ActionKind.MUTE: self._mute,
        }[action.kind]
        return await perform(message, action)

    async def _reply(self, message: IncomingMessage, action: PlannedAction) -> ActionResult:
        if not action.text:
            return ActionResult(ok=False, error="reply without text")
        sent = await attempt(self._send_reply(message, action.text), idempotent=False)
        if isinstance(sent, ActionResult):
            return sent
        return ActionResult(ok=True, platform_ref=f"{sent.chat.id}:{sent.message_id}")

    async def _send_reply(self, message: IncomingMessage, text: str) -> Message:
        # Comments live in the thread the channel post opened in the discussion group; replying
        # there keeps the answer under the post. If the comment is gone, post anyway.
        return await self.bot.send_message(
            message.chat.chat_id,
            text,
            message_thread_id=message.thread_id,
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
            parse_mode=None,
        )

    async def _delete(self, message: IncomingMessage, action: PlannedAction) -> ActionResult:
        if self._clock() - message.date > DELETE_WINDOW:
            return ActionResult(ok=False, error="too old to delete (48 h)")
        call = self.bot.delete_message(message.chat.chat_id, message.message_id)
        result = await attempt(self._tolerate_gone(call), idempotent=True)
        return result if isinstance(result, ActionResult) else ActionResult(ok=True)

    @staticmethod
    async def _tolerate_gone(call: Any) -> bool:
        # A repeat after a lost response, or a human moderator who was faster: already done.
        try:
            return bool(await call)
        except TelegramBadRequest as error:
            if any(text in error.message.lower() for text in _GONE):
                log.info("message already deleted: %s", error.message)
                return True
            raise

    async def _ban(self, message: IncomingMessage, action: PlannedAction) -> ActionResult:
        if message.surface is Surface.PRIVATE:
            return ActionResult(ok=False, error="cannot ban in a private chat")
        chat_id, author = message.chat.chat_id, message.author
        if author.as_channel:
            # Channels and anonymous senders are banned as chats, not users.
            call = self.bot.ban_chat_sender_chat(chat_id, author.user_id)
        else:
            call = self.bot.ban_chat_member(chat_id, author.user_id, until_date=action.duration)
        return _done(await attempt(call, idempotent=True))

    async def _mute(self, message: IncomingMessage, action: PlannedAction) -> ActionResult:
        if message.surface is Surface.PRIVATE or message.author.as_channel:
            return ActionResult(ok=False, error="only users in a group can be muted")
        # until_date must be a timedelta/datetime: aiogram sends an int as an absolute timestamp.
        call = self.bot.restrict_chat_member(
            message.chat.chat_id,
            message.author.user_id,
            _MUTED,
            use_independent_chat_permissions=True,
            until_date=action.duration,
        )
        return _done(await attempt(call, idempotent=True))

    async def _escalate(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        if self.moderators is None:
            return ActionResult(ok=False, error="no moderators' chat configured")
        return await self.moderators.execute(message, action, card)


def _refusal(message: IncomingMessage, action: PlannedAction) -> str | None:
    """Never punish the community's own voice, whatever the rules decided."""
    if action.kind is ActionKind.REPLY:
        return None
    # Moderation bots have deleted the channel posts mirrored into their discussion groups.
    if message.is_automatic_forward:
        return "refusing to act on a channel post forwarded into its discussion group"
    if message.author.is_self:
        return "refusing to act on the bot's own message"
    return None


def _done(result: object) -> ActionResult:
    return result if isinstance(result, ActionResult) else ActionResult(ok=True)
