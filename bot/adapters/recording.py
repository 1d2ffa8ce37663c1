"""An Actions implementation that performs nothing and records everything (demo, dry checks)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bot.core.model import ActionKind, ActionResult, IncomingMessage, PlannedAction
from bot.core.ports import EscalationCard


@dataclass(frozen=True, slots=True)
class RecordedAction:
    """One action as it would have been sent to a platform."""

    message: IncomingMessage
    action: PlannedAction
    card: EscalationCard | None


class RecordingActions:
    """Records actions in order and answers like a healthy platform would."""

    def __init__(self, moderators_chat_id: int = 0) -> None:
        self.performed: list[RecordedAction] = []
        self._moderators_chat_id = moderators_chat_id
        self._ids = itertools.count(1)

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        """Record the action; replies and cards get a made-up message id."""
        self.performed.append(RecordedAction(message, action, card))
        if action.kind is ActionKind.ESCALATE:
            return ActionResult(
                ok=True, platform_ref=f"{self._moderators_chat_id}:{next(self._ids)}"
            )
        if action.kind is ActionKind.REPLY:
            return ActionResult(ok=True, platform_ref=f"{message.chat.chat_id}:{next(self._ids)}")
        return ActionResult(ok=True)

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        """Nothing leaves the process, so repeating is always safe."""
        return True
