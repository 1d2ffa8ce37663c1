"""The committed n-gram model, its contract behaviour, and a small training run in tmp_path."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from classifiers.contract import Label, Sample, Score
from classifiers.ngram import DEFAULT_MODEL, NgramClassifier, load_model
from classifiers.training import ngram_train

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared labelled data not found at {DATA} (read-only, not in repo)"
)


@cache
def classifier() -> NgramClassifier:
    return NgramClassifier()


def scores_of(text: str, skip: frozenset[Label] = frozenset()) -> dict[Label, Score]:
    return {s.label: s for s in classifier().classify([Sample(text, skip=skip)])[0]}


def probability(text: str, label: Label) -> float:
    return scores_of(text)[label].score


def threshold(label: Label) -> float:
    return classifier().thresholds[label]


@pytest.mark.parametrize(
    "text",
    [
        "Заработок от 5000 рублей в день, без вложений! Пиши в лс",
        "Нужны люди для удаленной работы, 2-3 часа в день, доход от 50000. Пишите + в личку",
        "Invest in bitcoin on this legit platform and earn daily profit, register now "
        "https://bit.ly/x1y2",
        "WINNER!! You have won a £1000 prize. Text CLAIM to 81010 now",
    ],
    ids=["ru-earnings", "ru-job-offer", "en-crypto", "en-sms-prize"],
)
def test_ngram_classifier_scores_obvious_spam_high(text: str) -> None:
    assert probability(text, Label.SPAM) >= threshold(Label.SPAM)


# English spam data is 2000s SMS plus 48 Telegram rows, and SMS ham is first-person chat ("call
# me when you get home"), so "me"/"my"/"home" count against spam. The rules catch these instead.
@pytest.mark.xfail(strict=True, reason="known gap: English first-person self-promotion spam")
def test_ngram_classifier_flags_english_self_promotion() -> None:
    text = "Earn $500 a day from home with crypto trading, DM me for details"
    assert probability(text, Label.SPAM) >= threshold(Label.SPAM)


@pytest.mark.parametrize(
    "text",
    [
        "Всем привет, кто-нибудь был на вчерашней встрече?",
        "Спасибо, доставка пришла быстро, всё понравилось",
        "see you tomorrow at the office",
        "Ok, I'll call you when I get home",
    ],
    ids=["ru-greeting", "ru-thanks", "en-plans", "en-call"],
)
def test_ngram_classifier_scores_ordinary_chat_low(text: str) -> None:
    assert probability(text, Label.SPAM) < threshold(Label.SPAM)


def test_ngram_classifier_detects_russian_question_without_mark() -> None:
    text = "Подскажите сколько стоит доставка"
    assert probability(text, Label.QUESTION) >= threshold(Label.QUESTION)


def test_ngram_classifier_scores_statement_below_question() -> None:
    statement = "Доставка пришла вовремя, спасибо"
    assert probability(statement, Label.QUESTION) < threshold(Label.QUESTION)


def test_ngram_classifier_scores_complaint_negative() -> None:
    text = "Ужасный банк, третий день не могу дозвониться в поддержку, деньги списали дважды"
    assert probability(text, Label.NEGATIVE) >= threshold(Label.NEGATIVE)


def test_ngram_classifier_gives_reasons_and_evidence() -> None:
    spam = scores_of("Заработок от 5000 рублей в день, без вложений! Пиши в лс")[Label.SPAM]
    assert spam.details[0].startswith("ngram: spam ")
    assert any(d.startswith("ngram-evidence: '") for d in spam.details)


def test_ngram_classifier_respects_skip() -> None:
    scores = scores_of("Подскажите цену", skip=frozenset({Label.SPAM, Label.NEGATIVE}))
    assert set(scores) == {Label.QUESTION}


def test_ngram_classifier_keeps_input_order() -> None:
    texts = ["Пиши в лс, заработок от 5000 в день", "Подскажите цену", "hello"]
    batched = classifier().classify([Sample(t) for t in texts])
    singles = [classifier().classify([Sample(t)])[0] for t in texts]
    assert batched == singles


@pytest.mark.parametrize(
    "text",
    ["", "   ", "?!", "я" * 100_000, "abc\ud800def\udfff", "\x00\x1f\u202e", None],
    ids=["empty", "blank", "punctuation", "100k-chars", "lone-surrogates", "controls", "none"],
)
def test_ngram_classifier_survives_bad_input(text: str) -> None:
    results = classifier().classify([Sample(text), Sample("Подскажите цену")])  # type: ignore[arg-type]
    assert len(results) == 2
    assert all(0.0 <= s.score <= 1.0 for s in results[0])
    assert {s.label for s in results[0]} == {Label.SPAM, Label.NEGATIVE, Label.QUESTION}
    assert all(s.ok for s in results[1])


def test_ngram_classifier_scores_empty_text_as_nothing() -> None:
    assert all(s.score == 0.0 for s in scores_of("   ").values())


def test_ngram_classifier_handles_empty_batch() -> None:
    assert classifier().classify([]) == []


def test_ngram_model_files_are_compact() -> None:
    size = DEFAULT_MODEL.with_suffix(".npz").stat().st_size
    assert size <= 3_000_000
    assert load_model().metadata()["version"] == "ngram-v1"


@needs_data
def test_ngram_train_small_subset_writes_model_that_beats_chance(tmp_path: Path) -> None:
    stem = tmp_path / "small"
    assert (
        ngram_train.main(["--data", str(DATA), "--out", str(stem), "--limit", "80", "--no-loso"])
        == 0
    )
    assert {p.name for p in tmp_path.iterdir()} == {"small.npz", "small.json", "small.md"}
    trained = {r.text for r in ngram_train.load_rows(DATA, limit=80)}
    held = [r for r in ngram_train.load_rows(DATA, limit=300) if r.text not in trained]
    model = NgramClassifier(stem)
    for label in (Label.SPAM, Label.QUESTION):
        rows = [r for r in held if r.target(label) != ngram_train.UNLABELLED]
        y = np.array([r.target(label) for r in rows])
        assert auc(y, model.probabilities([r.text for r in rows])[label]) > 0.75


def auc(y: np.ndarray, scores: np.ndarray) -> float:
    positives, negatives = scores[y == 1], scores[y == 0]
    wins = (positives[:, None] > negatives[None, :]).mean()
    ties = (positives[:, None] == negatives[None, :]).mean()
    return float(wins + ties / 2)


@cache
def dev_rows() -> list[ngram_train.Row]:
    config = ngram_train.Config(data=DATA)
    rows = ngram_train.cap_rows(ngram_train.load_rows(DATA), config.cap)
    return ngram_train.split_rows(rows, config.dev_share)[1]


def metrics_on(rows: list[ngram_train.Row]) -> dict[tuple[str, str], ngram_train.Metric]:
    model = load_model()
    features = ngram_train.featurize(rows, NgramClassifier(model).featurizer)
    return {(m.label, m.slice): m for m in ngram_train.evaluate(model, features)}


@cache
def dev_metrics() -> dict[tuple[str, str], ngram_train.Metric]:
    return metrics_on(dev_rows())


# Measured on the dev split of the committed model (see classifiers/models/ngram-v1.md);
# bounds sit a little below so a retrain with the same recipe passes and a broken one fails.
DEV_BOUNDS = [
    ("spam", "lang=en", 0.93, 0.92),  # measured F1 0.957, recall 0.957 (138 spam rows)
    ("spam", "lang=ru", 0.78, 0.73),  # measured F1 0.824, recall 0.808 (only 26 spam rows)
    # Negative is measured with the SentiRuEval test files held out of training entirely.
    ("negative", "lang=ru", 0.60, 0.70),  # measured F1 0.633, recall 0.733
    ("question", "lang=en", 0.95, 0.95),  # measured F1 0.977, recall 0.978
    ("question", "lang=ru", 0.88, 0.84),  # measured F1 0.911, recall 0.876
]


@needs_data
@pytest.mark.parametrize(
    ("label", "part", "min_f1", "min_recall"),
    DEV_BOUNDS,
    ids=[f"{b[0]}-{b[1]}" for b in DEV_BOUNDS],
)
def test_ngram_model_reaches_measured_dev_metrics(
    label: str, part: str, min_f1: float, min_recall: float
) -> None:
    found = dev_metrics()[(label, part)]
    assert found.f1 >= min_f1
    assert found.recall >= min_recall


@needs_data
@pytest.mark.parametrize("source", ["banking77", "clinc150", "rubq", "sre-banks", "sre-telecoms"])
def test_ngram_model_keeps_spam_false_positives_low(source: str) -> None:
    # The spam threshold was chosen for ≤ 1 % false positives on each sizeable non-spam source.
    assert dev_metrics()[("spam", f"source={source}")].fp_rate <= 0.015


@needs_data
def test_ngram_model_finds_russian_questions_without_question_mark() -> None:
    stripped = ngram_train.strip_questions(dev_rows(), 1.0)
    # Measured recall 0.798 on Russian dev questions with every trailing "?" removed.
    assert metrics_on(stripped)[("question", "lang=ru")].recall >= 0.75


@needs_data
def test_ngram_model_rarely_calls_ordinary_chat_negative() -> None:
    # Chat and SMS rows teach "not a complaint"; measured 7.3 % of tg-spam chat, 0 % of SMS.
    assert dev_metrics()[("negative", "source=tg-spam")].fp_rate <= 0.10
    assert dev_metrics()[("negative", "source=sms")].fp_rate <= 0.02
