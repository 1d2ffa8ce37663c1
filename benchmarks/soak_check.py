"""What the emulators saw, per original message: the chaos soak's side of the ledger.

Every count here comes from the emulators' own records (posted messages and comments, deletes,
bans) rather than from the service's database, so a service that believes it acted once but
posted twice is caught. Keys are `(platform, chat_id, message_id)` as the inbox stores them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.sandbox.vk import FakeVK

Key = tuple[str, int, int]


@dataclass
class Performed:
    """Actions the platforms carried out, and when the service last called for each."""

    replies: Counter[Key] = field(default_factory=Counter)  # posts per original message
    deletes: set[Key] = field(default_factory=set)
    bans: set[tuple[str, int, int]] = field(default_factory=set)  # (platform, chat, user)
    reply_at: dict[Key, float] = field(default_factory=dict)
    delete_at: dict[Key, float] = field(default_factory=dict)

    @property
    def duplicate_replies(self) -> int:
        """Original messages answered more than once."""
        return sum(1 for posts in self.replies.values() if posts > 1)


def _last_calls(calls: Iterable[tuple[Key | None, float]]) -> dict[Key, float]:
    # The last call for a target is the one that succeeded (retries stop after a success).
    times: dict[Key, float] = {}
    for key, at in calls:
        if key is not None:
            times[key] = max(at, times.get(key, at))
    return times


def telegram_performed(fake: FakeTelegram, groups: Iterable[int], out: Performed) -> None:
    """Replies posted to the groups, messages deleted and members banned or muted."""
    groups = set(groups)
    for sent in fake.sent_messages():
        target = sent.get("reply_to_message")
        if sent["chat"]["id"] in groups and target is not None:
            out.replies[("telegram", sent["chat"]["id"], target["message_id"])] += 1
    out.reply_at |= _last_calls(
        (_tg_reply_key(c.params), c.at) for c in fake.calls_to("sendMessage")
    )
    deletes = _last_calls(
        (_tg_key(c.params, "message_id"), c.at) for c in fake.calls_to("deleteMessage")
    )
    for key, at in deletes.items():
        if fake.is_deleted(key[1], key[2]):
            out.deletes.add(key)
            out.delete_at[key] = at
    for method in ("banChatMember", "restrictChatMember"):
        for call in fake.calls_to(method):
            chat, user = int(call.params["chat_id"]), int(call.params["user_id"])
            if fake.member(chat, user)["status"] in ("kicked", "restricted"):
                out.bans.add(("telegram", chat, user))


def _tg_key(params: dict[str, Any], field_name: str) -> Key | None:
    if field_name not in params:
        return None
    return ("telegram", int(params["chat_id"]), int(params[field_name]))


def _tg_reply_key(params: dict[str, Any]) -> Key | None:
    reply = params.get("reply_parameters") or {}
    if "message_id" not in reply:
        return None
    return ("telegram", int(params["chat_id"]), int(reply["message_id"]))


def vk_performed(fake: FakeVK, out: Performed) -> None:
    """Comment replies, dialog replies, deleted comments and messages, and bans."""
    owner = -fake.group_id
    for comment in fake.posted_comments:
        if comment.get("reply_to_comment"):
            out.replies[("vk", owner, int(comment["reply_to_comment"]))] += 1
    creates = fake.calls_to("wall.createComment")
    out.reply_at |= _last_calls(
        (("vk", owner, int(c.params["reply_to_comment"])), c.at)
        for c in creates
        if c.params.get("reply_to_comment")
    )
    _vk_dialog_replies(fake, out)
    _vk_deletes(fake, out)
    out.bans |= {("vk", owner, int(user)) for user in fake.bans}


def _vk_dialog_replies(fake: FakeVK, out: Performed) -> None:
    # VK dedupes messages.send by random_id, so a posted message is one per random_id; the
    # `forward` of the calls names the message it answers.
    answered: dict[int, Key] = {}
    times = []
    for call in fake.calls_to("messages.send"):
        forward = json.loads(call.params.get("forward") or "{}")
        cmids = forward.get("conversation_message_ids") or []
        if cmids:
            key = ("vk", int(forward["peer_id"]), int(cmids[0]))
            answered[int(call.params["random_id"])] = key
            times.append((key, call.at))
    for message in fake.sent_messages.values():
        key = answered.get(int(message.get("random_id", 0)))
        if key is not None:
            out.replies[key] += 1
    out.reply_at |= _last_calls(times)


def _vk_deletes(fake: FakeVK, out: Performed) -> None:
    for kind, owner, comment_id in fake.deleted_comments:
        if kind == "wall":
            out.deletes.add(("vk", owner, comment_id))
    out.deletes |= {("vk", peer, cmid) for peer, cmid in fake.deleted_messages}
    out.delete_at |= _last_calls(
        (("vk", int(c.params.get("owner_id", -fake.group_id)), int(c.params["comment_id"])), c.at)
        for c in fake.calls_to("wall.deleteComment")
    )
    out.delete_at |= _last_calls(
        (("vk", int(c.params["peer_id"]), int(cmid)), c.at)
        for c in fake.calls_to("messages.delete")
        for cmid in c.params.get("cmids", "").split(",")
        if cmid
    )


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
