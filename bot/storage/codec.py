"""Core objects to and from the JSON kept in the database; every round trip is exact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from bot.core.model import (
    ActionKind,
    AttachmentKind,
    ChatRef,
    IncomingMessage,
    Label,
    PlannedAction,
    Platform,
    Score,
    Surface,
    UserRef,
    Verdict,
)


def to_plain(value: Any) -> Any:
    """Enums, dates, tuples and dataclasses as JSON values (dicts and scalars pass through)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_plain(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in fields(value)}
    return value


def message_to_json(message: IncomingMessage) -> dict[str, Any]:
    """An incoming message as JSON; `raw` is kept as the adapter gave it."""
    data = {f.name: to_plain(getattr(message, f.name)) for f in fields(message) if f.name != "raw"}
    data["raw"] = message.raw
    return data


def _chat(data: dict[str, Any]) -> ChatRef:
    return ChatRef(platform=Platform(data["platform"]), chat_id=data["chat_id"])


def _user(data: dict[str, Any]) -> UserRef:
    return UserRef(**{**data, "platform": Platform(data["platform"])})


def _attachments(values: list[str]) -> tuple[AttachmentKind, ...]:
    return tuple(AttachmentKind(value) for value in values)


_MESSAGE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "platform": Platform,
    "chat": _chat,
    "author": _user,
    "date": datetime.fromisoformat,
    "surface": Surface,
    "links": tuple,
    "mentions": tuple,
    "attachments": _attachments,
}


def message_from_json(data: dict[str, Any]) -> IncomingMessage:
    """Rebuild a stored message; keys this version does not know are ignored."""
    known = {f.name for f in fields(IncomingMessage)}
    kwargs = {
        key: _MESSAGE_FIELDS.get(key, _same)(value) for key, value in data.items() if key in known
    }
    return IncomingMessage(**kwargs)


def _same(value: Any) -> Any:
    return value


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    """Every score with its reasons, the thresholds, and the combined score per label."""
    return {
        "scores": to_plain(verdict.scores),
        "thresholds": {label.value: limit for label, limit in verdict.thresholds.items()},
        "combined": verdict.as_dict(),
    }


def verdict_from_json(data: dict[str, Any]) -> Verdict:
    """Rebuild a stored verdict."""
    scores = tuple(
        Score(**{**s, "label": Label(s["label"]), "details": tuple(s["details"])})
        for s in data["scores"]
    )
    thresholds = {Label(label): limit for label, limit in data.get("thresholds", {}).items()}
    return Verdict(scores=scores, thresholds=thresholds)


def action_payload(action: PlannedAction) -> dict[str, Any]:
    """The parts of a planned action that have no column of their own."""
    duration = None if action.duration is None else action.duration.total_seconds()
    return {
        "text": action.text,
        "duration_seconds": duration,
        "reason": action.reason,
        "answer_id": action.answer_id,
    }


def action_from_row(
    kind: str, rule_id: str, idempotency_key: str, payload: dict[str, Any]
) -> PlannedAction:
    """Rebuild a planned action from its outbox row."""
    seconds = payload.get("duration_seconds")
    return PlannedAction(
        kind=ActionKind(kind),
        rule_id=rule_id,
        idempotency_key=idempotency_key,
        text=payload.get("text"),
        duration=None if seconds is None else timedelta(seconds=seconds),
        reason=payload.get("reason", ""),
        answer_id=payload.get("answer_id"),
    )
