"""Telegram updates → `Intake`, card taps → `ModeratorDesk`, with at-least-once delivery.

Polling: aiogram confirms an update at the next `getUpdates` once the loop body for it has
returned. With `handle_as_tasks=False` that body is our awaited handler, so each message is stored
by `intake.receive` before Telegram forgets it; a crash means redelivery, and the inbox dedupes.
Webhook (see `webhook.py`): the same Dispatcher, and the 200 is sent only after the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberUpdated,
    ErrorEvent,
    Message,
)
from aiogram.utils.backoff import BackoffConfig

from bot.adapters.telegram.errors import TelegramConfigError, attempt
from bot.adapters.telegram.mapping import MappingContext, to_incoming
from bot.adapters.telegram.moderators import (
    CardController,
    ModeratorAuth,
    TelegramModeratorsChat,
    shorten,
    text_for,
)
from bot.adapters.telegram.webhook import TelegramWebhook, WebhookConfig
from bot.core.model import ActionResult, IncomingMessage
from bot.core.ports import Intake, ModeratorDesk

__all__ = ["ALLOWED_UPDATES", "ModeratorCommands", "TelegramRunner"]

log = logging.getLogger(__name__)

# Explicit, because omitting allowed_updates keeps whatever the last poller asked for, and the
# Bot API default leaves out chat_member.
ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "my_chat_member",
    "chat_member",
]
REQUIRED_RIGHTS = ("can_delete_messages", "can_restrict_members")
MAX_TEXT = 4000  # a Bot API message holds 4096 characters


class ModeratorCommands(Protocol):
    """The moderators' chat commands; implemented by the composition root."""

    async def help(self, lang: str) -> str:
        """/help: what the bot does and which commands exist."""
        ...

    async def check(self, text: str) -> str:
        """/check TEXT: how the bot would classify and decide a text."""
        ...

    async def stats(self) -> str:
        """/stats: a short activity summary."""
        ...

    async def reload(self) -> str:
        """/reload: reload rules.yaml and say what happened."""
        ...


# --------------------------------------------------------------------------------- handlers


async def on_message(message: Message, feed: IntakeFeed) -> None:
    """A group, comment or private message (new or edited) goes to the inbox."""
    incoming = to_incoming(message, feed.context)
    if incoming is not None:
        await feed.receive(incoming)


async def on_card_callback(query: CallbackQuery, cards: CardController) -> None:
    """A tap on an escalation card."""
    await cards.on_callback(query)


async def on_card_reply(message: Message, cards: CardController) -> None:
    """A moderator's own answer, written as a reply to a card."""
    await cards.on_reply(message)


async def on_command(
    message: Message,
    command: CommandObject,
    commands: ModeratorCommands,
    auth: ModeratorAuth,
    language: str,
) -> None:
    """/help, /check, /stats and /reload in the moderators' chat."""
    if message.from_user is None or not await auth.allows(message.from_user.id):
        return
    answer = await run_command(commands, command, language)
    await attempt(message.reply(shorten(answer, MAX_TEXT), parse_mode=None), idempotent=False)


async def on_my_chat_member(event: ChatMemberUpdated, intake: Intake, guard: RightsGuard) -> None:
    """The bot was added, removed, promoted or demoted somewhere."""
    detail = membership_detail(event)
    await intake.record_event("bot-membership-changed", detail)
    await guard.check_event(event)


async def on_chat_member(event: ChatMemberUpdated, intake: Intake, feed: IntakeFeed) -> None:
    """Someone joined, left, was promoted or restricted (needs the bot to be an admin)."""
    feed.note_membership(event)
    await intake.record_event("member-changed", membership_detail(event))


async def on_error(event: ErrorEvent) -> bool:
    """Last resort: log the update and keep polling."""
    log.error(
        "update %s failed: %r", event.update.update_id, event.exception, exc_info=event.exception
    )
    return True


async def run_command(commands: ModeratorCommands, command: CommandObject, language: str) -> str:
    """Dispatch one moderators' command to the injected implementation."""
    name, args = command.command.lower(), (command.args or "").strip()
    if name == "check":
        return await commands.check(args) if args else "/check TEXT"
    if name == "stats":
        return await commands.stats()
    if name == "reload":
        return await commands.reload()
    return await commands.help(language)


def membership_detail(event: ChatMemberUpdated) -> dict[str, Any]:
    """Audit detail of a membership change."""
    new = event.new_chat_member
    detail: dict[str, Any] = {
        "platform": "telegram",
        "chat_id": event.chat.id,
        "user_id": new.user.id,
        "by": event.from_user.id,
        "old": event.old_chat_member.status,
        "new": new.status,
    }
    if isinstance(new, ChatMemberAdministrator):
        detail.update({right: getattr(new, right) for right in REQUIRED_RIGHTS})
    return detail


# --------------------------------------------------------------------------------- services


class IntakeFeed:
    """The mapping context plus a durable hand-off to the intake."""

    def __init__(
        self, intake: Intake, context: MappingContext, retry_delays: tuple[float, ...]
    ) -> None:
        self.intake, self.context, self.retry_delays = intake, context, retry_delays

    async def receive(self, message: IncomingMessage) -> None:
        """Store a message, retrying while the inbox fails: the offset must not move past it.

        A store outage therefore pauses polling instead of losing messages; `stop()` still
        interrupts the wait, and the update is redelivered after the restart.
        """
        failures = 0
        while True:
            try:
                await self.intake.receive(message)
                return
            except Exception:
                if not self.retry_delays:
                    raise
                delay = self.retry_delays[min(failures, len(self.retry_delays) - 1)]
                log.exception("inbox refused %s, retrying in %ss", message.event_key, delay)
                failures += 1
                await asyncio.sleep(delay)

    def set_admins(self, chat_id: int, admins: frozenset[int]) -> None:
        """Replace the known administrators of a chat."""
        admin_ids = {**self.context.admin_ids, chat_id: admins}
        self.context = replace(self.context, admin_ids=admin_ids)

    def note_membership(self, event: ChatMemberUpdated) -> None:
        """Keep the admin list current as people are promoted and demoted."""
        chat_id, member = event.chat.id, event.new_chat_member
        if chat_id not in self.context.communities:
            return
        admins = set(self.context.admin_ids.get(chat_id, frozenset()))
        if member.status in ("administrator", "creator"):
            admins.add(member.user.id)
        else:
            admins.discard(member.user.id)
        self.set_admins(chat_id, frozenset(admins))


class RightsGuard:
    """Checks the bot's rights in the community chats and warns the moderators."""

    def __init__(
        self,
        bot: Bot,
        chats: TelegramModeratorsChat | None,
        communities: Mapping[int, str],
        language: str = "ru",
    ) -> None:
        self.bot, self.chats, self.communities = bot, chats, communities
        self.language = chats.language if chats is not None else language

    async def check_chat(self, chat_id: int) -> str | None:
        """Ask Telegram about our rights in a chat; return the problem, if any."""
        member = await attempt(self.bot.get_chat_member(chat_id, self.bot.id), idempotent=True)
        if isinstance(member, ActionResult):
            return self._text("rights_unknown", chat_id, error=member.error or "?")
        return self.problem(chat_id, member)

    async def check_event(self, event: ChatMemberUpdated) -> None:
        """Warn when a membership change left the bot unable to moderate a community chat."""
        if event.chat.id in self.communities:
            await self.warn(self.problem(event.chat.id, event.new_chat_member))

    def problem(self, chat_id: int, member: Any) -> str | None:
        """What the bot cannot do in a chat, given its `ChatMember`; None when all is well."""
        if member.status in ("left", "kicked"):
            return self._text("rights_gone", chat_id)
        if member.status == "creator":
            return None
        if not isinstance(member, ChatMemberAdministrator):
            return self._text("rights_not_admin", chat_id)
        missing = [text_for(self.language, r) for r in REQUIRED_RIGHTS if not getattr(member, r)]
        return (
            self._text("rights_missing", chat_id, rights=", ".join(missing)) if missing else None
        )

    async def warn(self, problem: str | None) -> None:
        """Log a problem and tell the moderators."""
        if problem is None:
            return
        log.warning("%s", problem)
        if self.chats is not None:
            await self.chats.notify(f"⚠️ {problem}")

    def _text(self, key: str, chat_id: int, **values: str) -> str:
        chat = self.communities.get(chat_id, str(chat_id))
        return text_for(self.language, key, chat=chat, **values)


# ----------------------------------------------------------------------------------- runner


class TelegramRunner:
    """Builds the Dispatcher, checks the setup and polls (or serves the webhook) until stopped."""

    def __init__(
        self,
        bot: Bot,
        *,
        intake: Intake,
        desk: ModeratorDesk,
        context: MappingContext,
        moderators: TelegramModeratorsChat | None = None,
        commands: ModeratorCommands | None = None,
        moderator_ids: frozenset[int] = frozenset(),
        polling_timeout: int = 25,
        backoff: BackoffConfig | None = None,
        intake_retry_delays: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30),
        webhook: WebhookConfig | None = None,
    ) -> None:
        self.bot, self.moderators = bot, moderators
        self.polling_timeout = polling_timeout
        self.backoff = backoff or DEFAULT_BACKOFF_CONFIG
        self.auth = ModeratorAuth(bot, moderators.chat_id, moderator_ids) if moderators else None
        self.guard = RightsGuard(bot, moderators, context.communities)
        self.feed = IntakeFeed(intake, context, intake_retry_delays)
        self._stopping, self._stopped = False, asyncio.Event()
        self.dispatcher = self._build_dispatcher(intake, desk, commands)
        self.webhook = (
            TelegramWebhook(bot, self.dispatcher, webhook, ALLOWED_UPDATES) if webhook else None
        )

    def _build_dispatcher(
        self, intake: Intake, desk: ModeratorDesk, commands: ModeratorCommands | None
    ) -> Dispatcher:
        # Services reach the handlers as workflow data, by parameter name.
        dp = Dispatcher(intake=intake, desk=desk, feed=self.feed, guard=self.guard)
        dp.errors.register(on_error)
        if self.moderators is not None and self.auth is not None:
            dp["cards"] = CardController(desk, self.moderators, self.auth)
            dp["commands"], dp["auth"] = commands, self.auth
            dp["language"] = self.moderators.language
            router = moderators_router(self.moderators.chat_id, self.bot.id, commands is not None)
            dp.include_router(router)
        dp.include_router(community_router(self.context))
        dp.include_router(membership_router())
        return dp

    async def prepare(self) -> None:
        """getMe (a 401 raises TelegramConfigError), set or drop the webhook, check rights."""
        try:
            me = await self.bot.get_me()
        except TelegramUnauthorizedError as error:
            log.error("Telegram rejected the bot token (401 Unauthorized)")
            raise TelegramConfigError(
                "Telegram rejected the bot token (401 Unauthorized)"
            ) from error
        log.info("Telegram bot @%s (id %s) connected", me.username, me.id)
        if self.webhook is not None:
            await self.webhook.register()
        else:  # getUpdates answers 409 while a webhook is set
            await attempt(self.bot.delete_webhook(drop_pending_updates=False), idempotent=True)
        for chat_id in sorted(self.context.communities):
            await self._discover_links(chat_id)
            await self._discover_admins(chat_id)
            await self.guard.warn(await self.guard.check_chat(chat_id))

    @property
    def context(self) -> MappingContext:
        """The mapping context as currently known (links and admins are discovered at start)."""
        return self.feed.context

    async def _discover_links(self, chat_id: int) -> None:
        # A community chat linked to a channel is that channel's discussion group: replies in it
        # are comments, and the channel's automatic forwards must never be actioned.
        chat = await attempt(self.bot.get_chat(chat_id), idempotent=True)
        if isinstance(chat, ActionResult) or chat.linked_chat_id is None:
            return
        self.feed.context = replace(
            self.context,
            discussion_groups=self.context.discussion_groups | {chat_id},
            linked_channels=self.context.linked_channels | {chat.linked_chat_id},
        )

    async def _discover_admins(self, chat_id: int) -> None:
        admins = await attempt(self.bot.get_chat_administrators(chat_id), idempotent=True)
        if not isinstance(admins, ActionResult):
            self.feed.set_admins(chat_id, frozenset(a.user.id for a in admins))

    async def run(self) -> None:
        """prepare(), then poll or serve until `stop()`; each update is stored before confirmed.

        The bot session stays open (the composition root closes it after the last action).
        """
        await self.prepare()
        await (self.serve() if self.webhook is not None else self.poll())

    async def poll(self) -> None:
        """Poll until `stop()` (call `prepare()` first); each update is stored before confirmed."""
        if self._stopping:
            return
        await self.dispatcher.start_polling(
            self.bot,
            handle_as_tasks=False,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=self.polling_timeout,
            backoff_config=self.backoff,
        )

    async def serve(self) -> None:
        """Serve the webhook until `stop()` (call `prepare()` first); 200 only once stored."""
        if self.webhook is None:
            raise RuntimeError("no webhook configured; use poll()")
        if self._stopping:
            return
        await self.webhook.start()
        try:
            await self.webhook.watch(self._stopped)
        finally:
            await self.webhook.stop()

    async def stop(self) -> None:
        """Stop polling or serving; the update being handled finishes or is redelivered later."""
        self._stopping = True
        self._stopped.set()
        with contextlib.suppress(RuntimeError):  # raised when polling never started
            await self.dispatcher.stop_polling()


# ---------------------------------------------------------------------------------- routers


def moderators_router(chat_id: int, bot_id: int, with_commands: bool) -> Router:
    """Everything in the moderators' chat: card taps, replies to cards and commands."""
    router = Router(name="moderators")
    router.message.filter(F.chat.id == chat_id)
    router.callback_query.filter(F.message.chat.id == chat_id)
    router.callback_query.register(on_card_callback, F.data.startswith("esc:"))
    if with_commands:
        router.message.register(on_command, Command("help", "check", "stats", "reload", "start"))
    router.message.register(on_card_reply, F.reply_to_message.from_user.id == bot_id, F.text)
    return router


def community_router(context: MappingContext) -> Router:
    """Messages in community chats and, when configured, private messages."""
    router = Router(name="communities")
    chats = F.chat.id.in_(set(context.communities))
    scope = (chats | (F.chat.type == "private")) if context.direct_community else chats
    router.message.register(on_message, scope)
    router.edited_message.register(on_message, scope)
    return router


def membership_router() -> Router:
    """Membership changes of the bot and of members, everywhere."""
    router = Router(name="membership")
    router.my_chat_member.register(on_my_chat_member)
    router.chat_member.register(on_chat_member)
    return router
