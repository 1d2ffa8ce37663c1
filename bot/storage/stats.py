"""Short activity counts for `/stats` and the demo (the full reports build on the same tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from bot.storage.store import SqlStore
from bot.storage.tables import DecisionRow, EscalationRow, InboxRow, OutboxRow

LABELS = ("spam", "negative", "question", "other")


@dataclass(frozen=True, slots=True)
class Activity:
    """What happened since a moment."""

    messages: int
    by_label: dict[str, int] = field(default_factory=dict)
    actions_done: dict[str, int] = field(default_factory=dict)
    actions_failed: int = 0
    escalations_open: int = 0

    def counts(self) -> dict[str, int]:
        """Flat counts for texts: messages, labels, and actions done (bans include mutes)."""
        done = self.actions_done
        return {
            "messages": self.messages,
            **{label: self.by_label.get(label, 0) for label in LABELS},
            **{kind: done.get(kind, 0) for kind in ("reply", "delete", "escalate")},
            "ban": done.get("ban", 0) + done.get("mute", 0),
            "failed": self.actions_failed,
        }


async def activity(store: SqlStore, since: datetime) -> Activity:
    """Messages by primary label, actions done by kind, failures and open escalations."""
    async with store.begin() as uow:
        session = uow.session
        messages = await session.scalar(
            select(func.count()).select_from(InboxRow).where(InboxRow.received_at >= since)
        )
        labels = await session.execute(
            select(DecisionRow.label, func.count())
            .where(DecisionRow.created_at >= since)
            .group_by(DecisionRow.label)
        )
        done = await session.execute(
            select(OutboxRow.kind, OutboxRow.state, func.count())
            .where(OutboxRow.updated_at >= since)
            .group_by(OutboxRow.kind, OutboxRow.state)
        )
        open_escalations = await session.scalar(
            select(func.count()).select_from(EscalationRow).where(EscalationRow.status == "open")
        )
    states = [(kind, state, count) for kind, state, count in done]
    return Activity(
        messages=int(messages or 0),
        by_label={label: int(count) for label, count in labels},
        actions_done={kind: int(n) for kind, state, n in states if state == "done"},
        actions_failed=sum(int(n) for _, state, n in states if state == "failed"),
        escalations_open=int(open_escalations or 0),
    )
