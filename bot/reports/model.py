"""The numbers of a report as frozen dataclasses; renderers only format them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import chain
from typing import Any, TypeVar, cast

import numpy as np

T = TypeVar("T")
NEGATIVE = "negative"
SPAM = "spam"
QUESTION = "question"
LABELS = (SPAM, NEGATIVE, QUESTION, "other")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between ranks; None when empty."""
    if not values:
        return None
    # numpy's default method is this linear interpolation, and it partitions instead of sorting.
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def median(values: Sequence[float]) -> float | None:
    """The median (the mean of the two middle values for an even count); None when empty."""
    return percentile(values, 50)


def _merge_counts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    merged = dict(a)
    for key, n in b.items():
        merged[key] = merged.get(key, 0) + n
    return merged


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open time range [start, end) in UTC; days are UTC calendar days."""

    start: datetime
    end: datetime

    def days(self) -> list[date]:
        """Every calendar day the period touches, in order."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True, slots=True)
class Facts:
    """Counts and raw durations (seconds) of one community on one day; `+` merges two."""

    labels: Mapping[str, int] = field(default_factory=dict)
    spam_removed: int = 0
    users_banned: int = 0
    auto_answered: int = 0
    questions_escalated: int = 0
    escalations: int = 0
    resolved: int = 0
    resolution_times: tuple[float, ...] = ()
    response_times: tuple[float, ...] = ()
    response_in_hours: tuple[float, ...] = ()
    response_off_hours: tuple[float, ...] = ()

    def __add__(self, other: Facts) -> Facts:
        return Facts(
            labels=_merge_counts(self.labels, other.labels),
            spam_removed=self.spam_removed + other.spam_removed,
            users_banned=self.users_banned + other.users_banned,
            auto_answered=self.auto_answered + other.auto_answered,
            questions_escalated=self.questions_escalated + other.questions_escalated,
            escalations=self.escalations + other.escalations,
            resolved=self.resolved + other.resolved,
            resolution_times=self.resolution_times + other.resolution_times,
            response_times=self.response_times + other.response_times,
            response_in_hours=self.response_in_hours + other.response_in_hours,
            response_off_hours=self.response_off_hours + other.response_off_hours,
        )

    @property
    def messages(self) -> int:
        """Messages with a decision, whatever their label."""
        return sum(self.labels.values())

    @property
    def negative_share(self) -> float | None:
        """Negative messages as a fraction of all decided messages; None without messages."""
        return self.labels.get(NEGATIVE, 0) / self.messages if self.messages else None

    @property
    def questions(self) -> int:
        """Messages whose primary label is a question."""
        return self.labels.get(QUESTION, 0)

    @property
    def questions_unanswered(self) -> int:
        """Questions neither answered by the bot nor escalated (the rules ignore them, a reply
        limit held the answer back, or the answer failed): what the two counts leave out."""
        return max(0, self.questions - self.auto_answered - self.questions_escalated)


def total(facts: Iterable[Facts]) -> Facts:
    """All facts merged into one, in linear time (chained `+` would copy the tuples each time)."""
    items = list(facts)
    labels: dict[str, int] = {}
    for item in items:
        labels = _merge_counts(labels, item.labels)
    merged: dict[str, Any] = {"labels": labels}
    for name in _COUNTS:
        merged[name] = sum(getattr(item, name) for item in items)
    for name in _TIMES:
        merged[name] = tuple(chain.from_iterable(getattr(item, name) for item in items))
    return Facts(**merged)


_COUNTS = (
    "spam_removed",
    "users_banned",
    "auto_answered",
    "questions_escalated",
    "escalations",
    "resolved",
)
_TIMES = ("resolution_times", "response_times", "response_in_hours", "response_off_hours")


def negative_trend(by_day: Mapping[date, Facts]) -> float | None:
    """Negative share of the later half of the days minus the earlier half, in share points.

    Halves pool their messages (not their daily shares) so a quiet day does not swing the trend.
    """
    days = sorted(day for day, facts in by_day.items() if facts.messages)
    if len(days) < 2:
        return None
    middle = len(days) // 2
    early = total(by_day[day] for day in days[:middle]).negative_share
    late = total(by_day[day] for day in days[middle:]).negative_share
    return None if early is None or late is None else late - early


@dataclass(frozen=True, slots=True)
class ModeratorLoad:
    """Who handled what: resolutions by kind, their speed, and labels given as feedback."""

    moderator_id: int
    name: str
    resolutions: Mapping[str, int]
    resolution_times: tuple[float, ...] = ()
    feedback: int = 0

    @property
    def resolved(self) -> int:
        """Escalations this moderator closed."""
        return sum(self.resolutions.values())


@dataclass(frozen=True, slots=True)
class QuestionGroup:
    """Unanswered questions that mean the same thing, with a rules.yaml answer stub."""

    answer_id: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    size: int
    communities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `smmbot report` shows, keyed by (community, day)."""

    period: Period
    language: str
    cells: Mapping[tuple[str, date], Facts]
    moderators: tuple[ModeratorLoad, ...] = ()
    questions: tuple[QuestionGroup, ...] = ()
    business_hours_known: bool = False
    grouped_by: str = ""

    _memo: dict[object, Any] = field(default_factory=dict, compare=False, repr=False)

    def communities(self) -> list[str]:
        """Community names in alphabetical order."""
        return sorted({community for community, _ in self.cells})

    def community(self, name: str) -> Facts:
        """One community over the whole period."""
        return self._remember(
            ("community", name),
            lambda: total(facts for (c, _), facts in self.cells.items() if c == name),
        )

    def total(self) -> Facts:
        """Every community over the whole period."""
        return self._remember("total", lambda: total(self.cells.values()))

    def by_day(self, community: str | None = None) -> dict[date, Facts]:
        """Facts per day of the period (empty days included), for one community or all."""
        return self._remember(("by_day", community), lambda: self._by_day(community))

    def _by_day(self, community: str | None) -> dict[date, Facts]:
        days: dict[date, list[Facts]] = {day: [] for day in self.period.days()}
        for (c, day), facts in self.cells.items():
            if community is None or c == community:
                days.setdefault(day, []).append(facts)
        return {day: total(items) for day, items in days.items()}

    def _remember(self, key: object, compute: Callable[[], T]) -> T:
        # Renderers ask for the same merges many times; merging 1M-message tuples is not free.
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])
