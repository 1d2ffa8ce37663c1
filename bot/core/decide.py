"""Decisions as a pure function: a message, its scores, the rules and the author's history in,
a Decision with planned actions out. No I/O, so every branch is a parametrised test."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.answers import AnswerMatch
from bot.core.model import (
    ActionKind,
    AuthorStats,
    Decision,
    IncomingMessage,
    Label,
    PlannedAction,
    Surface,
    Verdict,
)
from bot.core.rules import (
    WEEKDAYS,
    BusinessHours,
    EffectiveRules,
    NegativeAction,
    Priority,
    Punishment,
    SpamAction,
    Unanswered,
)


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything decide() looks at."""

    message: IncomingMessage
    verdict: Verdict
    rules: EffectiveRules
    author: AuthorStats
    answer: AnswerMatch | None
    now: datetime
    already_struck: bool = False  # an earlier version of this (edited) message cost a strike


def is_trusted(author: AuthorStats, rules: EffectiveRules) -> bool:
    """Trusted authors skip the spam model: a moderator vouched, or enough clean messages."""
    if author.is_trusted_by_moderator:
        return True
    return rules.spam.trust_after > 0 and author.clean_messages >= rules.spam.trust_after


def exemption(message: IncomingMessage) -> str | None:
    """Why a message must never be actioned, or None."""
    author = message.author
    if author.is_self:
        return "own-message"
    if message.is_automatic_forward:
        return "channel-auto-forward"
    if author.is_admin:
        return "admin"
    if author.is_bot:
        return "bot"
    return None


def decide(situation: Situation) -> Decision:
    """Decide what to do about one message."""
    reason = exemption(situation.message)
    if reason is not None:
        return _nothing(situation, f"exempt-{reason}", f"author is exempt: {reason}")
    if situation.message.edited and not situation.rules.spam.check_edits:
        return _nothing(situation, "edit-ignored", "edits are not checked")
    decision = _decide_spam(situation) or _decide_content(situation)
    return _finalise(situation, decision)


def _decide_spam(s: Situation) -> Decision | None:
    score, spam = s.verdict.score(Label.SPAM), s.rules.spam
    if spam.action is SpamAction.IGNORE:
        return None
    if score >= spam.threshold:
        if s.message.surface is Surface.PRIVATE:
            return _nothing(s, "spam-private", "spam in a private chat is left unanswered")
        if spam.action is SpamAction.ESCALATE:
            return _escalate(s, "spam-escalate", f"spam {score:.2f}", labels=(Label.SPAM,))
        return _delete_spam(s, score)
    unsure = spam.review_threshold is not None and score >= spam.review_threshold
    if unsure and s.message.surface is not Surface.PRIVATE:
        return _escalate(s, "spam-unsure", f"possible spam {score:.2f}", labels=(Label.SPAM,))
    return None


def _delete_spam(s: Situation, score: float) -> Decision:
    actions = [_action(s, ActionKind.DELETE, "spam-delete", reason=f"spam {score:.2f}")]
    # One message is one strike, however often it is edited before it is gone.
    strikes = s.author.strikes + (0 if s.already_struck else 1)
    punishment = None if s.already_struck else _punishment(s, strikes)
    if punishment is not None:
        actions.append(punishment)
    why = f"spam {score:.2f}; strike {strikes} of {s.rules.spam.strikes.ban_after}"
    return Decision("spam-delete", (Label.SPAM,), tuple(actions), why, strike=not s.already_struck)


def _punishment(s: Situation, strikes: int) -> PlannedAction | None:
    rules = s.rules.spam.strikes
    if strikes < rules.ban_after or rules.punishment is Punishment.NONE or s.author.is_banned:
        return None
    if rules.punishment is Punishment.MUTE:
        return _action(
            s,
            ActionKind.MUTE,
            "spam-mute",
            duration=rules.mute_for,
            reason=f"{strikes} spam strikes",
        )
    return _action(
        s, ActionKind.BAN, "spam-ban", duration=rules.ban_for, reason=f"{strikes} spam strikes"
    )


def _decide_content(s: Situation) -> Decision:
    labels = _content_labels(s)
    order = (Label.NEGATIVE, Label.QUESTION)
    if s.rules.priority is Priority.QUESTION:
        order = (Label.QUESTION, Label.NEGATIVE)
    for label in order:
        if label in labels:
            decision = _handle(s, label, labels)
            if decision is not None:
                return decision
    return _clean(s, labels)


def _content_labels(s: Situation) -> tuple[Label, ...]:
    found = tuple(
        label
        for label in (Label.NEGATIVE, Label.QUESTION)
        if s.verdict.score(label) >= s.rules.thresholds[label]
    )
    if Label.QUESTION not in found and s.answer is not None and s.answer.how == "pattern":
        found += (Label.QUESTION,)  # an admin's regex names a question the model may miss
    return found


def _handle(s: Situation, label: Label, labels: tuple[Label, ...]) -> Decision | None:
    if label is Label.NEGATIVE:
        return _handle_negative(s, labels)
    return _handle_question(s, labels, defer=Label.NEGATIVE in labels)


def _handle_negative(s: Situation, labels: tuple[Label, ...]) -> Decision | None:
    negative = s.rules.negative
    if negative.action is NegativeAction.IGNORE:
        return None
    suggested = s.answer.answer.reply.pick(_lang(s)) if s.answer else None
    actions = [_escalation(s, "negative-escalate", "negative review", suggested)]
    if negative.reply is not None:
        actions.insert(0, _reply(s, "negative-first-reply", negative.reply.pick(_lang(s))))
    why = f"negative {s.verdict.score(Label.NEGATIVE):.2f}"
    return Decision("negative-escalate", labels, tuple(actions), why)


def _handle_question(s: Situation, labels: tuple[Label, ...], defer: bool) -> Decision | None:
    if s.answer is not None:
        reply = _reply(
            s,
            f"answer-{s.answer.answer.id}",
            s.answer.answer.reply.pick(_lang(s)),
            answer_id=s.answer.answer.id,
        )
        why = f"answered by {s.answer.how}: {s.answer.evidence}"
        return Decision(f"answer-{s.answer.answer.id}", labels, (reply,), why)
    if defer:
        return None  # no answer: let the complaint side handle it
    if s.rules.questions.unanswered is Unanswered.IGNORE:
        return _clean(s, labels, rule_id="question-ignored", why="no answer; unanswered: ignore")
    escalation = _escalation(s, "question-escalate", "unanswered question", None)
    return Decision("question-escalate", labels, (escalation,), "no answer matched")


def _clean(
    s: Situation, labels: tuple[Label, ...], rule_id: str = "no-action", why: str = "nothing to do"
) -> Decision:
    spam = s.verdict.score(Label.SPAM)
    clean = Label.NEGATIVE not in labels and spam < (s.rules.spam.review_threshold or 1.0)
    return Decision(rule_id, labels or (Label.OTHER,), (), why, clean=clean)


def _finalise(s: Situation, decision: Decision) -> Decision:
    decision = _add_off_hours_reply(s, decision)
    decision = _apply_reply_limit(s, decision)
    return replace(decision, dry_run=s.rules.dry_run)


def _add_off_hours_reply(s: Situation, decision: Decision) -> Decision:
    hours = s.rules.business_hours
    kinds = {a.kind for a in decision.actions}
    if hours is None or hours.off_hours_reply is None or ActionKind.ESCALATE not in kinds:
        return decision
    if ActionKind.REPLY in kinds or Label.SPAM in decision.labels:
        return decision
    if in_business_hours(hours, s.now):
        return decision
    reply = _reply(s, "off-hours-reply", hours.off_hours_reply.pick(_lang(s)))
    return replace(decision, actions=(reply, *decision.actions))


def _apply_reply_limit(s: Situation, decision: Decision) -> Decision:
    limit = s.rules.limits.replies_per_user_per_hour
    replies = [a for a in decision.actions if a.kind is ActionKind.REPLY]
    if not replies or s.author.replies_last_hour < limit:
        return decision
    kept = tuple(a for a in decision.actions if a.kind is not ActionKind.REPLY)
    why = f"{decision.reason}; reply limit of {limit}/h reached"
    return replace(decision, actions=kept, reason=why)


def in_business_hours(hours: BusinessHours, now: datetime) -> bool:
    """Whether a moment falls inside the business hours, in their own time zone."""
    local = now.astimezone(ZoneInfo(hours.timezone))
    return WEEKDAYS[local.weekday()] in hours.days and hours.start <= local.time() < hours.end


def _escalate(s: Situation, rule_id: str, why: str, labels: tuple[Label, ...]) -> Decision:
    return Decision(rule_id, labels, (_escalation(s, rule_id, why, None),), why)


def _escalation(s: Situation, rule_id: str, why: str, suggested: str | None) -> PlannedAction:
    return _action(s, ActionKind.ESCALATE, rule_id, text=suggested, reason=why)


def _reply(s: Situation, rule_id: str, text: str, answer_id: str | None = None) -> PlannedAction:
    return _action(s, ActionKind.REPLY, rule_id, text=text, answer_id=answer_id)


def _action(s: Situation, kind: ActionKind, rule_id: str, **fields: object) -> PlannedAction:
    key = f"{s.message.event_key}:{kind.value}:{rule_id}"
    return PlannedAction(kind=kind, rule_id=rule_id, idempotency_key=key, **fields)  # type: ignore[arg-type]


def _nothing(s: Situation, rule_id: str, why: str) -> Decision:
    return Decision(
        rule_id, s.verdict.labels(s.rules.thresholds), (), why, dry_run=s.rules.dry_run
    )


def _lang(s: Situation) -> str:
    return s.message.language or s.rules.language
