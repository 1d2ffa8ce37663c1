"""Calibrated linear models on hashed character n-grams: the cheap trained stage of the cascade."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from classifiers.contract import SCORED_LABELS, Label, Sample, Score
from classifiers.text import extract_links, head_tail, match_key

MODEL_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODEL_DIR / "ngram-v1"
VERSION = "ngram-v1"
# Three n-grams are enough for a moderator to see why; more is noise.
MAX_EVIDENCE = 3
MAX_GRAM = 24
# Below this many letters or digits a text has too little for the model to judge.
MIN_CONTENT = 2

# scipy ships no type stubs, so its sparse matrices are Any to mypy either way.
Matrix: TypeAlias = Any
Vector = NDArray[np.float64]

_MENTION = re.compile(r"@\w+")
_DIGIT = re.compile(r"\d+")
_CONTENT = re.compile(r"[^\W_]")


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """How texts become hashed features; stored in the model's JSON so both sides agree."""

    char_min: int = 2
    char_max: int = 5
    char_bits: int = 18
    word_bits: int = 16
    # Head and tail of long texts only: SMS and tg-spam spam is long and ham short, so full long
    # reviews looked like spam (leave-one-source-out FP on reviews 10 % at 2000 chars, 2 % at 300).
    max_chars: int = 300

    @property
    def n_features(self) -> int:
        """Total width of the feature vector: char n-grams, then word unigrams."""
        return (1 << self.char_bits) + (1 << self.word_bits if self.word_bits else 0)


def prepare_text(text: str, max_chars: int = 300) -> str:
    """Fold a text for matching, with links, mentions and digits reduced to placeholders."""
    key = match_key(head_tail(text, max_chars))
    for link in sorted(set(extract_links(key)), key=len, reverse=True):
        key = key.replace(link, " httplink ")
    # Which user or number rarely matters; SMS short codes and phone numbers in support tweets
    # would otherwise teach "long number = spam" (leave-one-source-out FP on telecoms 4.9 → 1.8 %).
    return _DIGIT.sub("0", _MENTION.sub(" @user ", key))


class Featurizer:
    """Deterministic hashing of prepared texts, so the model needs no vocabulary file."""

    def __init__(self, settings: FeatureSettings) -> None:
        """Build the char (and optional word) hashing vectorizers."""
        self.settings = settings
        self.char = _hasher("char_wb", (settings.char_min, settings.char_max), settings.char_bits)
        self.word = _hasher("word", (1, 1), settings.word_bits) if settings.word_bits else None
        # Built once: sklearn rebuilds the analyzer closure on every call otherwise.
        self._char_grams = self.char.build_analyzer()
        self._words = self.word.build_analyzer() if self.word is not None else None

    def transform(self, prepared: Sequence[str]) -> Matrix:
        """Feature matrix (rows L2-normalised per block) for already prepared texts."""
        blocks = [self.char.transform(prepared)]
        if self.word is not None:
            blocks.append(self.word.transform(prepared))
        return sp.hstack(blocks, format="csr")

    def grams(self, prepared: str) -> list[tuple[str, int]]:
        """Every distinct n-gram of a prepared text with its feature index, for evidence."""
        char_bits = self.settings.char_bits
        found = [(g, _bucket(g, char_bits)) for g in set(self._char_grams(prepared))]
        if self._words is not None:
            offset = 1 << char_bits
            words = set(self._words(prepared))
            found += [(w, offset + _bucket(w, self.settings.word_bits)) for w in words]
        return found


def _hasher(analyzer: str, ngrams: tuple[int, int], bits: int) -> HashingVectorizer:
    return HashingVectorizer(
        analyzer=analyzer,
        ngram_range=ngrams,
        n_features=1 << bits,
        alternate_sign=False,
        lowercase=False,
        norm="l2",
        dtype=np.float32,
    )


def _bucket(gram: str, bits: int) -> int:
    # Mirrors sklearn's hashing: abs(signed murmurhash3) modulo the width.
    return abs(int(murmurhash3_32(gram, seed=0, positive=False))) % (1 << bits)


@dataclass(slots=True)
class Head:
    """One label's logistic model with Platt calibration and its decision threshold."""

    label: Label
    weights: NDArray[np.float32]
    bias: float
    platt_a: float = 1.0
    platt_b: float = 0.0
    threshold: float = 0.5

    def margin(self, features: Matrix) -> Vector:
        """Raw linear scores before calibration."""
        return np.asarray(features @ self.weights, dtype=np.float64) + self.bias

    def probability(self, features: Matrix) -> Vector:
        """Calibrated probabilities of the label."""
        return _sigmoid(self.platt_a * self.margin(features) + self.platt_b)

    def meta(self) -> dict[str, float]:
        """Scalars stored in the model's JSON."""
        return {
            "bias": self.bias,
            "platt_a": self.platt_a,
            "platt_b": self.platt_b,
            "threshold": self.threshold,
        }


def _sigmoid(z: Vector) -> Vector:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0))), dtype=np.float64)


@dataclass(slots=True)
class NgramModel:
    """Feature settings plus one head per label; saved as `<stem>.npz` and `<stem>.json`."""

    settings: FeatureSettings
    heads: dict[Label, Head]
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write float16 weights (compressed) and the JSON metadata next to each other."""
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        arrays = {h.label.value: h.weights.astype(np.float16) for h in self.heads.values()}
        np.savez_compressed(stem.with_suffix(".npz"), **arrays)  # type: ignore[arg-type]
        stem.with_suffix(".json").write_text(json.dumps(self.metadata(), indent=2) + "\n")
        return stem.with_suffix(".npz"), stem.with_suffix(".json")

    def metadata(self) -> dict[str, Any]:
        """Everything but the weights: version, features, per-label scalars and thresholds."""
        heads = {h.label.value: h.meta() for h in self.heads.values()}
        return {
            "version": VERSION,
            "features": asdict(self.settings),
            "heads": heads,
            **self.extra,
        }

    def thresholds(self) -> dict[Label, float]:
        """Per-label decision thresholds chosen on dev data."""
        return {label: head.threshold for label, head in self.heads.items()}


def load_model(stem: str | Path = DEFAULT_MODEL) -> NgramModel:
    """Read a model written by `NgramModel.save`."""
    stem = Path(stem)
    meta = json.loads(stem.with_suffix(".json").read_text())
    settings = FeatureSettings(**meta["features"])
    with np.load(stem.with_suffix(".npz")) as arrays:
        heads = {
            Label(name): _head(Label(name), arrays[name], values)
            for name, values in meta["heads"].items()
        }
    extra = {k: v for k, v in meta.items() if k not in ("version", "features", "heads")}
    return NgramModel(settings, heads, extra)


def _head(label: Label, weights: NDArray[Any], values: Mapping[str, float]) -> Head:
    return Head(
        label,
        weights.astype(np.float32),
        float(values["bias"]),
        float(values["platt_a"]),
        float(values["platt_b"]),
        float(values["threshold"]),
    )


class NgramClassifier:
    """Spam, negative and question probabilities from a committed n-gram model, with evidence."""

    name = "ngram"

    def __init__(self, model: NgramModel | str | Path | None = None) -> None:
        """Load the committed model, a model at a path stem, or use one built in memory."""
        self.model = model if isinstance(model, NgramModel) else load_model(model or DEFAULT_MODEL)
        self.featurizer = Featurizer(self.model.settings)

    @property
    def thresholds(self) -> dict[Label, float]:
        """Per-label decision thresholds the model was tuned with."""
        return self.model.thresholds()

    def probabilities(self, texts: Sequence[str]) -> dict[Label, Vector]:
        """Calibrated probability per label for raw texts (may raise; for training and tests)."""
        features = self.featurizer.transform([self._prepare(t) for t in texts])
        return {label: head.probability(features) for label, head in self.model.heads.items()}

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        """Return one tuple of scores per sample; failures become `Score.error`, never raise."""
        prepared: list[str | Exception] = [self._prepare_safely(s) for s in samples]
        try:
            good = [p for p in prepared if isinstance(p, str)]
            scores = self._batch(good)
        except Exception as exc:  # a broken batch degrades to error scores, never a crash
            return [self._failed(s, exc) for s in samples]
        results: list[tuple[Score, ...]] = []
        row = 0
        for sample, text in zip(samples, prepared, strict=True):
            if isinstance(text, Exception):
                results.append(self._failed(sample, text))
                continue
            mine = {label: float(values[row]) for label, values in scores.items()}
            results.append(self._scores_safely(sample, text, mine))
            row += 1
        return results

    def _batch(self, prepared: list[str]) -> dict[Label, Vector]:
        # One sparse product per head for the whole batch: per-row work would dominate.
        if not prepared:
            return {label: np.zeros(0) for label in self.model.heads}
        features = self.featurizer.transform(prepared)
        return {label: head.probability(features) for label, head in self.model.heads.items()}

    def _prepare(self, text: str) -> str:
        return prepare_text(text, self.model.settings.max_chars)

    def _prepare_safely(self, sample: Sample) -> str | Exception:
        try:
            return self._prepare(sample.text)
        except Exception as exc:  # bad input (wrong type, odd code points) is data, not a crash
            return exc

    def _scores_safely(
        self, sample: Sample, prepared: str, probabilities: Mapping[Label, float]
    ) -> tuple[Score, ...]:
        try:
            labels = self._labels(sample)
            return tuple(self._score(lab, prepared, probabilities[lab]) for lab in labels)
        except Exception as exc:  # one bad sample must not sink the batch
            return self._failed(sample, exc)

    def _labels(self, sample: Sample) -> list[Label]:
        return [
            label
            for label in SCORED_LABELS
            if label in self.model.heads and label not in sample.skip
        ]

    def _score(self, label: Label, prepared: str, probability: float) -> Score:
        if len(_CONTENT.findall(prepared, 0, 64)) < MIN_CONTENT:
            # With no n-grams the score is the bias alone, which says nothing about this text.
            return Score(self.name, label, 0.0, ("ngram: too little text",))
        head = self.model.heads[label]
        details = [f"ngram: {label.value} {probability:.2f}"]
        if probability >= head.threshold:
            grams = self.evidence(head, prepared)
            if grams:
                details.append("ngram-evidence: " + ", ".join(f"'{g}'" for g in grams))
        return Score(self.name, label, round(probability, 4), tuple(details))

    def _failed(self, sample: Sample, exc: Exception) -> tuple[Score, ...]:
        error = f"{type(exc).__name__}: {exc}"
        try:
            labels = self._labels(sample)
        except Exception:  # a sample without a usable skip set still gets its errors
            labels = list(SCORED_LABELS)
        return tuple(Score(self.name, label, 0.0, (), error) for label in labels)

    def evidence(self, head: Head, prepared: str) -> list[str]:
        """The n-grams that push a text most towards the label, overlapping ones merged."""
        grams = [(g, i) for g, i in self.featurizer.grams(prepared) if len(g.strip()) > 2]
        weights = head.weights[np.array([i for _, i in grams], dtype=np.int64)]
        ranked = sorted(
            zip(weights.tolist(), (g.strip() for g, _ in grams), strict=True), reverse=True
        )
        ranked = [(w, g) for w, g in ranked[: MAX_EVIDENCE * 4] if w > 0]
        return _distinct(g[:MAX_GRAM] for _, g in ranked)


def _distinct(grams: Iterable[str]) -> list[str]:
    # "заработ" and "аработ" say the same thing; keep the first (strongest) of overlapping grams.
    chosen: list[str] = []
    for gram in grams:
        if gram and not any(gram in c or c in gram for c in chosen):
            chosen.append(gram)
        if len(chosen) == MAX_EVIDENCE:
            break
    return chosen
