"""Texts every committed transformer model must label right, shared by the e5 and LoRA tests."""

from __future__ import annotations

import pytest

from classifiers.contract import Label, Sample
from classifiers.heads import TransformerClassifier

OBVIOUS_CASES = pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Нужны люди для удаленной работы, доход от 3000 в день, пиши в личку", Label.SPAM),
        ("WINNER!! You have won a £1000 prize, call 09061701461 to claim now", Label.SPAM),
        ("подскажите как перевести деньги на карту другого банка", Label.QUESTION),
        ("Третий день не могу дозвониться в поддержку, деньги списали дважды", Label.NEGATIVE),
    ],
    ids=["ru-spam", "en-spam", "ru-question-no-mark", "ru-complaint"],
)


def labels_over_threshold(classifier: TransformerClassifier, text: str) -> set[Label]:
    """The labels whose score reaches the classifier's own threshold."""
    (scores,) = classifier.classify([Sample(text)])
    return {s.label for s in scores if s.score >= classifier.thresholds[s.label]}
