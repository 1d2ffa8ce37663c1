"""The schema of rules.yaml: what admins may configure, validated in one place."""

from __future__ import annotations

import re
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from bot.core.durations import format_duration, parse_duration
from bot.core.model import Label

RULES_VERSION = 1
KEBAB = r"^[a-z0-9]+(-[a-z0-9]+)*$"

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^\d+[smhdw]$"}),
]
Language = Literal["ru", "en"]


class Strict(BaseModel):
    """Every rules section refuses unknown keys, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedText(Strict):
    """A text admins write in both languages; customers get the one matching their message."""

    ru: str | None = None
    en: str | None = None

    @model_validator(mode="after")
    def _has_text(self) -> LocalizedText:
        if not (self.ru or self.en):
            raise ValueError("give the text in at least one language (ru or en)")
        return self

    def pick(self, language: str | None) -> str:
        """The text in a language, falling back to the other one."""
        first, second = (self.en, self.ru) if language == "en" else (self.ru, self.en)
        return first or second or ""


def _text(value: object) -> object:
    # A plain string serves every language: most shops write one text.
    return {"ru": value, "en": value} if isinstance(value, str) else value


Text = Annotated[LocalizedText, BeforeValidator(_text)]


class SpamAction(StrEnum):
    """What happens to a message the model is sure is spam."""

    DELETE = "delete"
    ESCALATE = "escalate"
    IGNORE = "ignore"


class Punishment(StrEnum):
    """What happens to an author who collects enough strikes."""

    BAN = "ban"
    MUTE = "mute"
    NONE = "none"


class StrikeRules(Strict):
    """Repeat spammers: after `ban_after` deleted messages, ban or mute the author."""

    ban_after: int = Field(2, ge=1, le=100)
    punishment: Punishment = Punishment.BAN
    mute_for: Duration = timedelta(days=1)
    ban_for: Duration | None = None  # None bans forever


class SpamRules(Strict):
    """Spam detection and what to do about it."""

    threshold: float = Field(0.85, ge=0, le=1)
    review_threshold: float | None = Field(0.6, ge=0, le=1)
    action: SpamAction = SpamAction.DELETE
    strikes: StrikeRules = StrikeRules()
    allow_domains: tuple[str, ...] = ()
    block_domains: tuple[str, ...] = ()
    stop_words: tuple[str, ...] = ()
    use_shared_stop_words: bool = True
    trust_after: int = Field(5, ge=0, le=10_000)
    check_edits: bool = True

    @model_validator(mode="after")
    def _review_below_threshold(self) -> SpamRules:
        if self.review_threshold is not None and self.review_threshold > self.threshold:
            raise ValueError("review_threshold must not be above threshold")
        return self


class NegativeAction(StrEnum):
    """What happens to a negative review or complaint."""

    ESCALATE = "escalate"
    IGNORE = "ignore"


class NegativeRules(Strict):
    """Negative reviews and complaints."""

    threshold: float = Field(0.7, ge=0, le=1)
    action: NegativeAction = NegativeAction.ESCALATE
    reply: Text | None = None  # optional first reply to the customer, sent at once


class Answer(Strict):
    """One known question and its answer."""

    id: str = Field(pattern=KEBAB)
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    reply: Text

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regex: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _has_matcher(self) -> Answer:
        if not (self.keywords or self.patterns or self.examples):
            raise ValueError(f"answer {self.id!r} needs keywords, patterns or examples")
        return self


class Unanswered(StrEnum):
    """What happens to a question no answer matches."""

    ESCALATE = "escalate"
    IGNORE = "ignore"


class QuestionRules(Strict):
    """Questions: answered from the FAQ below, otherwise escalated or left alone."""

    threshold: float = Field(0.6, ge=0, le=1)
    similarity: float = Field(0.55, ge=0, le=1)
    unanswered: Unanswered = Unanswered.ESCALATE
    answers: tuple[Answer, ...] = ()

    @model_validator(mode="after")
    def _unique_answer_ids(self) -> QuestionRules:
        ids = [answer.id for answer in self.answers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"answer ids must be unique: {', '.join(duplicates)}")
        return self


class Limits(Strict):
    """Keep the bot from talking too much to one person."""

    replies_per_user_per_hour: int = Field(3, ge=0, le=1000)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessHours(Strict):
    """When moderators are at work; outside these hours escalations get an off-hours reply."""

    timezone: str = "Europe/Moscow"
    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: time = time(9, 0)
    end: time = time(18, 0)
    off_hours_reply: Text | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use e.g. Europe/Moscow)") from exc
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("business hours must start before they end")
        return self


class Sections(Strict):
    """The sections a community may override."""

    dry_run: bool | None = None
    spam: SpamRules | None = None
    negative: NegativeRules | None = None
    questions: QuestionRules | None = None
    limits: Limits | None = None
    business_hours: BusinessHours | None = None


class TelegramTarget(Strict):
    """A Telegram group, supergroup or a channel's discussion group."""

    chat_id: int
    linked_channel_id: int | None = None  # the channel whose comments land in this group


class VkTarget(Strict):
    """A VK community; its tokens come from the environment, never from this file."""

    group_id: int = Field(gt=0)
    token_env: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]*$")
    user_token_env: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]*$")


class Community(Sections):
    """One community the bot looks after, with optional overrides of any section."""

    name: str = Field(min_length=1, max_length=100)
    telegram: TelegramTarget | None = None
    vk: VkTarget | None = None
    private_messages: bool = False  # answer customers' direct messages to the bot here

    @model_validator(mode="after")
    def _has_platform(self) -> Community:
        if self.telegram is None and self.vk is None:
            raise ValueError(f"community {self.name!r} needs a telegram or a vk section")
        return self


class Moderators(Strict):
    """The Telegram chat where moderators get escalation cards."""

    telegram_chat_id: int | None = None
    user_ids: tuple[int, ...] = ()  # empty: any administrator of the moderators' chat
    remind_after: Duration = timedelta(minutes=30)


class Priority(StrEnum):
    """Which side wins when a message is both a complaint and a question."""

    NEGATIVE = "negative"
    QUESTION = "question"


class EffectiveRules(Strict):
    """The rules in force for one community: global sections with its overrides applied."""

    community: str
    language: Language
    dry_run: bool
    priority: Priority
    spam: SpamRules
    negative: NegativeRules
    questions: QuestionRules
    limits: Limits
    business_hours: BusinessHours | None
    thresholds: dict[Label, float]


class RuleSet(Strict):
    """The whole of rules.yaml."""

    version: Literal[1]
    language: Language = "ru"
    dry_run: bool = False
    priority: Priority = Priority.NEGATIVE
    communities: tuple[Community, ...] = Field(min_length=1)
    moderators: Moderators = Moderators()
    spam: SpamRules = SpamRules()
    negative: NegativeRules = NegativeRules()
    questions: QuestionRules = QuestionRules()
    limits: Limits = Limits()
    business_hours: BusinessHours | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RuleSet:
        _check_unique(self.communities)
        if sum(c.private_messages for c in self.communities if c.telegram) > 1:
            raise ValueError("only one telegram community may take private_messages")
        if self.moderators.telegram_chat_id in self.telegram_chats():
            raise ValueError("the moderators' chat must not be one of the communities")
        for community in self.communities:
            self.for_community(community.name)  # an override may clash with a global value
        return self

    def community(self, name: str) -> Community:
        """A community by name (KeyError if absent)."""
        for community in self.communities:
            if community.name == name:
                return community
        raise KeyError(name)

    def for_community(self, name: str) -> EffectiveRules:
        """Merge a community's overrides onto the global sections."""
        community = self.community(name)
        merged = {
            section: _merge(getattr(self, section), getattr(community, section))
            for section in ("spam", "negative", "questions", "limits", "business_hours")
        }
        return EffectiveRules(
            community=name,
            language=self.language,
            dry_run=self.dry_run if community.dry_run is None else community.dry_run,
            priority=self.priority,
            thresholds=_thresholds(merged["spam"], merged["negative"], merged["questions"]),
            **merged,
        )

    def telegram_chats(self) -> dict[int, str]:
        """Telegram chat id → community name."""
        return {c.telegram.chat_id: c.name for c in self.communities if c.telegram}

    def vk_groups(self) -> dict[int, str]:
        """VK group id → community name."""
        return {c.vk.group_id: c.name for c in self.communities if c.vk}


def _merge(base: Any, override: Any) -> Any:
    # Only the keys an admin wrote in the override replace the global ones, recursively.
    if override is None:
        return base
    if base is None or not isinstance(override, BaseModel):
        return override
    updates = {
        key: _merge(getattr(base, key), getattr(override, key))
        for key in override.model_fields_set
    }
    # Validate the merged section as a whole: the override alone was checked against defaults.
    return type(base).model_validate(base.model_copy(update=updates).model_dump())


def _thresholds(
    spam: SpamRules, negative: NegativeRules, questions: QuestionRules
) -> dict[Label, float]:
    return {
        Label.SPAM: spam.threshold,
        Label.NEGATIVE: negative.threshold,
        Label.QUESTION: questions.threshold,
    }


def _check_unique(communities: tuple[Community, ...]) -> None:
    names = [c.name for c in communities]
    _refuse_duplicates("community names", names)
    _refuse_duplicates(
        "telegram chat ids", [c.telegram.chat_id for c in communities if c.telegram]
    )
    _refuse_duplicates("vk group ids", [c.vk.group_id for c in communities if c.vk])


def _refuse_duplicates(what: str, values: list[Any]) -> None:
    duplicates = sorted({str(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"{what} must be unique: {', '.join(duplicates)}")
