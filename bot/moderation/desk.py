"""The moderators' one-tap actions on escalations, and the feedback labels they leave behind."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.core.model import ActionKind, Label, PlannedAction
from bot.core.ports import (
    AuditEntry,
    Clock,
    EscalationCard,
    EscalationRecord,
    ModeratorAct,
    ModeratorActResult,
    ModeratorChoice,
    OutboxState,
    Store,
    UnitOfWork,
)
from bot.i18n import TEXTS, t

log = logging.getLogger(__name__)

# What each choice teaches the classifier about the message.
FEEDBACK: dict[ModeratorChoice, Label | None] = {
    ModeratorChoice.DELETE: Label.SPAM,
    ModeratorChoice.BAN: Label.SPAM,
    ModeratorChoice.FINE: Label.OTHER,
    ModeratorChoice.SEND_SUGGESTED: None,  # confirms the bot's own labels
    ModeratorChoice.OWN_REPLY: None,
}


class Desk:
    """Implements ModeratorDesk: validates a tap, plans its actions once, records who did what."""

    def __init__(
        self, store: Store, clock: Clock, language: Callable[[], str], wake: Callable[[], None]
    ) -> None:
        self._store, self._clock, self._language, self._wake = store, clock, language, wake

    async def act(self, act: ModeratorAct) -> ModeratorActResult:
        """Apply a moderator's choice once; a replayed or forged tap changes nothing."""
        lang = self._language()
        async with self._store.begin() as uow:
            escalation = await uow.escalations.by_token(act.token)
            if escalation is None:
                await _audit_refusal(uow, act, "unknown-token", self._clock.now())
                return ModeratorActResult(False, t("desk-unknown", lang))
            refusal = _refusal(escalation, act, lang)
            if refusal is not None:
                return ModeratorActResult(False, refusal, escalation)
            return await self._apply(uow, escalation, act, lang)

    async def _apply(
        self, uow: UnitOfWork, escalation: EscalationRecord, act: ModeratorAct, lang: str
    ) -> ModeratorActResult:
        now = self._clock.now()
        if not await uow.escalations.resolve(
            escalation.id, act.choice.value, act.moderator_id, now
        ):
            return ModeratorActResult(False, _already(escalation, lang), escalation)
        for action in _planned(escalation, act):
            await uow.outbox.add(escalation.inbox_id, action, OutboxState.PENDING)
        await _learn(uow, escalation, act, now)
        await uow.audit.record(_act_audit(escalation, act), now)
        resolved = await uow.escalations.by_token(act.token)
        message = await uow.inbox.get(escalation.inbox_id)
        verdict = await uow.inbox.verdict(escalation.inbox_id)
        card = EscalationCard(resolved or escalation, message, verdict, escalation.reason)
        self._wake()
        done = t("desk-done", lang, resolution=t(f"resolution-{act.choice.value}", lang))
        return ModeratorActResult(True, done, resolved, card)


def _refusal(escalation: EscalationRecord, act: ModeratorAct, lang: str) -> str | None:
    if escalation.resolution is not None:
        return _already(escalation, lang)
    if act.choice is ModeratorChoice.SEND_SUGGESTED and not escalation.suggested_reply:
        return t("desk-no-suggestion", lang)
    if act.choice is ModeratorChoice.OWN_REPLY and not (act.text or "").strip():
        return t("desk-empty-reply", lang)
    return None


def _already(escalation: EscalationRecord, lang: str) -> str:
    resolution = escalation.resolution or "?"
    key = f"resolution-{resolution}"
    label = t(key, lang) if key in TEXTS else resolution
    return t("desk-already", lang, resolution=label, moderator=escalation.resolved_by)


def _planned(escalation: EscalationRecord, act: ModeratorAct) -> list[PlannedAction]:
    key = f"esc:{escalation.id}:{act.choice.value}"
    reason = f"moderator {act.moderator_id}: {act.choice.value}"
    match act.choice:
        case ModeratorChoice.SEND_SUGGESTED:
            return [_action(ActionKind.REPLY, key, reason, escalation.suggested_reply)]
        case ModeratorChoice.OWN_REPLY:
            return [_action(ActionKind.REPLY, key, reason, act.text)]
        case ModeratorChoice.DELETE:
            return [_action(ActionKind.DELETE, key, reason)]
        case ModeratorChoice.BAN:
            return [
                _action(ActionKind.DELETE, f"{key}:delete", reason),
                _action(ActionKind.BAN, key, reason),
            ]
        case ModeratorChoice.FINE:
            return []


def _action(kind: ActionKind, key: str, reason: str, text: str | None = None) -> PlannedAction:
    return PlannedAction(
        kind=kind, rule_id="moderator", idempotency_key=key, text=text, reason=reason
    )


async def _learn(
    uow: UnitOfWork, escalation: EscalationRecord, act: ModeratorAct, now: datetime
) -> None:
    label = FEEDBACK[act.choice]
    if label is None:
        verdict = await uow.inbox.verdict(escalation.inbox_id)
        label = verdict.primary() if verdict else Label.OTHER
    await uow.feedback.add(escalation.inbox_id, label, act.moderator_id, now)
    if act.choice is ModeratorChoice.FINE and "spam" in escalation.reason:
        # A false spam alarm: vouch for the author so the spam model skips them (as tg-spam does).
        message = await uow.inbox.get(escalation.inbox_id)
        await uow.users.set_trusted(
            message.platform, message.community, message.author.user_id, True
        )


async def _audit_refusal(uow: UnitOfWork, act: ModeratorAct, why: str, now: datetime) -> None:
    detail = {"reason": why, "choice": act.choice.value, "moderator": act.moderator_id}
    await uow.audit.record(AuditEntry("moderator-refused", detail, actor="moderator"), now)


def _act_audit(escalation: EscalationRecord, act: ModeratorAct) -> AuditEntry:
    detail = {
        "escalation": escalation.id,
        "choice": act.choice.value,
        "moderator": act.moderator_id,
        "moderator_name": act.moderator_name,
        "text": act.text,
    }
    actor = f"moderator:{act.moderator_id}"
    return AuditEntry("moderator-act", detail, escalation.inbox_id, actor=actor)
