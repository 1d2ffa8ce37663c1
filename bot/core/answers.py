"""Find the FAQ answer for a question: regex patterns, keywords, then similar example questions."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.core.rules import Answer

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class AnswerMatch:
    """Which answer fits a message, how it was found, and how well."""

    answer: Answer
    how: str  # "pattern", "keyword" or "example"
    evidence: str
    score: float


def normalise(text: str) -> str:
    """Casefold and fold ё into е so "доставку" and "ДОСТАВКУ" match alike."""
    return text.casefold().replace("ё", "е")


def match_answer(
    text: str, answers: Sequence[Answer], *, is_question: bool, similarity: float
) -> AnswerMatch | None:
    """The best answer for a text; keywords and examples only count when it is a question."""
    plain = normalise(text)
    by_pattern = _by_pattern(text, answers)
    if by_pattern or not is_question:
        return by_pattern
    return _by_keywords(plain, answers) or _by_examples(plain, answers, similarity)


def _by_pattern(text: str, answers: Sequence[Answer]) -> AnswerMatch | None:
    # Patterns are explicit admin intent, so they apply even when the model sees no question.
    for answer in answers:
        for pattern in answer.patterns:
            found = _compiled(pattern).search(text)
            if found:
                return AnswerMatch(answer, "pattern", found.group(0)[:80], 1.0)
    return None


def _by_keywords(plain: str, answers: Sequence[Answer]) -> AnswerMatch | None:
    best: AnswerMatch | None = None
    for answer in answers:
        hits = [k for k in answer.keywords if normalise(k) in plain]
        if hits and (best is None or len(hits) > best.score):
            best = AnswerMatch(answer, "keyword", ", ".join(hits), float(len(hits)))
    return best


def _by_examples(plain: str, answers: Sequence[Answer], threshold: float) -> AnswerMatch | None:
    best: AnswerMatch | None = None
    grams = _trigrams(plain)
    for answer in answers:
        for example in answer.examples:
            score = _cosine(grams, _trigrams(normalise(example)))
            if score >= threshold and (best is None or score > best.score):
                best = AnswerMatch(answer, "example", example, round(score, 3))
    return best


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _trigrams(text: str) -> Counter[str]:
    # Character trigrams per word survive Russian endings ("доставка"/"доставку") and typos.
    grams: Counter[str] = Counter()
    for word in _WORD.findall(text):
        padded = f" {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b[gram] for gram, count in a.items())
    return dot / (
        math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    )
