"""The moderators' chat commands: /help, /check, /stats, /reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.core.answers import match_answer
from bot.core.decide import Situation, decide
from bot.core.language import guess_language
from bot.core.model import AuthorStats, ChatRef, IncomingMessage, Label, Platform, UserRef
from bot.core.ports import Clock
from bot.i18n import t
from bot.rules_file import RulesSource
from bot.scoring import CascadeScoring
from bot.storage.stats import Activity, activity
from bot.storage.store import SqlStore

Reload = Callable[[], Awaitable[str]]


class Commands:
    """Implements the Telegram runner's ModeratorCommands on top of the core."""

    def __init__(
        self,
        rules: RulesSource,
        scoring: CascadeScoring,
        store: SqlStore,
        clock: Clock,
        reload: Reload,
    ) -> None:
        self._rules, self._scoring, self._store = rules, scoring, store
        self._clock, self._reload = clock, reload

    async def help(self, lang: str) -> str:
        """What the bot does and which commands exist."""
        names = ", ".join(c.name for c in self._rules.rules.communities)
        return t("help", lang, communities=names)

    async def check(self, text: str) -> str:
        """Classify and decide a text as if a newcomer posted it in the first community."""
        lang = self._rules.rules.language
        if not text.strip():
            return t("check-empty", lang)
        message = self._probe(text)
        (verdict,) = await self._scoring.score([message], [False])
        rules = self._rules.rules.for_community(message.community)
        answer = match_answer(
            text,
            rules.questions.answers,
            is_question=verdict.score(Label.QUESTION) >= rules.questions.threshold,
            similarity=rules.questions.similarity,
        )
        decision = decide(Situation(message, verdict, rules, AuthorStats(), answer, message.date))
        return t(
            "check-result",
            lang,
            labels=", ".join(t(f"label-{label.value}", lang) for label in decision.labels),
            scores=" ".join(f"{k}={v:.2f}" for k, v in verdict.as_dict().items()),
            reasons="; ".join(verdict.reasons()[:6]) or "-",
            actions=", ".join(t(f"action-{a.kind.value}", lang) for a in decision.actions) or "-",
            rule=decision.rule_id,
        )

    async def stats(self) -> str:
        """Today and the last 7 days in a few lines."""
        lang, now = self._rules.rules.language, self._clock.now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = await activity(self._store, midnight)
        week = await activity(self._store, now - timedelta(days=7))
        lines = [
            _period(t("stats-today", lang), today, lang),
            _period(t("stats-week", lang), week, lang),
            t("stats-open", lang, count=week.escalations_open),
        ]
        return "\n".join(lines)

    async def reload(self) -> str:
        """Reload rules.yaml; the answer says what happened."""
        return await self._reload()

    def _probe(self, text: str) -> IncomingMessage:
        community = self._rules.rules.communities[0]
        platform = Platform.TELEGRAM if community.telegram else Platform.VK
        now: datetime = self._clock.now()
        return IncomingMessage(
            platform=platform,
            event_key="check",
            community=community.name,
            chat=ChatRef(platform, 0),
            message_id=0,
            author=UserRef(platform, 0),
            text=text,
            date=now,
            language=guess_language(text),
        )


def _period(title: str, numbers: Activity, lang: str) -> str:
    return t("stats-period", lang, title=title, **numbers.counts())
