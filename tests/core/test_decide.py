"""decide() is pure: every branch is a parametrised case."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.answers import match_answer
from bot.core.decide import Situation, decide, in_business_hours, is_trusted
from bot.core.model import (
    ActionKind,
    AuthorStats,
    ChatRef,
    IncomingMessage,
    Label,
    Platform,
    Score,
    Surface,
    UserRef,
    Verdict,
)
from bot.core.rules import Priority
from bot.rules_file import parse_rules

RULES_YAML = """
version: 1
language: en
communities:
  - name: shop
    telegram: {chat_id: -100}
  - name: quiet
    telegram: {chat_id: -200}
    dry_run: true
    questions: {unanswered: ignore}
    spam: {strikes: {punishment: mute, mute_for: 2h, ban_after: 3}}
spam: {threshold: 0.85, review_threshold: 0.6, strikes: {ban_after: 2}, trust_after: 5}
negative:
  threshold: 0.7
  reply: {ru: "Жаль! Напишите номер заказа.", en: "Sorry! Please send your order number."}
questions:
  threshold: 0.6
  answers:
    - id: delivery-time
      keywords: [доставк, delivery]
      reply: {ru: "Доставка 2–5 дней.", en: "Delivery takes 2–5 days."}
    - id: tracking
      patterns: ['трек-номер']
      reply: "Track it at example.com/track"
limits: {replies_per_user_per_hour: 2}
business_hours:
  timezone: Europe/Moscow
  days: [mon, tue, wed, thu, fri]
  start: "09:00"
  end: "18:00"
  off_hours_reply: "We are offline, back at 9:00."
"""
RULES = parse_rules(RULES_YAML)
# A Wednesday, 12:00 in Moscow (in business hours) and 23:00 (outside).
IN_HOURS = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
OFF_HOURS = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def message(text: str = "hello", community: str = "shop", **changes: object) -> IncomingMessage:
    base = IncomingMessage(
        platform=Platform.TELEGRAM,
        event_key="tg:-100:7",
        community=community,
        chat=ChatRef(Platform.TELEGRAM, -100),
        message_id=7,
        author=UserRef(Platform.TELEGRAM, 42, "Ann"),
        text=text,
        date=IN_HOURS,
        language="en",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def verdict(spam: float = 0.0, negative: float = 0.0, question: float = 0.0) -> Verdict:
    scores = (
        Score("test", Label.SPAM, spam),
        Score("test", Label.NEGATIVE, negative),
        Score("test", Label.QUESTION, question),
    )
    return Verdict(scores)


def situation(
    msg: IncomingMessage | None = None,
    v: Verdict | None = None,
    author: AuthorStats | None = None,
    now: datetime = IN_HOURS,
) -> Situation:
    msg = msg or message()
    v = v or verdict()
    rules = RULES.for_community(msg.community)
    answer = match_answer(
        msg.text,
        rules.questions.answers,
        is_question=v.score(Label.QUESTION) >= rules.questions.threshold,
        similarity=rules.questions.similarity,
    )
    return Situation(msg, v, rules, author or AuthorStats(), answer, now)


def kinds(decision_actions: tuple) -> list[ActionKind]:
    return [a.kind for a in decision_actions]


EXEMPT_AUTHORS = [
    pytest.param(
        {"author": UserRef(Platform.TELEGRAM, 1, is_self=True)},
        "exempt-own-message",
        id="bot-itself",
    ),
    pytest.param(
        {"author": UserRef(Platform.TELEGRAM, 1, is_admin=True)}, "exempt-admin", id="admin"
    ),
    pytest.param({"author": UserRef(Platform.TELEGRAM, 1, is_bot=True)}, "exempt-bot", id="bot"),
    pytest.param(
        {"is_automatic_forward": True}, "exempt-channel-auto-forward", id="channel-auto-forward"
    ),
]


@pytest.mark.parametrize(("changes", "rule_id"), EXEMPT_AUTHORS)
def test_decide_never_actions_exempt_authors(changes: dict, rule_id: str) -> None:
    decision = decide(situation(message("BUY NOW", **changes), verdict(spam=0.99)))
    assert decision.rule_id == rule_id
    assert decision.actions == ()
    assert not decision.strike


def test_decide_deletes_spam_on_first_strike_without_ban() -> None:
    decision = decide(situation(v=verdict(spam=0.9)))
    assert kinds(decision.actions) == [ActionKind.DELETE]
    assert decision.strike and decision.labels == (Label.SPAM,)


def test_decide_bans_on_second_strike() -> None:
    decision = decide(situation(v=verdict(spam=0.9), author=AuthorStats(strikes=1)))
    assert kinds(decision.actions) == [ActionKind.DELETE, ActionKind.BAN]
    assert decision.actions[1].duration is None  # forever


def test_decide_mutes_per_community_override() -> None:
    msg = message(community="quiet")
    decision = decide(situation(msg, verdict(spam=0.95), AuthorStats(strikes=2)))
    assert kinds(decision.actions) == [ActionKind.DELETE, ActionKind.MUTE]
    assert decision.actions[1].duration == timedelta(hours=2)


def test_decide_does_not_ban_an_already_banned_author_again() -> None:
    decision = decide(
        situation(v=verdict(spam=0.9), author=AuthorStats(strikes=5, is_banned=True))
    )
    assert kinds(decision.actions) == [ActionKind.DELETE]


@pytest.mark.parametrize(
    ("spam", "expected_rule"),
    [
        pytest.param(0.59, "no-action", id="below-review"),
        pytest.param(0.6, "spam-unsure", id="at-review-threshold"),
        pytest.param(0.84, "spam-unsure", id="below-threshold"),
        pytest.param(0.85, "spam-delete", id="at-threshold"),
    ],
)
def test_decide_spam_thresholds(spam: float, expected_rule: str) -> None:
    assert decide(situation(v=verdict(spam=spam))).rule_id == expected_rule


def test_decide_unsure_spam_is_escalated_not_deleted() -> None:
    decision = decide(situation(v=verdict(spam=0.7)))
    assert kinds(decision.actions) == [ActionKind.ESCALATE]
    assert not decision.strike


def test_decide_leaves_spam_in_private_chats_unanswered() -> None:
    msg = message(surface=Surface.PRIVATE)
    decision = decide(situation(msg, verdict(spam=0.99)))
    assert decision.rule_id == "spam-private" and decision.actions == ()


def test_decide_answers_known_question_in_customers_language() -> None:
    msg = message("Сколько идёт доставка в Казань?", language="ru")
    decision = decide(situation(msg, verdict(question=0.9)))
    assert decision.rule_id == "answer-delivery-time"
    assert [a.text for a in decision.actions] == ["Доставка 2–5 дней."]


def test_decide_keyword_alone_is_not_a_question() -> None:
    msg = message("delivery was fine, thanks")
    decision = decide(situation(msg, verdict(question=0.1)))
    assert decision.actions == () and decision.clean


def test_decide_pattern_answers_even_without_question_score() -> None:
    msg = message("дайте трек-номер")
    decision = decide(situation(msg, verdict(question=0.1)))
    assert decision.rule_id == "answer-tracking"
    assert Label.QUESTION in decision.labels


@pytest.mark.parametrize(
    ("community", "expected"),
    [
        pytest.param("shop", [ActionKind.ESCALATE], id="escalate"),
        pytest.param("quiet", [], id="ignore-override"),
    ],
)
def test_decide_unanswered_question(community: str, expected: list[ActionKind]) -> None:
    msg = message("what colour is the sky?", community=community)
    assert kinds(decide(situation(msg, verdict(question=0.9))).actions) == expected


def test_decide_escalates_complaint_with_first_reply() -> None:
    decision = decide(situation(v=verdict(negative=0.8)))
    assert kinds(decision.actions) == [ActionKind.REPLY, ActionKind.ESCALATE]
    assert decision.actions[0].text == "Sorry! Please send your order number."
    assert not decision.clean


def test_decide_complaint_and_question_negative_priority_suggests_answer() -> None:
    msg = message("Where is my delivery?! Terrible service")
    decision = decide(situation(msg, verdict(negative=0.9, question=0.9)))
    assert decision.rule_id == "negative-escalate"
    escalation = decision.actions[-1]
    assert escalation.kind is ActionKind.ESCALATE
    assert escalation.text == "Delivery takes 2–5 days."
    assert set(decision.labels) == {Label.NEGATIVE, Label.QUESTION}


def test_decide_complaint_and_question_question_priority_answers() -> None:
    msg = message("Where is my delivery?! Terrible service")
    s = situation(msg, verdict(negative=0.9, question=0.9))
    s = replace(s, rules=s.rules.model_copy(update={"priority": Priority.QUESTION}))
    decision = decide(s)
    assert decision.rule_id == "answer-delivery-time"


def test_decide_question_priority_falls_back_to_complaint_without_answer() -> None:
    msg = message("why is everything broken?! Terrible")
    s = situation(msg, verdict(negative=0.9, question=0.9))
    s = replace(s, rules=s.rules.model_copy(update={"priority": Priority.QUESTION}))
    assert decide(s).rule_id == "negative-escalate"


def test_decide_dry_run_still_plans_actions() -> None:
    decision = decide(situation(message(community="quiet"), verdict(spam=0.99)))
    assert decision.dry_run
    assert kinds(decision.actions) == [ActionKind.DELETE]


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        pytest.param(1, [ActionKind.REPLY], id="under-limit"),
        pytest.param(2, [], id="at-limit"),
    ],
)
def test_decide_reply_limit_per_user(replies: int, expected: list[ActionKind]) -> None:
    msg = message("How long is delivery?")
    author = AuthorStats(replies_last_hour=replies)
    assert kinds(decide(situation(msg, verdict(question=0.9), author)).actions) == expected


def test_decide_reply_limit_keeps_escalations() -> None:
    decision = decide(situation(v=verdict(negative=0.9), author=AuthorStats(replies_last_hour=9)))
    assert kinds(decision.actions) == [ActionKind.ESCALATE]
    assert "reply limit" in decision.reason


def test_decide_off_hours_adds_reply_to_escalation() -> None:
    msg = message("what colour is the sky?")
    decision = decide(situation(msg, verdict(question=0.9), now=OFF_HOURS))
    assert kinds(decision.actions) == [ActionKind.REPLY, ActionKind.ESCALATE]
    assert decision.actions[0].text == "We are offline, back at 9:00."


def test_decide_off_hours_reply_not_added_in_hours() -> None:
    msg = message("what colour is the sky?")
    decision = decide(situation(msg, verdict(question=0.9), now=IN_HOURS))
    assert kinds(decision.actions) == [ActionKind.ESCALATE]


def test_decide_ignores_edits_when_configured() -> None:
    s = situation(message(edited=True), verdict(spam=0.99))
    s = replace(
        s,
        rules=s.rules.model_copy(
            update={"spam": s.rules.spam.model_copy(update={"check_edits": False})}
        ),
    )
    assert decide(s).rule_id == "edit-ignored"


def test_decide_checks_edited_message_into_spam() -> None:
    decision = decide(situation(message("now spam", edited=True), verdict(spam=0.99)))
    assert kinds(decision.actions) == [ActionKind.DELETE]


def test_decide_idempotency_keys_derive_from_event_and_rule() -> None:
    decision = decide(situation(v=verdict(spam=0.9), author=AuthorStats(strikes=1)))
    keys = [a.idempotency_key for a in decision.actions]
    assert keys == ["tg:-100:7:delete:spam-delete", "tg:-100:7:ban:spam-ban"]


def test_decide_ignores_scores_that_carry_errors() -> None:
    broken = Verdict((Score("model", Label.SPAM, 0.99, error="boom"),))
    decision = decide(situation(v=broken))
    assert decision.actions == ()


@pytest.mark.parametrize(
    ("author", "trusted"),
    [
        pytest.param(AuthorStats(clean_messages=4), False, id="new"),
        pytest.param(AuthorStats(clean_messages=5), True, id="enough-clean"),
        pytest.param(AuthorStats(is_trusted_by_moderator=True), True, id="vouched"),
    ],
)
def test_is_trusted(author: AuthorStats, trusted: bool) -> None:
    assert is_trusted(author, RULES.for_community("shop")) is trusted


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        pytest.param(datetime(2026, 11, 25, 6, 0, tzinfo=UTC), True, id="wed-09:00-msk"),
        pytest.param(datetime(2026, 11, 25, 15, 0, tzinfo=UTC), False, id="wed-18:00-msk"),
        pytest.param(datetime(2026, 11, 28, 9, 0, tzinfo=UTC), False, id="saturday"),
    ],
)
def test_in_business_hours(moment: datetime, inside: bool) -> None:
    hours = RULES.business_hours
    assert hours is not None
    assert in_business_hours(hours, moment) is inside
