"""The heuristics on real labelled rows from /work/shared/data (read at test time, never copied).

Bounds sit a little below the figures measured when these tests were written; each assertion
states the measured value, so a drop shows how far the heuristics have moved.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from classifiers import HeuristicConfig, KeywordClassifier, Label, Sample, load_stop_words

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared labelled data not found at {DATA}; these tests need it"
)
BASE = KeywordClassifier()
Row = dict[str, Any]
ScoreTable = tuple[dict[Label, float], ...]


@cache
def rows(name: str) -> tuple[Row, ...]:
    """All rows of one JSON Lines file under the shared data folder."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    with path.open(encoding="utf-8") as lines:
        return tuple(json.loads(line) for line in lines if line.strip())


def every(name: str, step: int, keep: Callable[[Row], bool] = lambda r: True) -> list[Row]:
    """A fixed, evenly spread subset, so the suite stays fast and the figures reproducible."""
    return [r for r in rows(name) if keep(r)][::step]


@cache
def scored(texts: tuple[str, ...], classifier: KeywordClassifier) -> ScoreTable:
    """Every label's score per text; cached because several tests read the same rows."""
    results = classifier.classify([Sample(t) for t in texts])
    return tuple({s.label: s.score for s in r} for r in results)


def scores(texts: list[str], label: Label, classifier: KeywordClassifier = BASE) -> list[float]:
    return [by_label[label] for by_label in scored(tuple(texts), classifier)]


def share(values: list[float], threshold: float) -> float:
    return sum(v >= threshold for v in values) / len(values) if values else 0.0


def precision_recall(pos: list[float], neg: list[float], threshold: float) -> tuple[float, float]:
    hits, false = sum(v >= threshold for v in pos), sum(v >= threshold for v in neg)
    return (hits / (hits + false) if hits + false else 1.0), hits / len(pos)


def split(name: str, positive: str, label: Label, **kw: Any) -> tuple[list[float], list[float]]:
    data = rows(name)
    pos = [r["text"] for r in data if r["label"] == positive]
    neg = [r["text"] for r in data if r["label"] != positive]
    return scores(pos, label, **kw), scores(neg, label, **kw)


def sentirueval(files: tuple[str, ...], labels: set[str]) -> list[str]:
    return [r["text"] for f in files for r in rows(f"sentiment/{f}.jsonl") if r["label"] in labels]


TWEETS = ("sentirueval2015-banks-test", "sentirueval2015-telecoms-test")
REVIEWS = ("sentirueval2015-rest-reviews-train", "sentirueval2015-car-reviews-train")


def test_spam_score_precise_on_tg_spam() -> None:
    pos, neg = split("spam/tg-spam-samples.jsonl", "spam", Label.SPAM)
    precision, recall = precision_recall(pos, neg, 0.85)
    # Measured: precision 0.99 (76 of 77), recall 0.43 of 175 spam. The one "ham" flagged is
    # "Подработка кого интересует пишите + в ЛС. Необходим телефон…", spam in all but label.
    assert precision >= 0.95
    assert recall >= 0.38


def test_spam_score_recall_grows_at_half_on_tg_spam() -> None:
    pos, neg = split("spam/tg-spam-samples.jsonl", "spam", Label.SPAM)
    precision, recall = precision_recall(pos, neg, 0.5)
    # Measured: precision 0.99, recall 0.79; ham false-positive rate 0.005 (2 of 438).
    assert precision >= 0.95
    assert recall >= 0.72


def test_spam_score_with_shared_stop_words_on_tg_spam() -> None:
    words = load_stop_words(DATA / "spam" / "stop-words.txt")
    classifier = KeywordClassifier(HeuristicConfig(stop_words=words))
    pos, neg = split("spam/tg-spam-samples.jsonl", "spam", Label.SPAM, classifier=classifier)
    precision, recall = precision_recall(pos, neg, 0.85)
    # Measured: precision 0.98 (81 of 83), recall 0.46. Besides the row above, a ham message
    # contains the stop phrase "в личку": stop words are the admin's blunt instrument.
    assert precision >= 0.94
    assert recall >= 0.41


def test_spam_score_few_false_positives_on_sms() -> None:
    pos, neg = split("spam/sms-spam-collection.jsonl", "spam", Label.SPAM)
    precision, recall = precision_recall(pos, neg, 0.5)
    # Measured at 0.5: precision 0.91, recall 0.38 (SMS spam is prizes and premium numbers
    # more than Telegram lures); ham false-positive rate 0.005. At 0.85: 8 spam, no ham.
    assert precision >= 0.85
    assert recall >= 0.33
    assert share(neg, 0.85) == 0.0


def test_spam_score_spares_bank_requests() -> None:
    texts = [r["text"] for r in every("questions/banking77-train.jsonl", 3)]
    # Bank customers write "crypto", "withdrawal", "$": measured 0 at 0.85, 0.002 at 0.5.
    assert share(scores(texts, Label.SPAM), 0.85) == 0.0


def test_spam_score_spares_brand_tweets() -> None:
    texts = sentirueval(TWEETS, {"neutral", "positive", "negative", "mixed"})
    spam = scores(texts, Label.SPAM)
    # Bank and telecom news talk of "доход", "прибыль", "$750 млн" with a link: measured 0 of
    # 8,394 at 0.85 and 0.009 at 0.5.
    assert share(spam, 0.85) == 0.0
    assert share(spam, 0.5) <= 0.02


def test_question_score_recognises_rubq() -> None:
    texts = [r["text"] for r in rows("questions/rubq-1.0.jsonl")]
    # Measured: 0.986 of 1,500 RuBQ questions reach 0.5.
    assert share(scores(texts, Label.QUESTION), 0.5) >= 0.95


def test_question_score_recognises_rubq_without_mark() -> None:
    texts = [r["text"] for r in rows("questions/rubq-1.0.jsonl") if "?" not in r["text"]]
    # Measured: 0.79 of the 72 RuBQ questions written without "?".
    assert share(scores(texts, Label.QUESTION), 0.5) >= 0.7


def test_question_score_recognises_banking77() -> None:
    texts = [r["text"] for r in every("questions/banking77-train.jsonl", 3)]
    # Measured: 0.70 of 3,333 Banking77 requests; many are statements of a problem
    # ("I was charged twice") that only the model can read as requests.
    assert share(scores(texts, Label.QUESTION), 0.5) >= 0.65


def test_question_score_recognises_clinc150() -> None:
    in_scope = every("questions/clinc150-train-val.jsonl", 6, lambda r: r["label"] != "oos")
    # Measured: 0.69 of 3,000 CLINC150 queries (lower-case, no "?", many imperatives).
    assert share(scores([r["text"] for r in in_scope], Label.QUESTION), 0.5) >= 0.62


def test_question_score_rare_on_sentiment_tweets() -> None:
    texts = sentirueval(TWEETS, {"neutral", "positive", "negative"})
    no_mark = [t for t in texts if "?" not in t]
    # Measured: 0.087 of 8,338 tweets reach 0.5 (many are genuine questions such as
    # "как получить кредит втб 24"), 0.050 of the 7,584 without "?".
    assert share(scores(texts, Label.QUESTION), 0.5) <= 0.1
    assert share(scores(no_mark, Label.QUESTION), 0.5) <= 0.065


def test_negative_score_cues_fire_on_negative_tweets() -> None:
    negative = scores(sentirueval(TWEETS, {"negative"}), Label.NEGATIVE)
    other = scores(sentirueval(TWEETS, {"neutral", "positive"}), Label.NEGATIVE)
    # Measured: a cue (score > 0) on 0.37 of 1,528 negative tweets vs 0.036 of 6,810
    # neutral/positive ones.
    assert share(negative, 0.01) >= 0.32
    assert share(other, 0.01) <= 0.05
    assert share(negative, 0.01) >= 5 * share(other, 0.01)


def test_negative_score_precise_on_tweets() -> None:
    negative = scores(sentirueval(TWEETS, {"negative"}), Label.NEGATIVE)
    other = scores(sentirueval(TWEETS, {"neutral", "positive"}), Label.NEGATIVE)
    precision, recall = precision_recall(negative, other, 0.6)
    # Measured: precision 0.77, recall 0.08 (tweets rarely pile up two cues; the model must
    # carry negative recall). At 0.45: precision 0.79, recall 0.25.
    assert precision >= 0.7
    assert recall >= 0.06


def test_negative_score_higher_on_negative_reviews() -> None:
    negative = scores(sentirueval(REVIEWS, {"negative"}), Label.NEGATIVE)
    positive = scores(sentirueval(REVIEWS, {"positive"}), Label.NEGATIVE)
    # Measured mean: 0.41 for negative reviews vs 0.17 for positive ones (long texts collect
    # stray cues); at 0.6, 0.38 of negative vs 0.10 of positive reviews.
    assert sum(negative) / len(negative) >= 2 * sum(positive) / len(positive)
    assert share(negative, 0.6) >= 3 * share(positive, 0.6)
