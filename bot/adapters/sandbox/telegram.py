"""A loopback emulator of the Telegram Bot API, for tests and for `smmbot demo`.

`FakeTelegram` is an aiohttp app on 127.0.0.1 that speaks the Bot API wire protocol closely enough
for the real aiogram `Bot` and `Dispatcher` to run against it unchanged:

    fake = await FakeTelegram().start()
    bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))

It keeps a queue of unconfirmed updates with real `getUpdates` semantics (offset confirmation,
negative offsets, `limit`, long poll, `allowed_updates`, 409 for a competing poller), stores every
message it has seen or sent so that edits and deletes fail the way Telegram fails, tracks chat
members and the bot's own rights, records every call, and injects faults per method on demand.

`setWebhook` switches it to webhook delivery as Telegram does: `getUpdates` answers 409, and each
pending update is POSTed (JSON, with the `X-Telegram-Bot-Api-Secret-Token` header) to the URL, one
at a time and in order, repeated after `redelivery_delay` until the answer is 2xx. Unlike
Telegram it accepts `http://` URLs on loopback hosts, and it never gives up.

Every update pushed through a builder is validated with aiogram's own `Update` model first: one
malformed update in a `getUpdates` batch would make aiogram reject the whole batch forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import logging
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

__all__ = [
    "ANONYMOUS_ADMIN",
    "DEFAULT_ALLOWED_UPDATES",
    "TELEGRAM_SERVICE",
    "Call",
    "Delivery",
    "FakeTelegram",
    "Fault",
    "make_user",
]

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

# The Bot API delivers every update kind except these unless `allowed_updates` names them.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
UPDATE_KINDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "message_reaction",
    "message_reaction_count",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
)
DEFAULT_ALLOWED_UPDATES = frozenset(UPDATE_KINDS) - _OPT_IN_UPDATES

DELETE_WINDOW_SECONDS = 48 * 3600
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# `until_date` closer than 30 s or further than 366 days means "forever" (Bot API banChatMember).
_UNTIL_MIN, _UNTIL_MAX = 30, 366 * 86400

_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
)
_MEMBER_PERMISSIONS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)


def make_user(
    user_id: int,
    first_name: str,
    *,
    username: str | None = None,
    last_name: str | None = None,
    is_bot: bool = False,
    language_code: str | None = None,
) -> JsonDict:
    """A Bot API `User` object."""
    user: JsonDict = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    optional = {"last_name": last_name, "username": username, "language_code": language_code}
    user.update({k: v for k, v in optional.items() if v is not None})
    return user


# Service accounts Telegram uses as `from` when a message is not really from a person.
TELEGRAM_SERVICE = make_user(777000, "Telegram")  # automatic forwards from a linked channel
ANONYMOUS_ADMIN = make_user(1087968824, "Group", username="GroupAnonymousBot", is_bot=True)


@dataclass(frozen=True, slots=True)
class Call:
    """One request the emulator received: JSON-decoded params plus the raw wire strings."""

    method: str
    params: JsonDict
    raw: dict[str, str]
    content_type: str
    at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook POST: the update, the HTTP status (None: no answer) and whether it counted."""

    update_id: int
    status: int | None
    accepted: bool
    at: float


@dataclass(frozen=True, slots=True)
class Fault:
    """A one-shot failure queued for a method (see `FakeTelegram.fail_next`)."""

    status: int | None = None
    description: str | None = None
    retry_after: int | None = None
    body: str | None = None
    delay: float | None = None
    drop: bool = False


class ApiError(Exception):
    """Raised inside a method handler to answer with a Bot API error envelope."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


def _decode(value: str) -> Any:
    """aiogram sends every non-string value as JSON text; decode when it parses, else keep."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _visible_text(text: str, parse_mode: Any) -> str:
    """What Telegram stores for a formatted text: the markup is parsed away (entities omitted)."""
    if str(parse_mode).lower() != "html":
        return text
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _envelope_ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _envelope_error(status: int, description: str | None, **parameters: Any) -> web.Response:
    body: JsonDict = {"ok": False, "error_code": status}
    if description is not None:
        body["description"] = description
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


Handler = Callable[[Call], Awaitable[Any]]


class FakeTelegram:
    """The Bot API emulator; see the module docstring."""

    def __init__(
        self,
        *,
        bot_id: int = 7000000001,
        bot_username: str = "smm_sandbox_bot",
        secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = f"{bot_id}:{secret or secrets.token_urlsafe(24)}"
        self.bot_user = make_user(bot_id, "SMM Bot", username=bot_username, is_bot=True)
        self.clock = clock
        self.calls: list[Call] = []
        self.callback_answers: dict[str, JsonDict] = {}
        self.banned_sender_chats: set[tuple[int, int]] = set()
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._updates: deque[JsonDict] = deque()
        self._update_ids = itertools.count(1)
        self._allowed: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._poll_ticket = 0
        self._closing = False
        self._cond: asyncio.Condition | None = None
        self._chats: dict[int, JsonDict] = {}
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )
        self._messages: dict[tuple[int, int], JsonDict] = {}
        self._deleted: set[tuple[int, int]] = set()
        self._sent: list[tuple[int, int]] = []
        self._members: dict[tuple[int, int], JsonDict] = {}
        self._bot_rights: dict[int, dict[str, bool]] = {}
        self._callbacks: dict[str, JsonDict] = {}
        self._callback_ids = itertools.count(1)
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._methods: dict[str, Handler] = self._method_table()
        self._validation_bot: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.deliveries: list[Delivery] = []
        self.redelivery_delay = 0.2  # seconds before a failed webhook POST is repeated
        self._webhook: JsonDict | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._lose_answers = 0
        self._pusher: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self) -> FakeTelegram:
        """Bind the loopback server (port 0 picks a free port) and return self."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._cond = asyncio.Condition()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"
        log.info("fake Telegram listening on %s", self._base_url)
        return self

    async def stop(self) -> None:
        """Release pending long polls and shut the server down."""
        self._closing = True
        await self._notify()
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`, for `TelegramAPIServer.from_base`."""
        if self._base_url is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._base_url

    @property
    def bot_id(self) -> int:
        """The bot's user id (the digits of the token)."""
        return int(self.bot_user["id"])

    # ------------------------------------------------------------------------ configuration

    def add_chat(
        self,
        chat_id: int,
        type: str = "supergroup",  # the Bot API field name
        title: str | None = None,
        linked_chat_id: int | None = None,
        *,
        username: str | None = None,
    ) -> JsonDict:
        """Register a chat (group, supergroup, channel or private) and return its `Chat` shape."""
        chat: JsonDict = {"id": chat_id, "type": type}
        if type == "private":
            chat["first_name"] = title or f"User {chat_id}"
        else:
            chat["title"] = title or f"Chat {chat_id}"
        if username:
            chat["username"] = username
        self._chats[chat_id] = {"chat": chat, "linked_chat_id": linked_chat_id}
        if linked_chat_id is not None and linked_chat_id in self._chats:
            self._chats[linked_chat_id]["linked_chat_id"] = chat_id
        return dict(chat)

    def chat(self, chat_id: int) -> JsonDict:
        """The `Chat` shape of a registered chat."""
        try:
            return dict(self._chats[chat_id]["chat"])
        except KeyError:
            raise KeyError(f"chat {chat_id} is not registered; call add_chat first") from None

    def add_admin(self, chat_id: int, user: JsonDict, *, creator: bool = False) -> JsonDict:
        """Make a user an administrator (or the creator) of a chat."""
        if creator:
            member = {"status": "creator", "user": user, "is_anonymous": False}
        else:
            member = self._admin_member(user, dict.fromkeys(_ADMIN_RIGHTS, True))
        self._members[(chat_id, user["id"])] = member
        return member

    def set_bot_rights(self, chat_id: int, *, is_admin: bool = True, **rights: bool) -> None:
        """Change the bot's rights in a chat, e.g. `can_delete_messages=False`, or demote it."""
        unknown = set(rights) - set(_ADMIN_RIGHTS)
        if unknown:
            raise ValueError(f"unknown admin rights: {sorted(unknown)}")
        self._bot_rights[chat_id] = (
            {**dict.fromkeys(_ADMIN_RIGHTS, True), **rights} if is_admin else {}
        )

    def set_member(self, chat_id: int, user: JsonDict, status: str, **fields: Any) -> JsonDict:
        """Set a user's membership (`member`, `left`, `kicked`, `restricted`, ...)."""
        member = self.member_obj(status, user, **fields)
        self._members[(chat_id, user["id"])] = member
        return member

    # -------------------------------------------------------------------------- inspection

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method (case-insensitive), oldest first."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | None = None) -> list[JsonDict]:
        """Messages the bot sent (current state, edits applied), optionally in one chat."""
        keys = [k for k in self._sent if chat_id is None or k[0] == chat_id]
        return [self._messages[k] for k in keys]

    def message(self, chat_id: int, message_id: int) -> JsonDict | None:
        """A stored message (sent or received), or None."""
        return self._messages.get((chat_id, message_id))

    def is_deleted(self, chat_id: int, message_id: int) -> bool:
        """True once a message was deleted (by deleteMessage(s) or revoke_messages)."""
        return (chat_id, message_id) in self._deleted

    def member(self, chat_id: int, user_id: int) -> JsonDict:
        """The `ChatMember` the emulator would return for a user."""
        return self._member_of(chat_id, user_id)

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates not yet confirmed by a higher `getUpdates` offset."""
        return list(self._updates)

    @property
    def allowed_updates(self) -> frozenset[str]:
        """The update kinds the last poller asked for (Bot API default until one asks)."""
        return self._allowed

    @property
    def webhook_url(self) -> str | None:
        """The URL set by `setWebhook`, or None while the bot polls."""
        return self._webhook["url"] if self._webhook else None

    def accepted(self, update_id: int) -> list[Delivery]:
        """Webhook deliveries of one update that the bot acknowledged."""
        return [d for d in self.deliveries if d.update_id == update_id and d.accepted]

    async def wait_for_calls(self, method: str, count: int = 1, within: float = 5.0) -> None:
        """Wait until `method` was called at least `count` times (TimeoutError otherwise)."""
        await self.wait_until(lambda: len(self.calls_to(method)) >= count, within)

    async def wait_until_confirmed(self, within: float = 5.0) -> None:
        """Wait until every pushed update was confirmed by the poller."""
        await self.wait_until(lambda: not self._updates, within)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until a predicate over the emulator's state holds; checked after every call."""
        assert self._cond is not None, "FakeTelegram is not started"
        async with asyncio.timeout(within), self._cond:
            await self._cond.wait_for(predicate)

    # --------------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        status: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        body: str | None = None,
        delay: float | None = None,
        drop: bool = False,
        times: int = 1,
    ) -> None:
        """Queue a one-shot fault for the next `times` calls of a method (FIFO).

        `description=None` omits the field (a 5xx without it trips an aiogram TypeError);
        `retry_after` makes it a 429; `body` replaces the JSON envelope (e.g. an nginx HTML 502);
        `delay` waits first (alone it only slows the call down); `drop` closes the connection.
        """
        fault = Fault(status, description, retry_after, body, delay, drop)
        self._faults[method.lower()].extend([fault] * times)

    def lose_next_answers(self, times: int = 1) -> None:
        """The next `times` webhook POSTs reach the bot, but their answers are lost: redelivered.

        This is a crash after the bot stored an update and before Telegram heard the 200.
        """
        self._lose_answers += times

    def rate_limit_next(self, method: str, retry_after: int, times: int = 1) -> None:
        """Queue a realistic 429 "Too Many Requests" for a method."""
        text = f"Too Many Requests: retry after {retry_after}"
        self.fail_next(method, 429, text, retry_after=retry_after, times=times)

    async def _apply_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            # Closing the transport makes aiohttp clients raise ServerDisconnectedError.
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        if fault.retry_after is not None:
            status = fault.status or 429
            return _envelope_error(status, fault.description, retry_after=fault.retry_after)
        if fault.body is not None:
            status = fault.status or 502
            return web.Response(status=status, text=fault.body, content_type="text/html")
        if fault.status is not None:
            return _envelope_error(fault.status, fault.description)
        return None

    # ---------------------------------------------------------------------------- dispatch

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._respond(request)
        finally:
            await self._notify()  # state changed: wake `wait_until` callers

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        call = await self._read_call(request, method)
        if request.match_info["token"] != self.token:
            return _envelope_error(401, "Unauthorized")
        self.calls.append(call)
        faults = self._faults.get(method.lower())
        if faults:
            faulted = await self._apply_fault(request, faults.popleft())
            if faulted is not None:
                return faulted
        handler = self._methods.get(method.lower())
        if handler is None:
            return _envelope_error(404, "Not Found: method not found")
        try:
            return _envelope_ok(await handler(call))
        except ApiError as error:
            return _envelope_error(error.status, error.description)

    async def _read_call(self, request: web.Request, method: str) -> Call:
        raw: dict[str, str] = {k: v for k, v in request.query.items()}
        params: JsonDict = {k: _decode(v) for k, v in raw.items()}
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
            for key, value in (body or {}).items():
                raw[key] = value if isinstance(value, str) else json.dumps(value)
                params[key] = value
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    raw[key] = value.filename
                    params[key] = {"filename": value.filename, "size": len(value.file.read())}
                else:
                    text = value if isinstance(value, str) else bytes(value).decode()
                    raw[key], params[key] = text, _decode(text)
        return Call(method, params, raw, request.content_type, self.clock())

    def _method_table(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "banChatMember": self._ban_chat_member,
            "restrictChatMember": self._restrict_chat_member,
            "unbanChatMember": self._unban_chat_member,
            "banChatSenderChat": self._ban_chat_sender_chat,
            "answerCallbackQuery": self._answer_callback_query,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChat": self._get_chat,
        }
        # Telegram matches method names case-insensitively.
        return {name.lower(): handler for name, handler in handlers.items()}

    # ------------------------------------------------------------------------- getUpdates

    async def _get_me(self, call: Call) -> JsonDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, call: Call) -> list[JsonDict]:
        assert self._cond is not None  # set in start()
        self._refuse_while_webhook()
        self._confirm(call.params.get("offset"))
        if call.params.get("allowed_updates") is not None:
            self._allowed = frozenset(call.params["allowed_updates"] or DEFAULT_ALLOWED_UPDATES)
        limit = min(max(int(call.params.get("limit") or 100), 1), 100)
        timeout = float(call.params.get("timeout") or 0)
        self._poll_ticket += 1
        ticket = self._poll_ticket
        async with self._cond:
            self._cond.notify_all()  # wakes an older poller so that it answers 409
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: self._ready(ticket)), timeout=timeout
                )
        self._refuse_while_webhook()  # set while this poll waited
        if ticket != self._poll_ticket and not self._closing:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        return self._deliverable()[:limit]

    def _confirm(self, offset: Any) -> None:
        """Drop confirmed updates: ids below a positive offset, or all but the last |offset|."""
        if offset is None or offset == 0:
            return
        offset = int(offset)
        if offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
            return
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()

    def _ready(self, ticket: int) -> bool:
        interrupted = self._closing or ticket != self._poll_ticket or self._webhook is not None
        return interrupted or bool(self._deliverable())

    def _deliverable(self) -> list[JsonDict]:
        # Telegram never queues kinds the bot did not ask for; dropping them here is equivalent.
        kept = [u for u in self._updates if _kind(u) in self._allowed]
        if len(kept) != len(self._updates):
            self._updates = deque(kept)
        return kept

    # --------------------------------------------------------------------------- webhook

    async def _set_webhook(self, call: Call) -> bool:
        url = str(call.params.get("url") or "")
        if not url:  # "Use an empty string to remove webhook integration"
            return await self._delete_webhook(call)
        parts = urlsplit(url)
        loopback_http = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if parts.scheme != "https" and not loopback_http:
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = call.raw.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise _bad_request("secret token contains unallowed characters")
        if call.params.get("allowed_updates") is not None:
            self._allowed = frozenset(call.params["allowed_updates"] or DEFAULT_ALLOWED_UPDATES)
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": url, "secret_token": secret}
        self._webhook_error = None
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.get_running_loop().create_task(self._push_loop())
        return True

    async def _delete_webhook(self, call: Call) -> bool:
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = None  # the push loop ends at its next turn
        return True

    async def _get_webhook_info(self, call: Call) -> JsonDict:
        info: JsonDict = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._deliverable()),
        }
        if self._webhook is not None:
            info["allowed_updates"] = sorted(self._allowed)
        if self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    def _refuse_while_webhook(self) -> None:
        if self._webhook is not None and not self._closing:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

    async def _push_loop(self) -> None:
        """POST pending updates one at a time, in order, each until it is acknowledged."""
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while (update := await self._next_to_push()) is not None:
                if await self._push(http, update):
                    self._updates = deque(u for u in self._updates if u is not update)
                else:
                    await asyncio.sleep(self.redelivery_delay)
                await self._notify()

    async def _next_to_push(self) -> JsonDict | None:
        assert self._cond is not None
        async with self._cond:
            await self._cond.wait_for(
                lambda: self._closing or self._webhook is None or bool(self._deliverable())
            )
        if self._closing or self._webhook is None:
            return None
        return self._deliverable()[0]

    async def _push(self, http: aiohttp.ClientSession, update: JsonDict) -> bool:
        hook = self._webhook
        assert hook is not None
        headers = {SECRET_HEADER: hook["secret_token"]} if hook["secret_token"] else {}
        status: int | None = None
        try:
            async with http.post(hook["url"], json=update, headers=headers) as response:
                status, reason = response.status, response.reason
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            reason = f"Connection failed: {type(error).__name__}"
        if status is not None and self._lose_answers:
            self._lose_answers -= 1
            status, reason = None, "Read timeout expired"
        accepted = status is not None and 200 <= status < 300
        self.deliveries.append(Delivery(update["update_id"], status, accepted, self.clock()))
        if not accepted:
            message = f"Wrong response from the webhook: {status} {reason}" if status else reason
            self._webhook_error = (int(self.clock()), str(message))
        return accepted

    async def _notify(self) -> None:
        if self._cond is None:
            return
        async with self._cond:
            self._cond.notify_all()

    # --------------------------------------------------------------------------- messages

    async def _send_message(self, call: Call) -> JsonDict:
        chat_id = self._known_chat(call.params["chat_id"])
        text = _visible_text(call.raw.get("text", ""), call.params.get("parse_mode"))
        if not text.strip():
            raise _bad_request("message text is empty")
        message = self._new_message(chat_id, self.bot_user, text)
        for key in ("reply_markup", "message_thread_id", "entities"):
            if call.params.get(key) is not None:
                message[key] = call.params[key]
        target = self._reply_target(chat_id, call.params)
        if target is not None:
            message["reply_to_message"] = target
        self._store(message)
        self._sent.append((chat_id, message["message_id"]))
        return message

    def _reply_target(self, chat_id: int, params: JsonDict) -> JsonDict | None:
        reply = params.get("reply_parameters") or {}
        if not reply and params.get("reply_to_message_id"):
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply"),
            }
        if not reply:
            return None
        key = (int(reply.get("chat_id") or chat_id), int(reply["message_id"]))
        if key in self._messages and key not in self._deleted:
            # Telegram does not nest replies inside a replied-to message.
            return {k: v for k, v in self._messages[key].items() if k != "reply_to_message"}
        if reply.get("allow_sending_without_reply"):
            return None
        raise _bad_request("message to be replied not found")

    async def _edit_message_text(self, call: Call) -> JsonDict | bool:
        if call.params.get("inline_message_id"):
            return True
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        message = self._messages.get(key)
        if message is None or key in self._deleted:
            raise _bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad_request("message can't be edited")
        markup = call.params.get("reply_markup")
        text = _visible_text(call.raw["text"], call.params.get("parse_mode"))
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a content and reply markup of the current message"
            )
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        edited.update(text=text, edit_date=int(self.clock()))
        if markup is not None:
            edited["reply_markup"] = markup
        self._messages[key] = edited
        return edited

    async def _delete_message(self, call: Call) -> bool:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        message = self._messages.get(key)
        if message is None or key in self._deleted:
            raise _bad_request("message to delete not found")
        if not self._can_delete(key[0], message):
            raise _bad_request("message can't be deleted")
        self._deleted.add(key)
        return True

    async def _delete_messages(self, call: Call) -> bool:
        chat_id = int(call.params["chat_id"])
        ids = call.params["message_ids"]
        if not 1 <= len(ids) <= 100:
            raise _bad_request("message_ids must contain 1-100 elements")
        for message_id in ids:
            message = self._messages.get((chat_id, int(message_id)))
            # Missing or undeletable messages are skipped silently, as Telegram does.
            if message is not None and self._can_delete(chat_id, message):
                self._deleted.add((chat_id, int(message_id)))
        return True

    def _can_delete(self, chat_id: int, message: JsonDict) -> bool:
        if self.clock() - message["date"] > DELETE_WINDOW_SECONDS:
            return False
        own = message.get("from", {}).get("id") == self.bot_id
        private = message["chat"]["type"] == "private"
        return own or private or self._bot_right(chat_id, "can_delete_messages")

    # ---------------------------------------------------------------------------- members

    async def _ban_chat_member(self, call: Call) -> bool:
        chat_id, user_id = self._restrictable(call)
        until = self._until(call.params.get("until_date"))
        user = self._member_of(chat_id, user_id)["user"]
        self._members[(chat_id, user_id)] = self.member_obj("kicked", user, until_date=until)
        if call.params.get("revoke_messages"):
            self._deleted.update(
                key
                for key, message in self._messages.items()
                if key[0] == chat_id and message.get("from", {}).get("id") == user_id
            )
        return True

    async def _restrict_chat_member(self, call: Call) -> bool:
        chat_id, user_id = self._restrictable(call)
        if self.chat(chat_id)["type"] != "supergroup":
            raise _bad_request("method is available only for supergroups")
        permissions = call.params.get("permissions") or {}
        user = self._member_of(chat_id, user_id)["user"]
        if all(permissions.get(name, False) for name in _MEMBER_PERMISSIONS):
            self._members[(chat_id, user_id)] = self.member_obj("member", user)
            return True
        until = self._until(call.params.get("until_date"))
        self._members[(chat_id, user_id)] = self.member_obj(
            "restricted", user, until_date=until, **permissions
        )
        return True

    async def _unban_chat_member(self, call: Call) -> bool:
        chat_id, user_id = self._restrictable(call)
        current = self._member_of(chat_id, user_id)
        if call.params.get("only_if_banned") and current["status"] != "kicked":
            return True
        # Without only_if_banned Telegram removes a current member from the chat.
        self._members[(chat_id, user_id)] = self.member_obj("left", current["user"])
        return True

    async def _ban_chat_sender_chat(self, call: Call) -> bool:
        chat_id = self._known_chat(call.params["chat_id"])
        if not self._bot_right(chat_id, "can_restrict_members"):
            raise _bad_request("not enough rights to ban sender chat")
        self.banned_sender_chats.add((chat_id, int(call.params["sender_chat_id"])))
        return True

    def _restrictable(self, call: Call) -> tuple[int, int]:
        chat_id = self._known_chat(call.params["chat_id"])
        user_id = int(call.params["user_id"])
        if not self._bot_right(chat_id, "can_restrict_members"):
            raise _bad_request("not enough rights to restrict/unrestrict chat member")
        if user_id == self.bot_id:
            raise _bad_request("can't restrict self")
        if self._member_of(chat_id, user_id)["status"] in ("administrator", "creator"):
            raise _bad_request("user is an administrator of the chat")
        return chat_id, user_id

    def _until(self, value: Any) -> int:
        if not value:
            return 0
        delta = int(value) - self.clock()
        return int(value) if _UNTIL_MIN <= delta <= _UNTIL_MAX else 0

    async def _get_chat_member(self, call: Call) -> JsonDict:
        chat_id = self._known_chat(call.params["chat_id"])
        return self._member_of(chat_id, int(call.params["user_id"]))

    async def _get_chat_administrators(self, call: Call) -> list[JsonDict]:
        chat_id = self._known_chat(call.params["chat_id"])
        admins = [
            member
            for (chat, _), member in self._members.items()
            if chat == chat_id and member["status"] in ("administrator", "creator")
        ]
        bot = self._member_of(chat_id, self.bot_id)
        return admins + ([bot] if bot["status"] == "administrator" else [])

    async def _get_chat(self, call: Call) -> JsonDict:
        chat_id = self._known_chat(call.params["chat_id"])
        info = {**self.chat(chat_id), "accent_color_id": 0, "max_reaction_count": 11}
        info["accepted_gift_types"] = dict.fromkeys(
            ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription"), False
        ) | {"gifts_from_channels": False}
        if self._chats[chat_id]["linked_chat_id"] is not None:
            info["linked_chat_id"] = self._chats[chat_id]["linked_chat_id"]
        return info

    async def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params["callback_query_id"])
        if query_id not in self._callbacks or query_id in self.callback_answers:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers[query_id] = dict(call.params)
        return True

    def _member_of(self, chat_id: int, user_id: int) -> JsonDict:
        if user_id == self.bot_id:
            rights = self._bot_rights.get(chat_id, dict.fromkeys(_ADMIN_RIGHTS, True))
            if not rights:
                return self.member_obj("member", self.bot_user)
            return self._admin_member(self.bot_user, rights)
        member = self._members.get((chat_id, user_id))
        return member or self.member_obj("left", make_user(user_id, f"User {user_id}"))

    def _bot_right(self, chat_id: int, right: str) -> bool:
        return bool(self._member_of(chat_id, self.bot_id).get(right, False))

    @staticmethod
    def _admin_member(user: JsonDict, rights: dict[str, bool]) -> JsonDict:
        member: JsonDict = {"status": "administrator", "user": user, "is_anonymous": False}
        member["can_be_edited"] = False
        member.update({name: bool(rights.get(name, False)) for name in _ADMIN_RIGHTS})
        return member

    @staticmethod
    def member_obj(status: str, user: JsonDict, **fields: Any) -> JsonDict:
        """A full-shape `ChatMember*` for a status, with the fields aiogram requires."""
        member: JsonDict = {"status": status, "user": user}
        if status == "kicked":
            member["until_date"] = fields.get("until_date", 0)
        elif status == "creator":
            member["is_anonymous"] = fields.get("is_anonymous", False)
        elif status == "administrator":
            return FakeTelegram._admin_member(user, fields or dict.fromkeys(_ADMIN_RIGHTS, True))
        elif status == "restricted":
            member["is_member"] = fields.get("is_member", True)
            member.update({name: bool(fields.get(name, False)) for name in _MEMBER_PERMISSIONS})
            member["until_date"] = fields.get("until_date", 0)
        return member

    # --------------------------------------------------------------------------- builders

    def push_update(self, raw: JsonDict) -> JsonDict:
        """Validate an update with aiogram's own model, number it if needed, and queue it."""
        from aiogram import Bot
        from aiogram.types import Update

        update = {"update_id": next(self._update_ids), **raw}
        if self._validation_bot is None:
            self._validation_bot = Bot(self.token)
        Update.model_validate(update, context={"bot": self._validation_bot})
        self._updates.append(update)
        self._wake()
        return update

    def store_message(self, chat: int, user: JsonDict, text: str | None, **extra: Any) -> JsonDict:
        """Record a message as chat history without delivering an update; returns the message."""
        message = self._new_message(chat, user, text, **extra)
        self._remember(chat, user)
        self._store(message)
        return message

    def push_message(self, chat: int, user: JsonDict, text: str | None, **extra: Any) -> JsonDict:
        """A `message` update from a user in a chat; `extra` adds or overrides message fields."""
        return self.push_update({"message": self.store_message(chat, user, text, **extra)})

    def push_private(self, user: JsonDict, text: str, **extra: Any) -> JsonDict:
        """A direct message to the bot (registers the private chat on first use)."""
        if user["id"] not in self._chats:
            self.add_chat(user["id"], "private", user["first_name"], username=user.get("username"))
        return self.push_message(user["id"], user, text, **extra)

    def push_edited(
        self, message: JsonDict, text: str, *, edit_date: int | None = None
    ) -> JsonDict:
        """An `edited_message` update for a message pushed earlier."""
        edited = {**message, "text": text, "edit_date": edit_date or int(self.clock()) + 1}
        self._store(edited)
        return self.push_update({"edited_message": edited})

    def push_channel_post(self, channel: int, text: str, **extra: Any) -> JsonDict:
        """A `channel_post` update; channel posts carry `sender_chat` and no `from`."""
        chat = self.chat(channel)
        message = self._new_message(channel, None, text, sender_chat=chat, **extra)
        self._store(message)
        return self.push_update({"channel_post": message})

    def push_auto_forward(self, group: int, channel: int, post_id: int, text: str) -> JsonDict:
        """The copy of a channel post that Telegram forwards into the linked discussion group."""
        channel_chat = self.chat(channel)
        origin = {
            "type": "channel",
            "chat": channel_chat,
            "message_id": post_id,
            "date": int(self.clock()),
        }
        message = self._new_message(
            group,
            TELEGRAM_SERVICE,
            text,
            sender_chat=channel_chat,
            is_automatic_forward=True,
            forward_origin=origin,
        )
        self._store(message)
        return self.push_update({"message": message})

    def push_comment(
        self,
        group: int,
        user: JsonDict,
        auto_forward: JsonDict,
        text: str,
        *,
        reply_to: JsonDict | None = None,
        **extra: Any,
    ) -> JsonDict:
        """A comment under a channel post: a group message in the auto-forward's thread."""
        target = reply_to or auto_forward
        clean_target = {k: v for k, v in target.items() if k != "reply_to_message"}
        return self.push_message(
            group,
            user,
            text,
            reply_to_message=clean_target,
            message_thread_id=auto_forward["message_id"],
            **extra,
        )

    def push_callback(self, user: JsonDict, message: JsonDict, data: str) -> JsonDict:
        """A `callback_query` update: a user tapped an inline button under a message."""
        query_id = str(next(self._callback_ids))
        query = {
            "id": query_id,
            "from": user,
            "chat_instance": f"ci{message['chat']['id']}",
            "message": message,
            "data": data,
        }
        self._callbacks[query_id] = query
        return self.push_update({"callback_query": query})

    def push_chat_member(
        self,
        chat: int,
        user: JsonDict,
        old: str | JsonDict,
        new: str | JsonDict,
        *,
        my: bool = False,
        actor: JsonDict | None = None,
    ) -> JsonDict:
        """A `chat_member` (or, with `my=True`, `my_chat_member`) update."""
        old_member = self.member_obj(old, user) if isinstance(old, str) else old
        new_member = self.member_obj(new, user) if isinstance(new, str) else new
        if not my:
            self._members[(chat, user["id"])] = new_member
        elif new_member["status"] == "administrator":
            self._bot_rights[chat] = {k: new_member[k] for k in _ADMIN_RIGHTS}
        else:
            self._bot_rights[chat] = {}
        event = {
            "chat": self.chat(chat),
            "from": actor or user,
            "date": int(self.clock()),
            "old_chat_member": old_member,
            "new_chat_member": new_member,
        }
        return self.push_update({"my_chat_member" if my else "chat_member": event})

    # ---------------------------------------------------------------------------- helpers

    def _new_message(
        self, chat_id: int, sender: JsonDict | None, text: str | None, **extra: Any
    ) -> JsonDict:
        message: JsonDict = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(self.clock()),
            "chat": self.chat(chat_id),
        }
        if sender is not None:
            message["from"] = sender
        if text is not None:
            message["text"] = text
        message.update(extra)
        return message

    def _store(self, message: JsonDict) -> None:
        self._messages[(message["chat"]["id"], message["message_id"])] = message

    def _remember(self, chat_id: int, user: JsonDict) -> None:
        key = (chat_id, user["id"])
        if key not in self._members and self.chat(chat_id)["type"] != "private":
            self._members[key] = self.member_obj("member", user)

    def _known_chat(self, value: Any) -> int:
        chat_id = int(value)
        if chat_id not in self._chats:
            raise _bad_request("chat not found")
        return chat_id

    def _wake(self) -> None:
        # Builders are sync; a task wakes any long poll waiting on the condition.
        if self._cond is not None:
            task = asyncio.get_running_loop().create_task(self._notify())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def _kind(update: JsonDict) -> str:
    return next((k for k in update if k != "update_id"), "unknown")
