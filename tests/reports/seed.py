"""A small database built by hand, with the report's expected numbers worked out beside it.

Business hours are Mon–Fri 09:00–18:00 Moscow (UTC+3). 2026-03-02 is a Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from bot.core.rules import RuleSet
from bot.storage.store import SqlStore
from bot.storage.tables import DecisionRow, EscalationRow, FeedbackRow, InboxRow, OutboxRow

SHOP, VK = "Shop chat", "Shop VK"
MON = datetime(2026, 3, 2, tzinfo=UTC)
TUE = MON + timedelta(days=1)
RULES = RuleSet.model_validate(
    {
        "version": 1,
        "language": "en",
        "communities": [
            {"name": SHOP, "telegram": {"chat_id": -1001}},
            {"name": VK, "vk": {"group_id": 1}},
        ],
        "business_hours": {
            "timezone": "Europe/Moscow",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00",
            "end": "18:00",
        },
    }
)


def at(day: datetime, hh: int, mm: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm)


# id, community, received, label, author, text
MESSAGES: list[tuple[int, str, datetime, str, int, str]] = [
    (1, SHOP, at(MON, 10), "question", 1, "How long is delivery?"),
    (2, SHOP, at(MON, 10, 5), "question", 2, "Do you have oolong?"),
    (3, SHOP, at(MON, 10, 10), "spam", 5, "earn from home"),
    (4, SHOP, at(MON, 10, 11), "spam", 5, "earn from home now"),
    (5, SHOP, at(MON, 20), "negative", 3, "Awful tea"),
    (6, SHOP, at(MON, 21), "other", 4, "Thanks!"),
    (7, SHOP, at(TUE, 9), "question", 6, "Do you ship to Canada?"),
    (8, SHOP, at(TUE, 9, 30), "question", 7, "Do you deliver to Canada?"),
    (9, SHOP, at(TUE, 10), "negative", 8, "Parcel is late again"),
    (10, VK, at(TUE, 12), "question", 9, "Сколько стоит подарочный сертификат?"),
    (11, VK, at(TUE, 12, 10), "other", 10, "Привет"),
    (12, SHOP, at(MON, 0) - timedelta(minutes=1), "other", 11, "before the period"),
    (13, SHOP, at(TUE, 0) + timedelta(days=2), "other", 11, "after the period"),
]
# inbox id, kind, rule id, state, seconds after the message
OUTBOX = [
    (1, "reply", "answer-delivery", "done", 4),
    (3, "delete", "spam-delete", "done", 1),
    (3, "ban", "spam-ban", "done", 1),
    (4, "delete", "spam-delete", "done", 1),
    (4, "ban", "spam-ban", "done", 1),
    (5, "reply", "negative-first-reply", "done", 2),
    (10, "reply", "question-escalate", "failed", 5),  # failed: not a response
]
# inbox id, resolution, moderator, seconds to resolve (None: still open)
ESCALATIONS: list[tuple[int, str | None, int | None, int | None]] = [
    (2, "reply", 77, 600),
    (5, "fine", 78, 3600),
    (7, None, None, None),
    (8, None, None, None),
    (9, "reply", 77, 1200),
    (10, "fine", 78, 300),
]
FEEDBACK = [(5, 78), (9, 77), (10, 78)]  # inbox id, moderator


async def seed(store: SqlStore) -> None:
    """Insert the rows above with plain table inserts in one unit of work."""
    received = {m[0]: m[2] for m in MESSAGES}
    async with store.begin() as uow:
        await uow.session.execute(insert(InboxRow), [_inbox(*m) for m in MESSAGES])
        await uow.session.execute(insert(DecisionRow), [_decision(*m) for m in MESSAGES])
        await uow.session.execute(insert(OutboxRow), [_outbox(received, *o) for o in OUTBOX])
        await uow.session.execute(
            insert(EscalationRow), [_escalation(received, *e) for e in ESCALATIONS]
        )
        await uow.session.execute(
            insert(FeedbackRow),
            [
                {"inbox_id": i, "label": "question", "moderator_id": m, "created_at": received[i]}
                for i, m in FEEDBACK
            ],
        )


def _inbox(
    i: int, community: str, received: datetime, _label: str, author: int, text: str
) -> dict[str, Any]:
    return {
        "id": i,
        "event_key": f"test:{i}",
        "platform": "telegram",
        "community": community,
        "chat_id": -1001,
        "message_id": i,
        "author_id": author,
        "text": text,
        "message": {},
        "received_at": received,
        "processed_at": received,
    }


def _decision(i: int, _c: str, received: datetime, label: str, *_: object) -> dict[str, Any]:
    return {
        "inbox_id": i,
        "rule_id": "test",
        "label": label,
        "labels": [label],
        "reason": "test",
        "dry_run": False,
        "scores": {},
        "created_at": received,
    }


def _outbox(
    received: dict[int, datetime], i: int, kind: str, rule: str, state: str, after: int
) -> dict[str, Any]:
    when = received[i] + timedelta(seconds=after)
    return {
        "inbox_id": i,
        "idempotency_key": f"test:{i}:{kind}",
        "kind": kind,
        "rule_id": rule,
        "payload": {},
        "state": state,
        "created_at": received[i],
        "updated_at": when,
    }


def _escalation(
    received: dict[int, datetime],
    i: int,
    resolution: str | None,
    by: int | None,
    after: int | None,
) -> dict[str, Any]:
    resolved = None if after is None else received[i] + timedelta(seconds=after)
    return {
        "inbox_id": i,
        "token": f"tok{i}",
        "reason": "test",
        "status": "open" if after is None else "resolved",
        "resolution": resolution,
        "resolved_by": by,
        "resolved_at": resolved,
        "created_at": received[i],
    }
