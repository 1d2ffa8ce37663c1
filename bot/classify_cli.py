"""`smmbot classify`: the classifier cascade on plain texts, no rules or database needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from classifiers.contract import Sample, Verdict
from classifiers.standard import MODEL_SETS, standard_cascade, trained_models

BATCH = 64


def classify_texts(texts: Sequence[str], model: str = "cascade") -> list[dict[str, Any]]:
    """One result per text: labels, primary label, scores (0..1) and reasons, in input order."""
    cascade = standard_cascade(trained_models(MODEL_SETS[model]))
    results: list[dict[str, Any]] = []
    for start in range(0, len(texts), BATCH):
        samples = [Sample(text) for text in texts[start : start + BATCH]]
        results.extend(_result(v) for v in cascade.run(samples))
    return results


def _result(verdict: Verdict) -> dict[str, Any]:
    labels = verdict.labels()
    result: dict[str, Any] = {
        "labels": [label.value for label in labels if label.value != "other"] or ["other"],
        "label": labels[0].value,
        "scores": verdict.as_dict(),
        "reasons": list(verdict.reasons()),
    }
    if verdict.errors():
        result["errors"] = list(verdict.errors())
    return result


def render(text: str, result: dict[str, Any]) -> str:
    """A readable line or two for a terminal."""
    scores = " ".join(f"{label}={score:.2f}" for label, score in result["scores"].items())
    reasons = "; ".join(result["reasons"][:5]) or "-"
    short = " ".join(text.split())[:100]
    return f"{result['label']:<9} {scores}  {short}\n          reasons: {reasons}"
