"""The standard cascade: rule checks first, then trained models aligned to one scale.

The bot, `smmbot classify` and `smmbot eval` all build their cascade here, so what is evaluated
is exactly what runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from classifiers.cascade import Aligned, Cascade, Corroboration
from classifiers.contract import Classifier, Label
from classifiers.heuristics import HeuristicConfig, KeywordClassifier, load_stop_words

BUNDLED_STOP_WORDS = Path(__file__).resolve().parent / "data" / "stop-words.txt"
MODEL_SETS: Mapping[str, tuple[str, ...]] = {
    "heuristics": (),
    "cascade": ("ngram",),
    "e5": ("ngram", "e5"),
    "e5-lora": ("ngram", "e5-lora"),
}


def bundled_stop_words() -> tuple[str, ...]:
    """Stop phrases shipped with the library (from tg-spam, MIT)."""
    return load_stop_words(BUNDLED_STOP_WORDS)


def trained_models(
    names: Sequence[str], *, cache_dir: Path | None = None, threads: int | None = None
) -> list[Classifier]:
    """Trained models by name ("ngram", "e5", "e5-lora"), aligned to the cascade's thresholds."""
    models: list[Classifier] = []
    for name in names:
        if name == "ngram":
            from classifiers.ngram import NgramClassifier

            ngram = NgramClassifier()
            models.append(Aligned(ngram, ngram.thresholds))
        elif name in ("e5", "e5-lora"):
            from classifiers.heads import DEFAULT_LORA, TransformerClassifier

            adapter = DEFAULT_LORA if name == "e5-lora" else None
            e5 = TransformerClassifier(cache_dir=cache_dir, num_threads=threads, adapter=adapter)
            models.append(Aligned(e5, e5.thresholds))
        else:
            raise ValueError(f"unknown model {name!r}")
    return models


def standard_cascade(
    models: Sequence[Classifier],
    config: HeuristicConfig | None = None,
    thresholds: Mapping[Label, float] | None = None,
) -> Cascade:
    """Rule checks (with the bundled stop words unless a config says otherwise), then models."""
    checks = KeywordClassifier(config or HeuristicConfig(stop_words=bundled_stop_words()))
    return Cascade([checks, *models], thresholds, corroboration=Corroboration())
