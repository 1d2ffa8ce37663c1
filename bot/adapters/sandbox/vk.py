"""FakeVK: a loopback emulator of the VK API and the Bots Long Poll server.

Used by the tests and by `smmbot demo`. It models what the VK adapter relies on: the response
envelope with HTTP 200 errors, per-method token types, `random_id` idempotency, the long-poll
`ts`/`key`/`failed` protocol and faults (VK error codes, HTTP 5xx, HTML bodies, dropped
connections). Event payloads follow API 5.199 and are validated with vk_api's own event classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from vk_api.bot_longpoll import VkBotEvent, VkBotMessageEvent

__all__ = ["API_VERSION", "Call", "FakeVK", "VkFault"]

log = logging.getLogger(__name__)

API_VERSION = "5.199"
CHAT_START_ID = 2_000_000_000

GROUP = "group"
USER = "user"
BOTH = frozenset({GROUP, USER})
USER_ONLY = frozenset({USER})

# access_token_type per method, from VKCOM/vk-api-schema; a community token on a user-only
# method gets error 27 ("Group authorization failed").
TOKEN_TYPES: dict[str, frozenset[str]] = {
    "wall.deleteComment": USER_ONLY,
    "photos.deleteComment": USER_ONLY,
    "video.deleteComment": USER_ONLY,
    "market.deleteComment": USER_ONLY,
    "groups.ban": USER_ONLY,
    "groups.unban": USER_ONLY,
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "groups.getLongPollServer": ("group_id",),
    "messages.send": ("random_id",),
    "messages.delete": (),
    "wall.createComment": ("post_id",),
    "wall.deleteComment": ("comment_id",),
    "board.createComment": ("group_id", "topic_id"),
    "board.deleteComment": ("group_id", "topic_id", "comment_id"),
    "photos.createComment": ("photo_id",),
    "photos.deleteComment": ("comment_id",),
    "video.createComment": ("video_id",),
    "video.deleteComment": ("comment_id",),
    "market.createComment": ("owner_id", "item_id"),
    "market.deleteComment": ("owner_id", "comment_id"),
    "groups.ban": ("group_id",),
    "groups.unban": ("group_id", "owner_id"),
}

ERROR_MESSAGES = {
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: "Invalid request: v (version) is required",
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    27: "Group authorization failed: method is unavailable with group auth.",
    100: "One of the parameters specified was missing or invalid",
}

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

# Comment surfaces: event type prefix, id field naming the commented object, owner field.
COMMENT_KINDS = {
    "wall": ("wall_reply", "post_id", "post_owner_id"),
    "photos": ("photo_comment", "photo_id", "photo_owner_id"),
    "video": ("video_comment", "video_id", "video_owner_id"),
    "market": ("market_comment", "item_id", "market_owner_id"),
}


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as the fake received it."""

    method: str
    params: dict[str, str]
    token_type: str | None  # "group", "user" or None when the token was missing or unknown
    at: float


@dataclass(slots=True)
class VkFault:
    """A queued failure for one method (or the long poll)."""

    code: int | None = None
    http_status: int | None = None
    body: str | None = None
    drop: bool = False
    lp_failed: int | None = None


class _VkError(Exception):
    def __init__(self, code: int, msg: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.msg = msg or ERROR_MESSAGES.get(code, "Unknown error")


@dataclass(slots=True)
class _Request:
    method: str
    params: dict[str, str]
    token_type: str | None
    token: str

    def int(self, name: str, default: int = 0) -> int:
        value = self.params.get(name)
        try:
            return int(value) if value not in (None, "") else default
        except ValueError as exc:
            raise _VkError(100, f"Invalid parameter: {name} not integer") from exc

    def flag(self, name: str) -> bool:
        return self.params.get(name, "0") not in ("0", "", "false", "False")


@dataclass(slots=True)
class _LongPollState:
    key: str
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    next_ts: int = 1
    floor: int = 1
    faults: deque[VkFault] = field(default_factory=deque)


def _new_key() -> str:
    return secrets.token_hex(20)


class FakeVK:
    """The VK API (`/method/{name}`) and Bots Long Poll (`/lp`) on 127.0.0.1."""

    def __init__(
        self,
        group_id: int = 77,
        *,
        group_name: str = "Test community",
        max_wait: float = 1.0,
        group_token: str | None = None,
        user_token: str | None = None,
    ) -> None:
        self.group_id = group_id
        self.group_name = group_name
        self.max_wait = max_wait
        self.group_token = group_token or "vk1.g." + secrets.token_hex(16)
        self.user_token = user_token or "vk1.u." + secrets.token_hex(16)
        self.calls: list[Call] = []
        self.sent_messages: dict[int, dict[str, Any]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (peer_id, cmid) -> message
        self.deleted_messages: set[tuple[int, int]] = set()
        self.comments: dict[tuple[str, int, int], dict[str, Any]] = {}  # (kind, owner, id)
        self.posted_comments: list[dict[str, Any]] = []
        self.deleted_comments: set[tuple[str, int, int]] = set()
        self.bans: dict[int, dict[str, Any]] = {}
        self._faults: dict[str, deque[VkFault]] = defaultdict(deque)
        self._random_ids: dict[tuple[str, int], int] = {}
        self._guids: dict[tuple[str, str], Any] = {}
        self._ids = itertools.count(1001)
        self._cmids: dict[int, itertools.count[int]] = {}
        self._lp = _LongPollState(key=_new_key())
        self._lock = threading.Lock()
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self._handlers = self._method_table()

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeVK:
        """Listen on 127.0.0.1 on a free port; sets `base_url`."""
        app = web.Application()
        app.router.add_route("*", "/method/{name}", self._dispatch)
        app.router.add_route("*", "/lp", self._long_poll)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        return self

    async def stop(self) -> None:
        """Stop listening (waiting long polls are cut)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVK:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> FakeVK:
        """Run the fake on its own event loop in a daemon thread (for synchronous tests)."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-vk", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("FakeVK did not start")
        return self

    def stop_thread(self) -> None:
        """Stop a fake started with `start_in_thread`."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    # ---- inspection and faults -------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one API method, oldest first."""
        return [call for call in self.calls if call.method == method]

    def fail_next(
        self,
        method: str,
        code: int | None = None,
        http_status: int | None = None,
        body: str | None = None,
        drop: bool = False,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail with a VK error, HTTP status or drop."""
        for _ in range(times):
            self._faults[method].append(VkFault(code, http_status, body, drop))

    def lp_fail_next(self, kind: int | str, times: int = 1) -> None:
        """Queue a long-poll failure: 1, 2, 3 (`failed` replies), "http502", "html" or "drop"."""
        faults = {
            "http502": VkFault(http_status=502, body=HTML_502),
            "html": VkFault(http_status=200, body=HTML_502),
            "drop": VkFault(drop=True),
        }
        fault = VkFault(lp_failed=kind) if isinstance(kind, int) else faults[kind]
        for _ in range(times):
            self._lp.faults.append(fault)

    def expire_key(self) -> None:
        """Invalidate the long-poll key: the next a_check gets `failed: 2`."""
        self._lp.key = _new_key()

    def lose_history(self) -> None:
        """Forget the stored events: an older ts gets `failed: 1`."""
        with self._lock:
            self._lp.floor = self._lp.next_ts
            self._lp.events.clear()

    @property
    def lp_faults_pending(self) -> int:
        """Long-poll faults queued by `lp_fail_next` and not served yet."""
        return len(self._lp.faults)

    @property
    def lp_ts(self) -> int:
        """The ts the next event will get."""
        return self._lp.next_ts

    @property
    def lp_events(self) -> list[dict[str, Any]]:
        """Events still in the long-poll history."""
        with self._lock:
            return [event for _, event in self._lp.events]

    # ---- event builders (API 5.199 shapes) -------------------------------------------------

    def push_event(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Append an event to the long-poll history (validated with vk_api's event classes)."""
        raw.setdefault("group_id", self.group_id)
        raw.setdefault("v", API_VERSION)
        with self._lock:
            ts = self._lp.next_ts
            raw.setdefault("event_id", self._event_id(ts, raw))
            _validate(raw)
            self._lp.events.append((ts, raw))
            self._lp.next_ts += 1
        self._notify()
        return raw

    def message_new(self, from_id: int, text: str, **kw: Any) -> dict[str, Any]:
        """A private (or chat, with peer_id ≥ 2e9) message to the community."""
        message = self._new_message(from_id, text, **kw)
        client_info = {
            "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback"],
            "keyboard": True,
            "inline_keyboard": True,
            "carousel": True,
            "lang_id": 0,
        }
        return self.push_event(
            {"type": "message_new", "object": {"message": message, "client_info": client_info}}
        )

    def wall_reply_new(
        self, post_id: int, from_id: int, text: str, edit: bool = False, **kw: Any
    ) -> dict[str, Any]:
        """A comment under a wall post (`wall_reply_edit` with edit=True and comment_id=…)."""
        return self._comment_event("wall", post_id, from_id, text, edit, **kw)

    def photo_comment_new(
        self, photo_id: int, from_id: int, text: str, **kw: Any
    ) -> dict[str, Any]:
        """A comment under a community photo."""
        return self._comment_event("photos", photo_id, from_id, text, False, **kw)

    def video_comment_new(
        self, video_id: int, from_id: int, text: str, **kw: Any
    ) -> dict[str, Any]:
        """A comment under a community video."""
        return self._comment_event("video", video_id, from_id, text, False, **kw)

    def market_comment_new(
        self, item_id: int, from_id: int, text: str, **kw: Any
    ) -> dict[str, Any]:
        """A comment under a market item."""
        return self._comment_event("market", item_id, from_id, text, False, **kw)

    def board_post_new(
        self, topic_id: int, from_id: int, text: str, edit: bool = False, **kw: Any
    ) -> dict[str, Any]:
        """A comment in a discussion board topic (`board_post_edit` with edit=True)."""
        comment_id = kw.pop("comment_id", None) or next(self._ids)
        obj = {"id": comment_id, "from_id": from_id, "date": int(time.time()), "text": text}
        obj |= {"topic_id": topic_id, "topic_owner_id": -self.group_id, **kw}
        self.comments[("board", topic_id, comment_id)] = obj
        kind = "board_post_edit" if edit else "board_post_new"
        return self.push_event({"type": kind, "object": obj})

    def wall_reply_delete(
        self, post_id: int, comment_id: int, deleter_id: int | None = None
    ) -> dict[str, Any]:
        """A wall comment was deleted (by a moderator or its author)."""
        obj = {"owner_id": -self.group_id, "id": comment_id, "post_id": post_id}
        obj["deleter_id"] = deleter_id if deleter_id is not None else self.group_id
        return self.push_event({"type": "wall_reply_delete", "object": obj})

    def wall_reply_restore(
        self, post_id: int, comment_id: int, from_id: int, text: str
    ) -> dict[str, Any]:
        """A deleted wall comment was restored."""
        obj = self._comment_object("wall", post_id, from_id, text, {"comment_id": comment_id})
        return self.push_event({"type": "wall_reply_restore", "object": obj})

    # ---- builders: internals ---------------------------------------------------------------

    def _event_id(self, ts: int, raw: dict[str, Any]) -> str:
        seed = f"{self.group_id}:{ts}:{raw.get('type')}:{secrets.token_hex(4)}"
        return hashlib.sha1(seed.encode()).hexdigest()

    def _notify(self) -> None:
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            loop.call_soon_threadsafe(changed.set)

    def _new_message(self, from_id: int, text: str, **kw: Any) -> dict[str, Any]:
        peer_id = kw.pop("peer_id", from_id)
        cmid = next(self._cmids.setdefault(peer_id, itertools.count(1)))
        message = {
            "id": next(self._ids) if peer_id < CHAT_START_ID else 0,
            "date": int(time.time()),
            "peer_id": peer_id,
            "from_id": from_id,
            "text": text,
            "conversation_message_id": cmid,
            "attachments": [],
            "fwd_messages": [],
            "important": False,
            "is_hidden": False,
            "out": 0,
            "version": 1,
        }
        message |= kw
        self.messages[(peer_id, cmid)] = message
        return message

    def _comment_object(
        self, kind: str, object_id: int, from_id: int, text: str, kw: dict[str, Any]
    ) -> dict[str, Any]:
        _, id_field, owner_field = COMMENT_KINDS[kind]
        comment_id = kw.pop("comment_id", None) or next(self._ids)
        obj: dict[str, Any] = {"id": comment_id, "from_id": from_id, "date": int(time.time())}
        obj |= {"text": text, id_field: object_id, owner_field: -self.group_id}
        if kind != "market":
            obj |= {"owner_id": -self.group_id, "parents_stack": []}
        if kind == "wall":
            obj["thread"] = {"count": 0, "items": [], "can_post": True}
        obj |= kw
        self.comments[(kind, -self.group_id, comment_id)] = obj
        return obj

    def _comment_event(
        self, kind: str, object_id: int, from_id: int, text: str, edit: bool, **kw: Any
    ) -> dict[str, Any]:
        obj = self._comment_object(kind, object_id, from_id, text, kw)
        prefix = COMMENT_KINDS[kind][0]
        return self.push_event({"type": f"{prefix}_{'edit' if edit else 'new'}", "object": obj})

    # ---- HTTP: API methods -----------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        params = await _read_params(request)
        token = params.pop("access_token", "") or _bearer(request)
        req = _Request(name, params, self._token_type(token), token)
        self.calls.append(Call(name, dict(params), req.token_type, time.time()))
        fault = self._faults[name].popleft() if self._faults[name] else None
        if fault is not None and fault.code is None:
            return _http_fault(request, fault)
        try:
            if fault is not None and fault.code is not None:
                raise _VkError(fault.code)
            return web.json_response({"response": self._call(req)})
        except _VkError as exc:
            return web.json_response({"error": _error_body(exc, req)})

    def _token_type(self, token: str) -> str | None:
        return {self.group_token: GROUP, self.user_token: USER}.get(token)

    def _call(self, req: _Request) -> Any:
        handler = self._handlers.get(req.method)
        if handler is None:
            raise _VkError(3)
        if not req.params.get("v"):
            raise _VkError(8)
        if req.token_type is None:
            raise _VkError(5)
        if req.token_type not in TOKEN_TYPES.get(req.method, BOTH):
            raise _VkError(27)
        for name in REQUIRED.get(req.method, ()):
            if not req.params.get(name):
                raise _VkError(
                    100,
                    f"One of the parameters specified was missing or invalid: {name} is undefined",
                )
        return handler(req)

    def _method_table(self) -> dict[str, Callable[[_Request], Any]]:
        table: dict[str, Callable[[_Request], Any]] = {
            "groups.getLongPollServer": self._get_long_poll_server,
            "groups.getById": self._get_by_id,
            "messages.send": self._messages_send,
            "messages.delete": self._messages_delete,
            "board.createComment": self._board_create_comment,
            "board.deleteComment": self._board_delete_comment,
            "groups.ban": self._groups_ban,
            "groups.unban": self._groups_unban,
        }
        for kind in COMMENT_KINDS:
            table[f"{kind}.createComment"] = self._create_comment_handler(kind)
            table[f"{kind}.deleteComment"] = self._delete_comment_handler(kind)
        return table

    def _get_long_poll_server(self, req: _Request) -> dict[str, Any]:
        if req.int("group_id") != self.group_id:
            raise _VkError(15)
        return {"key": self._lp.key, "server": f"{self.base_url}/lp", "ts": str(self._lp.next_ts)}

    def _get_by_id(self, req: _Request) -> dict[str, Any]:
        group = {
            "id": self.group_id,
            "name": self.group_name,
            "screen_name": f"club{self.group_id}",
            "is_closed": 0,
            "type": "group",
            "is_admin": 1 if req.token_type == USER else 0,
        }
        return {"groups": [group], "profiles": []}

    def _messages_send(self, req: _Request) -> int:
        # VK checks random_id per sender against the whole history: a repeat posts nothing
        # and returns the id of the message sent the first time.
        dedupe = (req.token, req.int("random_id"))
        if dedupe in self._random_ids:
            return self._random_ids[dedupe]
        peer_id = req.int("peer_id") or req.int("user_id")
        if not peer_id:
            raise _VkError(
                100, "One of the parameters specified was missing or invalid: peer_id is undefined"
            )
        message = self._new_message(-self.group_id, req.params.get("message", ""), peer_id=peer_id)
        message |= {"out": 1, "random_id": req.int("random_id")}
        if req.params.get("reply_to"):
            message["reply_to"] = req.int("reply_to")
        self.sent_messages[message["id"]] = message
        self._random_ids[dedupe] = int(message["id"])
        return int(message["id"])

    def _messages_delete(self, req: _Request) -> dict[str, int]:
        peer_id = req.int("peer_id")
        cmids = [int(x) for x in req.params.get("cmids", "").split(",") if x]
        if not cmids or not peer_id:
            raise _VkError(
                100, "One of the parameters specified was missing or invalid: cmids or peer_id"
            )
        result = {}
        for cmid in cmids:
            known = (peer_id, cmid) in self.messages
            if known:
                self.deleted_messages.add((peer_id, cmid))
            result[str(cmid)] = 1 if known else 0
        return result

    def _create_comment_handler(self, kind: str) -> Callable[[_Request], Any]:
        def create(req: _Request) -> Any:
            return self._create_comment(kind, req)

        return create

    def _delete_comment_handler(self, kind: str) -> Callable[[_Request], Any]:
        def delete(req: _Request) -> int:
            owner_id = req.int("owner_id", -self.group_id)
            self.deleted_comments.add((kind, owner_id, req.int("comment_id")))
            return 1

        return delete

    def _create_comment(self, kind: str, req: _Request) -> Any:
        guid = req.params.get("guid")
        # VK documents `guid` as protection against posting the same comment twice.
        if guid and (kind, guid) in self._guids:
            return self._guids[(kind, guid)]
        object_id = req.int(COMMENT_KINDS[kind][1])
        author = -self.group_id if req.flag("from_group") or req.token_type == GROUP else 1
        extra = _reply_fields(req)
        obj = self._comment_object(kind, object_id, author, req.params.get("message", ""), extra)
        self.posted_comments.append({"kind": kind, **obj})
        # Real VK sends our own comment back through the long poll, authored by -group_id.
        self.push_event({"type": f"{COMMENT_KINDS[kind][0]}_new", "object": dict(obj)})
        result = {"comment_id": obj["id"], "parents_stack": obj.get("parents_stack", [])}
        result = result if kind == "wall" else obj["id"]
        if guid:
            self._guids[(kind, guid)] = result
        return result

    def _board_create_comment(self, req: _Request) -> int:
        guid = req.params.get("guid")
        if guid and ("board", guid) in self._guids:
            return int(self._guids[("board", guid)])
        author = -self.group_id if req.flag("from_group") else 1
        event = self.board_post_new(req.int("topic_id"), author, req.params.get("message", ""))
        obj = event["object"]
        self.posted_comments.append({"kind": "board", **obj})
        if guid:
            self._guids[("board", guid)] = obj["id"]
        return int(obj["id"])

    def _board_delete_comment(self, req: _Request) -> int:
        if req.int("group_id") != self.group_id:
            raise _VkError(15)
        self.deleted_comments.add(("board", req.int("topic_id"), req.int("comment_id")))
        return 1

    def _groups_ban(self, req: _Request) -> int:
        if req.int("group_id") != self.group_id:
            raise _VkError(15)
        ban: dict[str, Any] = {
            k: req.params[k] for k in ("end_date", "reason", "comment") if k in req.params
        }
        self.bans[req.int("owner_id") or req.int("user_id")] = ban
        return 1

    def _groups_unban(self, req: _Request) -> int:
        self.bans.pop(req.int("owner_id"), None)
        return 1

    # ---- HTTP: long poll -------------------------------------------------------------------

    async def _long_poll(self, request: web.Request) -> web.StreamResponse:
        params = await _read_params(request)
        fault = self._lp.faults.popleft() if self._lp.faults else None
        if fault is not None and fault.lp_failed is None:
            return _http_fault(request, fault)
        if fault is not None:
            return _lp_failed(fault.lp_failed, self._lp.next_ts)
        if params.get("key") != self._lp.key or params.get("act") != "a_check":
            return web.json_response({"failed": 2})
        ts = _int_or(params.get("ts"), -1)
        if not self._lp.floor <= ts <= self._lp.next_ts:
            # Real VK: the history is out of date; continue from the returned ts (a gap).
            return _lp_failed(1, self._lp.next_ts)
        wait = min(_float_or(params.get("wait"), 25.0), self.max_wait)
        updates = await self._wait_for_events(ts, wait)
        return web.json_response({"ts": str(self._lp.next_ts), "updates": updates})

    async def _wait_for_events(self, ts: int, wait: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        while True:
            assert self._changed is not None
            self._changed.clear()
            updates = self._events_from(ts)
            remaining = deadline - time.monotonic()
            if updates or remaining <= 0:
                return updates
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def _events_from(self, ts: int) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event_ts, event in self._lp.events if event_ts >= ts]


# ---- module helpers --------------------------------------------------------------------------


async def _read_params(request: web.Request) -> dict[str, str]:
    params = {k: v for k, v in request.query.items()}
    if request.method == "POST" and request.can_read_body:
        form = await request.post()
        params |= {k: v for k, v in form.items() if isinstance(v, str)}
    return params


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else ""


def _error_body(exc: _VkError, req: _Request) -> dict[str, Any]:
    shown = [{"key": "method", "value": req.method}, {"key": "oauth", "value": "1"}]
    shown += [{"key": k, "value": v} for k, v in req.params.items()]
    body: dict[str, Any] = {"error_code": exc.code, "error_msg": exc.msg, "request_params": shown}
    if exc.code == 14:
        sid = secrets.token_hex(6)
        body |= {"captcha_sid": sid, "captcha_img": f"https://api.vk.ru/captcha.php?sid={sid}"}
    return body


def _http_fault(request: web.Request, fault: VkFault) -> web.StreamResponse:
    if fault.drop:
        # Close the TCP connection without an answer: the client sees a ConnectionError.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    body = fault.body if fault.body is not None else HTML_502
    return web.Response(status=fault.http_status or 502, text=body, content_type="text/html")


def _lp_failed(failed: int | None, next_ts: int) -> web.Response:
    if failed == 1:
        return web.json_response({"failed": 1, "ts": str(next_ts)})
    return web.json_response({"failed": failed})


def _reply_fields(req: _Request) -> dict[str, Any]:
    reply_to = req.int("reply_to_comment")
    return {"reply_to_comment": reply_to} if reply_to else {}


def _validate(raw: dict[str, Any]) -> None:
    """Build vk_api's own event object, so a malformed fixture fails at once."""
    if raw["type"] in ("message_new", "message_reply", "message_edit"):
        VkBotMessageEvent(raw)
    else:
        VkBotEvent(raw)


def _int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _float_or(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default
