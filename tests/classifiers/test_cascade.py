"""Tests for running classifiers in a cascade and merging their scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from classifiers import DEFAULT_THRESHOLDS, Cascade, Classifier, Label, Sample, Score, combine
from classifiers.cascade import classify_safely


@dataclass
class FakeClassifier:
    """Returns fixed scores for every sample and records what it was asked."""

    name: str
    values: dict[Label, float]
    seen: list[str] = field(default_factory=list)

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        self.seen.extend(s.text for s in samples)
        return [
            tuple(
                Score(self.name, label, value, (f"{self.name}-says",))
                for label, value in self.values.items()
            )
            for _ in samples
        ]


class BrokenClassifier:
    """Raises on every batch, as a model with a missing file would."""

    name = "broken"

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        raise RuntimeError("model file missing")


class ShortClassifier:
    """Answers fewer samples than it was given."""

    name = "short"

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        return []


def test_combine_uses_default_thresholds() -> None:
    verdict = combine([Score("a", Label.NEGATIVE, 0.65), Score("a", Label.QUESTION, 0.55)])
    assert verdict.thresholds == dict(DEFAULT_THRESHOLDS)
    assert verdict.labels() == (Label.NEGATIVE, Label.QUESTION)


def test_combine_spam_needs_its_higher_threshold() -> None:
    assert combine([Score("a", Label.SPAM, 0.8)]).primary() == Label.OTHER
    assert combine([Score("a", Label.SPAM, 0.86)]).primary() == Label.SPAM


def test_combine_accepts_custom_thresholds() -> None:
    verdict = combine([Score("a", Label.SPAM, 0.5)], {Label.SPAM: 0.4})
    assert verdict.primary() == Label.SPAM


def test_cascade_runs_classifiers_in_order_and_keeps_all_scores() -> None:
    rules = FakeClassifier("rules", {Label.QUESTION: 0.3})
    model = FakeClassifier("model", {Label.QUESTION: 0.7})
    (verdict,) = Cascade([rules, model]).run([Sample("где заказ")])
    assert [s.classifier for s in verdict.scores] == ["rules", "model"]
    assert verdict.score(Label.QUESTION) == 0.7
    assert verdict.reasons(Label.QUESTION) == ("rules-says", "model-says")


def test_cascade_settled_spam_skips_later_classifiers() -> None:
    rules = FakeClassifier("rules", {Label.SPAM: 0.9})
    model = FakeClassifier("model", {Label.SPAM: 0.1})
    (verdict,) = Cascade([rules, model]).run([Sample("спам")])
    assert model.seen == []
    assert verdict.primary() == Label.SPAM


def test_cascade_only_unsettled_samples_reach_the_model() -> None:
    class Rules(FakeClassifier):
        def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
            return [
                (Score("rules", Label.SPAM, 0.9 if s.text == "spam" else 0.1),) for s in samples
            ]

    model = FakeClassifier("model", {Label.QUESTION: 0.8})
    verdicts = Cascade([Rules("rules", {}), model]).run([Sample("spam"), Sample("ham")])
    assert model.seen == ["ham"]
    assert [v.primary() for v in verdicts] == [Label.SPAM, Label.QUESTION]


@pytest.mark.parametrize(
    ("skip", "expected"),
    [(frozenset({Label.SPAM}), {Label.QUESTION}), (frozenset(), {Label.SPAM, Label.QUESTION})],
    ids=["trusted-author", "nothing-skipped"],
)
def test_cascade_drops_skipped_labels(skip: frozenset[Label], expected: set[Label]) -> None:
    rules = FakeClassifier("rules", {Label.SPAM: 0.95, Label.QUESTION: 0.6})
    (verdict,) = Cascade([rules]).run([Sample("x", skip=skip)])
    assert {s.label for s in verdict.scores} == expected


def test_cascade_skipped_spam_does_not_settle_the_sample() -> None:
    rules = FakeClassifier("rules", {Label.SPAM: 0.95})
    model = FakeClassifier("model", {Label.QUESTION: 0.6})
    Cascade([rules, model]).run([Sample("x", skip=frozenset({Label.SPAM}))])
    assert model.seen == ["x"]


def test_cascade_sample_skipping_every_label_reaches_no_classifier() -> None:
    rules = FakeClassifier("rules", {Label.SPAM: 0.1})
    (verdict,) = Cascade([rules]).run([Sample("x", skip=frozenset(Label) - {Label.OTHER})])
    assert rules.seen == [] and verdict.primary() == Label.OTHER


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        (BrokenClassifier(), "RuntimeError: model file missing"),
        (ShortClassifier(), "ValueError: returned 0 results for 2 samples"),
    ],
    ids=["raises", "wrong-length"],
)
def test_cascade_turns_classifier_failure_into_errors(broken: Classifier, error: str) -> None:
    rules = FakeClassifier("rules", {Label.QUESTION: 0.6})
    verdicts = Cascade([rules, broken]).run([Sample("a"), Sample("b")])
    for verdict in verdicts:
        assert verdict.errors() == tuple(f"{broken.name}: {error}" for _ in range(3))
        assert verdict.primary() == Label.QUESTION


def test_classify_safely_passes_good_results_through() -> None:
    rules = FakeClassifier("rules", {Label.SPAM: 0.2})
    expected = [(Score("rules", Label.SPAM, 0.2, ("rules-says",)),)]
    assert classify_safely(rules, [Sample("a")]) == expected


def test_cascade_thresholds_override_defaults_per_label() -> None:
    cascade = Cascade([], thresholds={Label.SPAM: 0.7})
    assert cascade.thresholds[Label.SPAM] == 0.7
    assert cascade.thresholds[Label.QUESTION] == DEFAULT_THRESHOLDS[Label.QUESTION]


def test_cascade_nests_through_classify() -> None:
    inner = Cascade([FakeClassifier("rules", {Label.NEGATIVE: 0.7})])
    (verdict,) = Cascade([inner]).run([Sample("ужас")])
    assert verdict.primary() == Label.NEGATIVE
