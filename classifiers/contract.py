"""The one contract every classifier honours: texts in, per-label scores with reasons out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Label(StrEnum):
    """What a message is; a message can carry several labels at once."""

    SPAM = "spam"
    NEGATIVE = "negative"
    QUESTION = "question"
    OTHER = "other"


# The order in which a primary label is picked when several apply.
PRIMARY_ORDER: tuple[Label, ...] = (Label.SPAM, Label.NEGATIVE, Label.QUESTION)
SCORED_LABELS: tuple[Label, ...] = PRIMARY_ORDER


@dataclass(frozen=True, slots=True)
class Sample:
    """One text to classify plus what the caller already knows about it."""

    text: str
    links: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    has_media: bool = False
    skip: frozenset[Label] = frozenset()


@dataclass(frozen=True, slots=True)
class Score:
    """One classifier's score for one label, with the reasons behind it or the error it hit."""

    classifier: str
    label: Label
    score: float
    details: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the score is usable (no error)."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class Verdict:
    """All scores for one text, combined into one probability per label."""

    scores: tuple[Score, ...]
    thresholds: dict[Label, float] = field(default_factory=dict)

    def score(self, label: Label) -> float:
        """The highest usable score for a label (0.0 when no classifier scored it)."""
        usable = [s.score for s in self.scores if s.label == label and s.ok]
        return max(usable, default=0.0)

    def reasons(self, label: Label | None = None) -> tuple[str, ...]:
        """Reasons of usable scores, optionally for one label, in classifier order."""
        return tuple(
            detail
            for s in self.scores
            if s.ok and (label is None or s.label == label)
            for detail in s.details
        )

    def errors(self) -> tuple[str, ...]:
        """Errors raised by any classifier while scoring this text."""
        return tuple(f"{s.classifier}: {s.error}" for s in self.scores if s.error)

    def labels(self, thresholds: dict[Label, float] | None = None) -> tuple[Label, ...]:
        """Every label whose score reaches its threshold, in primary order."""
        limits = thresholds if thresholds is not None else self.thresholds
        found = tuple(
            label for label in PRIMARY_ORDER if self.score(label) >= limits.get(label, 0.5)
        )
        return found or (Label.OTHER,)

    def primary(self, thresholds: dict[Label, float] | None = None) -> Label:
        """The single most important label: spam, then negative, then question, else other."""
        return self.labels(thresholds)[0]

    def as_dict(self) -> dict[str, float]:
        """Label → combined score, for JSON output and storage."""
        return {label.value: round(self.score(label), 4) for label in SCORED_LABELS}


class Classifier(Protocol):
    """Scores a batch of samples; must never raise for bad input (errors go into `Score.error`)."""

    name: str

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        """Return one tuple of scores per sample, in input order."""
        ...
