"""VkActions: planned actions as VK API calls (replies, deletes, bans)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.adapters.vk.client import VkClient, VkResult, guid_for, random_id_for
from bot.core.model import ActionKind, ActionResult, IncomingMessage, PlannedAction, Surface
from bot.core.ports import EscalationCard

__all__ = ["DEFAULT_MUTE", "VkActions", "VkCommunityActions"]

log = logging.getLogger(__name__)

DEFAULT_MUTE = timedelta(days=1)
MESSAGE_SURFACES = frozenset({Surface.PRIVATE, Surface.GROUP})

# surface → (API section, parameter naming the commented object)
COMMENT_SECTIONS: dict[Surface, tuple[str, str]] = {
    Surface.WALL_COMMENT: ("wall", "post_id"),
    Surface.PHOTO_COMMENT: ("photos", "photo_id"),
    Surface.VIDEO_COMMENT: ("video", "video_id"),
    Surface.MARKET_COMMENT: ("market", "item_id"),
}
BAN_REASON_SPAM = (
    1  # groups.ban reason: 0 other, 1 spam, 2 verbal abuse, 3 strong language, 4 off-topic
)

NO_USER_TOKEN = "needs an admin user token"
ESCALATION_ELSEWHERE = "escalations are posted by the moderators' chat adapter"


class VkActions:
    """Implements the `Actions` port for one VK community."""

    # Comments have no random_id. We send `guid` (which VK documents as protection against
    # posting the same comment twice) but do not rely on it, since that could not be verified
    # against real VK: a comment reply interrupted mid-call is not repeated.
    COMMENT_REPLIES_IDEMPOTENT = False

    def __init__(self, client: VkClient, group_id: int) -> None:
        self.client = client
        self.group_id = group_id

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        """Perform one action; VK errors come back as data."""
        if action.kind is ActionKind.ESCALATE:
            return ActionResult(ok=False, error=ESCALATION_ELSEWHERE, retryable=False)
        if message.author.is_self:
            return ActionResult(ok=False, error="refusing to act on the community's own message")
        handler = {
            ActionKind.REPLY: self._reply,
            ActionKind.DELETE: self._delete,
            ActionKind.BAN: self._ban,
            ActionKind.MUTE: self._ban,
        }[action.kind]
        try:
            return await handler(message, action)
        except Exception as exc:  # last resort: errors are data inside the pipeline
            log.exception("VK %s failed for %s", action.kind, message.event_key)
            return ActionResult(ok=False, error=f"{type(exc).__name__}: {exc}")

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        """Sends (random_id), deletes and bans are; comment replies are not (see class note)."""
        if action.kind is ActionKind.REPLY and message.surface not in MESSAGE_SURFACES:
            return self.COMMENT_REPLIES_IDEMPOTENT
        return True

    # ---- replies ---------------------------------------------------------------------------

    async def _reply(self, message: IncomingMessage, action: PlannedAction) -> ActionResult:
        text = action.text or ""
        if message.surface in MESSAGE_SURFACES:
            return await self._send_message(message, action, text)
        if message.surface is Surface.BOARD_COMMENT:
            return await self._board_reply(message, action, text)
        return await self._comment_reply(message, action, text)

    async def _send_message(
        self, message: IncomingMessage, action: PlannedAction, text: str
    ) -> ActionResult:
        # In community dialogs `reply_to` wants the global message id, which chats do not have;
        # `forward` with is_reply quotes by conversation_message_id and works for both.
        forward = {
            "peer_id": message.chat.chat_id,
            "conversation_message_ids": [message.message_id],
            "is_reply": True,
        }
        params = {
            "peer_id": message.chat.chat_id,
            "random_id": random_id_for(action.idempotency_key),
            "message": text,
            "forward": json.dumps(forward),
            "disable_mentions": 1,
        }
        return _to_action_result(await self.client.call("messages.send", params))

    async def _comment_reply(
        self, message: IncomingMessage, action: PlannedAction, text: str
    ) -> ActionResult:
        section, object_param = COMMENT_SECTIONS[message.surface]
        params = {
            "owner_id": message.chat.chat_id,
            object_param: message.thread_id,
            "message": text,
            "reply_to_comment": message.message_id,
            "guid": guid_for(action.idempotency_key),
            # wall.createComment takes the community id; the other sections take a 0/1 flag.
            "from_group": self.group_id if section == "wall" else 1,
        }
        idempotent = self.COMMENT_REPLIES_IDEMPOTENT
        result = await self.client.call(f"{section}.createComment", params, idempotent=idempotent)
        return _to_action_result(result)

    async def _board_reply(
        self, message: IncomingMessage, action: PlannedAction, text: str
    ) -> ActionResult:
        # Board topics have no reply threading: address the author with a mention instead.
        if message.author.user_id > 0:
            text = f"[id{message.author.user_id}|{message.author.display_name}], {text}"
        params = {
            "group_id": self.group_id,
            "topic_id": message.thread_id,
            "message": text,
            "from_group": 1,
            "guid": guid_for(action.idempotency_key),
        }
        idempotent = self.COMMENT_REPLIES_IDEMPOTENT
        result = await self.client.call("board.createComment", params, idempotent=idempotent)
        return _to_action_result(result)

    # ---- deletes ---------------------------------------------------------------------------

    async def _delete(self, message: IncomingMessage, _action: PlannedAction) -> ActionResult:
        if message.surface in MESSAGE_SURFACES:
            params = {"peer_id": message.chat.chat_id, "cmids": message.message_id}
            params["delete_for_all"] = 1
            return _to_action_result(await self.client.call("messages.delete", params), ref=False)
        if message.surface is Surface.BOARD_COMMENT:
            return await self._board_delete(message)
        return await self._user_call(
            f"{COMMENT_SECTIONS[message.surface][0]}.deleteComment",
            {"owner_id": message.chat.chat_id, "comment_id": message.message_id},
        )

    async def _board_delete(self, message: IncomingMessage) -> ActionResult:
        # board.deleteComment is the one comment delete a community token may call.
        params = {
            "group_id": self.group_id,
            "topic_id": message.thread_id,
            "comment_id": message.message_id,
        }
        return _to_action_result(await self.client.call("board.deleteComment", params), ref=False)

    # ---- bans ------------------------------------------------------------------------------

    async def _ban(self, message: IncomingMessage, action: PlannedAction) -> ActionResult:
        params: dict[str, Any] = {
            "group_id": self.group_id,
            "owner_id": message.author.user_id,
            "reason": BAN_REASON_SPAM,
            "comment": action.reason[:200],
            "comment_visible": 0,
        }
        duration = action.duration
        if duration is None and action.kind is ActionKind.MUTE:
            duration = DEFAULT_MUTE  # VK has no mute: a temporary ban stands in for it
        if duration is not None:
            params["end_date"] = int((datetime.now(UTC) + duration).timestamp())
        return await self._user_call("groups.ban", params)

    async def _user_call(self, method: str, params: Mapping[str, Any]) -> ActionResult:
        # wall/photos/video/market.deleteComment and groups.ban accept user tokens only (a
        # community token gets error 27): without an admin's token the core escalates instead.
        if not self.client.has_user_token:
            return ActionResult(ok=False, error=NO_USER_TOKEN, retryable=False)
        return _to_action_result(await self.client.call(method, params, user=True), ref=False)


class VkCommunityActions:
    """Routes each action to the `VkActions` of the message's community (one token set each)."""

    def __init__(self, by_community: Mapping[str, VkActions]) -> None:
        self.by_community = dict(by_community)

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        """Perform the action with the community's own tokens."""
        actions = self.by_community.get(message.community)
        if actions is None:
            return ActionResult(ok=False, error=f"no VK community named {message.community!r}")
        return await actions.execute(message, action, card)

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        """As the community's VkActions says; unknown communities are never called."""
        actions = self.by_community.get(message.community)
        return actions.is_idempotent(message, action) if actions else True


def _to_action_result(result: VkResult, ref: bool = True) -> ActionResult:
    if not result.ok:
        return ActionResult(
            ok=False,
            error=result.error,
            retryable=result.retryable,
            retry_after=result.retry_after,
            uncertain=result.uncertain,
        )
    return ActionResult(ok=True, platform_ref=_platform_ref(result.response) if ref else None)


def _platform_ref(response: Any) -> str | None:
    if isinstance(response, dict) and "comment_id" in response:
        return str(response["comment_id"])
    if isinstance(response, int) and not isinstance(response, bool):
        return str(response)
    return None
