"""Real texts for the chaos soak, sampled from the labelled data sets in /work/shared/data.

The mix decides which actions the service plans: spam is deleted (and its repeat authors banned),
texts with an FAQ keyword get a reply, everything else is stored, decided and left alone.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DATA = Path("/work/shared/data")
FAQ_KEYWORDS = ("доставк", "delivery", "deliver", "shipping")
FAQ_PATTERN = re.compile("|".join(FAQ_KEYWORDS), re.IGNORECASE)
MAX_CHARS = 1000  # long reviews add nothing to a delivery test but classifier time

# category -> (share of events, files and the labels taken from them)
SOURCES: dict[str, tuple[float, tuple[tuple[str, str | None], ...]]] = {
    "spam": (
        0.2,
        (("spam/tg-spam-samples.jsonl", "spam"), ("spam/sms-spam-collection.jsonl", "spam")),
    ),
    "ham": (
        0.3,
        (("spam/tg-spam-samples.jsonl", "ham"), ("spam/sms-spam-collection.jsonl", "ham")),
    ),
    "question": (
        0.15,
        (("questions/banking77-train.jsonl", None), ("questions/rubq-1.0.jsonl", None)),
    ),
    "tweet": (
        0.15,
        (
            ("sentiment/sentirueval2015-banks-train.jsonl", None),
            ("sentiment/sentirueval2015-telecoms-train.jsonl", None),
        ),
    ),
}
FAQ_SHARE = 0.2
FAQ_FILES = (
    "questions/banking77-train.jsonl",
    "questions/clinc150-train-val.jsonl",
    "sentiment/sentirueval2015-telecoms-train.jsonl",
)


@dataclass(frozen=True, slots=True)
class Text:
    """One text to post and what kind of text it is."""

    category: str
    text: str


def _rows(name: str) -> Iterator[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _pool(files: tuple[tuple[str, str | None], ...]) -> list[str]:
    return [
        row["text"][:MAX_CHARS]
        for name, label in files
        for row in _rows(name)
        if row["text"].strip() and (label is None or row["label"] == label)
    ]


def _faq_pool() -> list[str]:
    found = [r["text"] for name in FAQ_FILES for r in _rows(name) if FAQ_PATTERN.search(r["text"])]
    return [text[:MAX_CHARS] for text in found]


class Corpus:
    """Draws texts by category share with its own seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._pools = {name: _pool(files) for name, (_, files) in SOURCES.items()}
        self._pools["faq"] = _faq_pool()
        self._names = [*SOURCES, "faq"]
        self._weights = [share for share, _ in SOURCES.values()] + [FAQ_SHARE]

    def draw(self) -> Text:
        """A random text; spam keeps its category so the soak can pick a repeat offender."""
        [category] = self._rng.choices(self._names, self._weights)
        return Text(category, self._rng.choice(self._pools[category]))
