"""Score a labelled JSON Lines file with one classifier and report per-label quality.

Each row needs `text` and `label`; `lang` and `source` are optional. Labels map to the primary
label a moderator would pick:

- `spam` → spam; `ham` → other
- `negative` and `mixed` → negative; `neutral` and `positive` → other
- `question` → question; `other` → other
- any other label is an intent of a question dataset (Banking77, CLINC150 incl. `oos`) → question

For the files in `../shared/data` this gives:

- `spam/tg-spam-samples.jsonl`, `spam/sms-spam-collection.jsonl`: spam / other (ham)
- `sentiment/sentirueval2015-{banks,telecoms}-{train,test}.jsonl` and
  `sentiment/sentirueval2015-{rest,car}-reviews-train.jsonl`: negative (negative, mixed) / other
  (neutral, positive)
- `questions/banking77-train.jsonl`, `questions/clinc150-train-val.jsonl` (intent names):
  question; `questions/rubq-1.0.jsonl`: question
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers.cascade import DEFAULT_THRESHOLDS, classify_safely, combine
from classifiers.contract import PRIMARY_ORDER, Classifier, Label, Sample, Verdict

LABEL_MAP = {
    "spam": Label.SPAM,
    "ham": Label.OTHER,
    "negative": Label.NEGATIVE,
    "mixed": Label.NEGATIVE,
    "neutral": Label.OTHER,
    "positive": Label.OTHER,
    "question": Label.QUESTION,
    "other": Label.OTHER,
}
MODELS = ("heuristics", "ngram", "e5", "e5-lora", "cascade", "cascade-e5", "cascade-e5-lora")
ALL_LABELS = (*PRIMARY_ORDER, Label.OTHER)
BATCH = 64
WORST = 10


def map_label(raw: str) -> Label:
    """The documented mapping; unknown labels are question-dataset intents."""
    return LABEL_MAP.get(raw.strip().lower(), Label.QUESTION)


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled row with the verdict it received."""

    text: str
    truth: Label
    lang: str
    source: str
    verdict: Verdict

    @property
    def predicted(self) -> Label:
        """The verdict's primary label."""
        return self.verdict.primary()

    def badness(self) -> float:
        """How confidently wrong: the wrong label's score, or how far the true one fell short."""
        if self.predicted == self.truth:
            return 0.0
        if self.predicted != Label.OTHER:
            return self.verdict.score(self.predicted)
        return 1.0 - self.verdict.score(self.truth)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file that carry a non-empty text and a label."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line) if line.strip() else {}
            if str(row.get("text", "")).strip() and "label" in row:
                rows.append(row)
    return rows


def build_classifier(name: str, **options: Any) -> tuple[Classifier, dict[Label, float]]:
    """A classifier by name with the thresholds its model was tuned with."""
    from classifiers.heuristics import KeywordClassifier

    if name == "heuristics":
        return KeywordClassifier(), dict(DEFAULT_THRESHOLDS)
    from classifiers.ngram import NgramClassifier

    if name == "ngram":
        ngram = NgramClassifier()
        return ngram, ngram.thresholds
    from classifiers.heads import DEFAULT_LORA, TransformerClassifier

    if name in ("e5", "e5-lora"):
        e5 = TransformerClassifier(
            options.get("heads"),
            cache_dir=options.get("cache_dir"),
            folder=options.get("folder"),
            adapter=DEFAULT_LORA if name == "e5-lora" else None,
        )
        return e5, e5.thresholds
    if name.startswith("cascade"):
        # Exactly what the bot runs: rule checks, aligned models, corroborated spam.
        from classifiers.standard import MODEL_SETS, standard_cascade, trained_models

        model_set = name.removeprefix("cascade-") if name != "cascade" else "cascade"
        if model_set in MODEL_SETS:
            models = trained_models(MODEL_SETS[model_set])
            return standard_cascade(models), dict(DEFAULT_THRESHOLDS)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def score_rows(
    rows: Sequence[dict[str, Any]], classifier: Classifier, thresholds: dict[Label, float]
) -> list[Case]:
    """Classify rows in batches and pair each with its verdict."""
    cases: list[Case] = []
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        results = classify_safely(classifier, [Sample(str(r["text"])) for r in batch])
        for row, scores in zip(batch, results, strict=True):
            verdict = combine(scores, thresholds)
            cases.append(
                Case(
                    str(row["text"]),
                    map_label(str(row["label"])),
                    str(row.get("lang", "?")),
                    str(row.get("source", "?")),
                    verdict,
                )
            )
    return cases


def label_metrics(cases: Sequence[Case], label: Label) -> dict[str, float | int]:
    """Precision, recall and F1 of one label (multi-label: a text may get several)."""
    truth = [c.truth == label for c in cases]
    if label == Label.OTHER:
        pred = [c.predicted == Label.OTHER for c in cases]
    else:
        pred = [label in c.verdict.labels() for c in cases]
    tp = sum(t and p for t, p in zip(truth, pred, strict=True))
    precision = tp / max(sum(pred), 1)
    recall = tp / max(sum(truth), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {
        "n": len(cases),
        "support": sum(truth),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def report(cases: Sequence[Case]) -> dict[str, Any]:
    """Everything the command prints, as one JSON-ready object."""
    langs = sorted({c.lang for c in cases})
    return {
        "rows": len(cases),
        "labels": {lab.value: label_metrics(cases, lab) for lab in ALL_LABELS},
        "by_lang": {
            lang: {
                lab.value: label_metrics([c for c in cases if c.lang == lang], lab)
                for lab in ALL_LABELS
            }
            for lang in langs
        },
        "confusion": confusion(cases),
        "errors": sum(c.verdict.errors() != () for c in cases),
        "worst": [
            worst_item(c)
            for c in sorted(cases, key=Case.badness, reverse=True)[:WORST]
            if c.badness() > 0
        ],
    }


def confusion(cases: Iterable[Case]) -> dict[str, dict[str, int]]:
    """True primary label → predicted primary label → count."""
    counts = Counter((c.truth, c.predicted) for c in cases)
    return {t.value: {p.value: counts[(t, p)] for p in ALL_LABELS} for t in ALL_LABELS}


def worst_item(case: Case) -> dict[str, Any]:
    """One confidently wrong row, for the report."""
    return {
        "text": case.text[:200],
        "truth": case.truth.value,
        "predicted": case.predicted.value,
        "source": case.source,
        "scores": case.verdict.as_dict(),
        "reasons": list(case.verdict.reasons(case.predicted))[:4],
    }


def render(result: dict[str, Any], model: str) -> str:
    """The report as plain-text tables."""
    lines = [
        f"model {model}, {result['rows']} rows, {result['errors']} with classifier errors",
        "",
        f"{'label':<10} {'slice':<6} {'n':>6} {'support':>8} {'P':>6} {'R':>6} {'F1':>6}",
    ]
    slices = [("all", result["labels"]), *list(result["by_lang"].items())]
    for label in ALL_LABELS:
        for name, table in slices:
            m = table[label.value]
            lines.append(
                f"{label.value:<10} {name:<6} {m['n']:>6} {m['support']:>8} "
                f"{m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f}"
            )
    lines += [
        "",
        "confusion (rows: true, columns: predicted)",
        " " * 10 + "".join(f"{lab.value:>10}" for lab in ALL_LABELS),
    ]
    for truth, row in result["confusion"].items():
        lines.append(f"{truth:<10}" + "".join(f"{row[lab.value]:>10}" for lab in ALL_LABELS))
    lines += ["", f"worst {len(result['worst'])} errors"]
    lines += [
        f"- [{w['truth']}→{w['predicted']}] {w['scores']} {w['text'][:120]!r}"
        for w in result["worst"]
    ]
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="smmbot eval", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="JSON Lines with text and label")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--model", choices=MODELS, default="cascade")
    parser.add_argument("--heads", type=Path, default=None, help="e5 heads path stem")
    parser.add_argument("--cache-dir", type=Path, default=None, help="encoder cache")
    parser.add_argument("--folder", type=Path, default=None, help="a transformers encoder folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate one model on one labelled file; print a table or `--json`."""
    args = parse(argv)
    classifier, thresholds = build_classifier(
        args.model, heads=args.heads, cache_dir=args.cache_dir, folder=args.folder
    )
    result = report(score_rows(read_rows(args.file), classifier, thresholds))
    result["model"] = args.model
    out = json.dumps(result, ensure_ascii=False) if args.json else render(result, args.model)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
