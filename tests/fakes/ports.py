"""In-memory fakes of the pipeline's ports, recording calls the way tg-spam's moq mocks do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.core.model import ActionKind, ActionResult, IncomingMessage, PlannedAction, Score
from bot.core.ports import EscalationCard
from classifiers.contract import Sample


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class ScriptedActions:
    """Actions whose results a test scripts per kind; every call is recorded."""

    script: dict[ActionKind, list[ActionResult]] = field(default_factory=dict)
    calls: list[tuple[IncomingMessage, PlannedAction, EscalationCard | None]] = field(
        default_factory=list
    )
    non_idempotent: frozenset[ActionKind] = frozenset({ActionKind.REPLY, ActionKind.ESCALATE})

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        self.calls.append((message, action, card))
        queue = self.script.get(action.kind)
        if queue:
            return queue.pop(0)
        if action.kind is ActionKind.ESCALATE:
            return ActionResult(ok=True, platform_ref=f"-999:{len(self.calls)}")
        return ActionResult(ok=True, platform_ref=f"{message.chat.chat_id}:{len(self.calls)}")

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        return action.kind not in self.non_idempotent

    def kinds(self) -> list[ActionKind]:
        return [action.kind for _, action, _ in self.calls]


class ExplodingClassifier:
    """A classifier that always raises, to prove errors become data."""

    name = "exploding"

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        raise RuntimeError("model file is corrupt")
