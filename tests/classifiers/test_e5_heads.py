"""TransformerClassifier through the real loading path on a tiny XLM-R; the committed heads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from classifiers.contract import Label, Sample
from classifiers.heads import DEFAULT_HEADS, E5Heads, TransformerClassifier, load_heads
from tests.classifiers.cases import OBVIOUS_CASES, labels_over_threshold

LABELS = (Label.SPAM, Label.NEGATIVE, Label.QUESTION)


def tiny_heads(dim: int = 32, seed: int = 0) -> E5Heads:
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(3, dim)).astype(np.float32)
    platt = np.tile([1.0, 0.0], (3, 1))
    return E5Heads(LABELS, weights, np.zeros(3), platt, dict.fromkeys(LABELS, 0.5))


class CountingEmbedder:
    """A fake encoder that records how many texts it was asked to embed."""

    dim = 8

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return np.ones((len(texts), self.dim), dtype=np.float32) / np.sqrt(self.dim)


def test_transformer_classifier_scores_through_onnx_loading(
    tiny_folder: Path,
    tmp_path: Path,
) -> None:
    tiny_heads().save(tmp_path / "heads")
    classifier = TransformerClassifier(tmp_path / "heads", folder=tiny_folder, num_threads=1)
    samples = [Sample("hello world"), Sample("привет мир", skip=frozenset({Label.SPAM}))]
    first, second = classifier.classify(samples)
    assert [s.label for s in first] == list(LABELS)
    assert [s.label for s in second] == [Label.NEGATIVE, Label.QUESTION]
    assert all(s.ok and 0.0 <= s.score <= 1.0 for s in first + second)
    assert first[0].details[0].startswith("e5: spam ")


def test_transformer_classifier_warm_up_loads_lazily(
    tiny_folder: Path,
    tmp_path: Path,
) -> None:
    tiny_heads().save(tmp_path / "heads")
    classifier = TransformerClassifier(tmp_path / "heads", folder=tiny_folder)
    assert classifier._embedder is None
    classifier.warm_up()
    assert classifier._embedder is not None


def test_transformer_classifier_reuses_scores_for_repeated_texts() -> None:
    embedder = CountingEmbedder()
    classifier = TransformerClassifier(tiny_heads(dim=8), embedder=embedder)
    classifier.classify([Sample("buy  now"), Sample("buy now"), Sample("hi there")])
    classifier.classify([Sample("buy now")])
    assert embedder.calls == [2]


def test_transformer_classifier_turns_failures_into_errors(
    tiny_folder: Path,
    tmp_path: Path,
) -> None:
    tiny_heads(dim=16).save(tmp_path / "heads")
    classifier = TransformerClassifier(tmp_path / "heads", folder=tiny_folder)
    results = classifier.classify([Sample("hello"), Sample(None)])  # type: ignore[arg-type]
    assert all(s.error and "16" in s.error for scores in results for s in scores)


def test_transformer_classifier_scores_bad_sample_as_error_only() -> None:
    classifier = TransformerClassifier(tiny_heads(dim=8), embedder=CountingEmbedder())
    good, bad, empty = classifier.classify(
        [Sample("hello"), Sample(None), Sample(" :) ")]  # type: ignore[arg-type]
    )
    assert all(s.ok for s in good) and all(not s.ok for s in bad)
    assert all(s.score == 0.0 and "too little" in s.details[0] for s in empty)


def test_load_heads_roundtrips_saved_heads(tmp_path: Path) -> None:
    heads = tiny_heads()
    heads.save(tmp_path / "h")
    loaded = load_heads(tmp_path / "h")
    assert loaded.labels == LABELS and loaded.dim == 32
    np.testing.assert_allclose(loaded.weights, heads.weights)


@pytest.fixture(scope="module")
def real_classifier(e5_folder: Path) -> TransformerClassifier:
    # torch here: the ONNX export of the full model takes ~30 s; heads agree to cosine 0.996.
    classifier = TransformerClassifier(DEFAULT_HEADS, folder=e5_folder, embedder="torch")
    classifier.warm_up()
    return classifier


@OBVIOUS_CASES
def test_committed_heads_score_obvious_cases(
    real_classifier: TransformerClassifier, text: str, label: Label
) -> None:
    assert label in labels_over_threshold(real_classifier, text)


def test_committed_heads_leave_ordinary_message_alone(
    real_classifier: TransformerClassifier,
) -> None:
    found = labels_over_threshold(real_classifier, "Сбербанк опять обновил приложение")
    assert Label.SPAM not in found


def test_int8_e5_scores_a_text_the_same_whatever_it_is_batched_with(
    tiny_folder: Path, tmp_path: Path
) -> None:
    tiny_heads().save(tmp_path / "heads")
    classifier = TransformerClassifier(tmp_path / "heads", folder=tiny_folder, cache_size=0)
    alone = classifier.probabilities(["hello world"])[0]
    mixed = classifier.probabilities(["hello world", "buy now " * 20 + "spam", "a"])[0]
    np.testing.assert_array_equal(mixed, alone)
