"""Send each planned action to the adapter of its platform; escalations go to the moderators."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.model import ActionKind, ActionResult, IncomingMessage, PlannedAction, Platform
from bot.core.ports import Actions, EscalationCard


class ActionRouter:
    """Implements Actions over several adapters: one per platform, one for moderator cards."""

    def __init__(self, platforms: Mapping[Platform, Actions], moderators: Actions | None) -> None:
        self._platforms = dict(platforms)
        self._moderators = moderators

    def attach(self, platforms: Mapping[Platform, Actions], moderators: Actions | None) -> None:
        """Connect adapters built after the core (they report alerts into its pipeline)."""
        self._platforms.update(platforms)
        self._moderators = moderators or self._moderators

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        """Dispatch one action; a missing adapter is a permanent, audited failure."""
        target = self._target(message, action)
        if target is None:
            return ActionResult(ok=False, error=self._missing(message, action))
        return await target.execute(message, action, card)

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        """Ask the adapter that would perform the action."""
        target = self._target(message, action)
        return target is not None and target.is_idempotent(message, action)

    def _target(self, message: IncomingMessage, action: PlannedAction) -> Actions | None:
        if action.kind is ActionKind.ESCALATE:
            return self._moderators
        return self._platforms.get(message.platform)

    def _missing(self, message: IncomingMessage, action: PlannedAction) -> str:
        if action.kind is ActionKind.ESCALATE:
            return "no moderators' chat is configured (moderators.telegram_chat_id)"
        return f"{message.platform.value} is not connected in this service"
