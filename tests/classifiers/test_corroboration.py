"""Aligned heads and corroboration: learned scores speak the cascade's scale, and need support."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from classifiers.cascade import Aligned, Cascade, Corroboration, align
from classifiers.contract import Label, Sample, Score


class FixedClassifier:
    """Returns the same score for every sample (a stand-in for a trained head's output)."""

    def __init__(self, name: str, label: Label, score: float) -> None:
        self.name, self.label, self.value = name, label, score

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        return [(Score(self.name, self.label, self.value, (f"{self.name}: fixed",)),)] * len(
            samples
        )


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        pytest.param(0.0, 0.0, id="zero"),
        pytest.param(0.21, 0.425, id="half-own"),
        pytest.param(0.42, 0.85, id="own-threshold-meets-target"),
        pytest.param(1.0, 1.0, id="one"),
    ],
)
def test_align_maps_own_threshold_onto_target(score: float, expected: float) -> None:
    assert align(score, own=0.42, target=0.85) == pytest.approx(expected)


def test_aligned_rescales_only_known_labels() -> None:
    head = Aligned(FixedClassifier("ngram", Label.SPAM, 0.42), {Label.SPAM: 0.42})
    (scores,) = head.classify([Sample("x")])
    assert scores[0].score == pytest.approx(0.85)
    assert scores[0].details == ("ngram: fixed",)


@pytest.mark.parametrize(
    ("rule_check", "expected"),
    [
        pytest.param(0.0, 0.80, id="no-evidence-capped-below-threshold"),
        pytest.param(0.3, 0.99, id="evidence-lets-the-model-decide"),
    ],
)
def test_corroboration_caps_model_only_spam(rule_check: float, expected: float) -> None:
    cascade = Cascade(
        [
            FixedClassifier("heuristics", Label.SPAM, rule_check),
            FixedClassifier("ngram", Label.SPAM, 0.99),
        ],
        corroboration=Corroboration(),
    )
    (verdict,) = cascade.run([Sample("hello everyone")])
    assert verdict.score(Label.SPAM) == pytest.approx(expected)
    assert (Label.SPAM in verdict.labels()) is (expected >= 0.85)


def test_corroboration_leaves_rule_checks_alone() -> None:
    cascade = Cascade(
        [FixedClassifier("heuristics", Label.SPAM, 0.95)], corroboration=Corroboration()
    )
    (verdict,) = cascade.run([Sample("заработок без вложений")])
    assert verdict.score(Label.SPAM) == pytest.approx(0.95)
